import { randomUUID } from 'node:crypto';
import { MysqlOutbox } from '@fsmkit/mysql';
import mysql, { type Pool, type PoolConnection, type RowDataPacket } from 'mysql2/promise';
import { afterEach, describe, expect, it, onTestFinished as onTeardown } from 'vitest';
import { event } from './support/events.js';
import { MYSQL_URL, mysqlUnavailable, testOutbox, type TestOutbox } from './support/mysql.js';

const unavailable = await mysqlUnavailable();

/** The same pool, but `afterLockingRead` runs once a claim's locking read has answered. */
function withHook(pool: Pool, afterLockingRead: () => Promise<void>): Pool {
  return new Proxy(pool, {
    get(target, key, receiver) {
      if (key !== 'getConnection') {
        const value: unknown = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return async () => {
        const conn = await target.getConnection();
        const query = conn.query.bind(conn) as (...args: unknown[]) => Promise<unknown>;
        return new Proxy(conn, {
          get(c, k) {
            if (k !== 'query') {
              const value: unknown = Reflect.get(c, k, c);
              return typeof value === 'function' ? value.bind(c) : value;
            }
            return async (...args: unknown[]) => {
              const result = await query(...args);
              if (String(args[0]).includes('SKIP LOCKED')) await afterLockingRead();
              return result;
            };
          },
        });
      };
    },
  });
}

describe.skipIf(unavailable !== null)('MysqlOutbox.claim against rows committed while it runs', () => {
  let db: TestOutbox | undefined;
  afterEach(async () => {
    await db?.drop();
    db = undefined;
  });

  it.each([
    ['a pool that sends several statements per query', false],
    ['a pool of one statement per query', true],
  ])('an earlier row of the instance committed during the claim keeps the later one out (%s)', async (_, single) => {
    db = await testOutbox();
    const base = single ? mysql.createPool({ uri: MYSQL_URL, connectionLimit: 2, timezone: 'Z' }) : db.pool;
    onTeardown(async () => (single ? base.end() : undefined));
    const prefix = db.table.slice(0, -'outbox'.length);
    const a = randomUUID();
    // a:1 is written in a transaction still open; a:2 is committed (the race, made to last).
    const writer: PoolConnection = await db.pool.getConnection();
    onTeardown(() => writer.release());
    await writer.beginTransaction();
    await db.outbox.enqueue([event(a, 1)], writer);
    await db.outbox.enqueue([event(a, 2)]);
    let committed = false;
    const outbox = new MysqlOutbox(
      withHook(base, async () => {
        if (committed) return;
        committed = true;
        await writer.commit();
      }),
      { tablePrefix: prefix },
    );
    // The locking read skips a:1 (locked by its writer) and sees a:2 alone; a:1 commits before the claim does.
    expect(await outbox.claim('r1', 10, 60_000)).toEqual([]);
    expect(committed).toBe(true);
    const next = await outbox.claim('r2', 10, 60_000);
    expect(next.map((r) => r.sequence)).toEqual([1, 2]);
    expect((await db.rows()).map((r) => r.attempts)).toEqual([1, 1]);
  });
});

describe.skipIf(unavailable !== null)('MysqlOutbox.claim with sent rows kept', () => {
  let db: TestOutbox | undefined;
  afterEach(async () => {
    await db?.drop();
    db = undefined;
  });

  it('walks only unsent rows: the sent history of its instances, however long, is not read', async () => {
    db = await testOutbox();
    const prefix = db.table.slice(0, -'outbox'.length);
    const instances = Array.from({ length: 10 }, () => randomUUID());
    // 300 sent events per instance, kept (retention), then one unsent event each.
    for (let seq = 1; seq <= 300; seq += 50) {
      await db.outbox.enqueue(instances.flatMap((id) => Array.from({ length: 50 }, (_, i) => event(id, seq + i))));
    }
    await db.pool.query(`UPDATE \`${db.table}\` SET sent_at = UTC_TIMESTAMP(3)`);
    await db.outbox.enqueue(instances.map((id) => event(id, 301)));
    // One connection: the session's handler counters are the claim's own.
    const one = mysql.createPool({ uri: MYSQL_URL, connectionLimit: 1, timezone: 'Z', multipleStatements: true });
    onTeardown(() => one.end());
    const outbox = new MysqlOutbox(one, { tablePrefix: prefix });
    await outbox.ensureFailedTable();
    const readsSoFar = async () => {
      const [rows] = await one.query<RowDataPacket[]>("SHOW SESSION STATUS WHERE Variable_name IN ('Handler_read_next', 'Handler_read_prev', 'Handler_read_rnd_next')");
      return rows.reduce((sum, r) => sum + Number(r['Value']), 0);
    };
    const before = await readsSoFar();
    const claimed = await outbox.claim('r1', 100, 60_000);
    const read = (await readsSoFar()) - before;
    expect(claimed.map((r) => r.sequence)).toEqual(instances.map(() => 301));
    // Walking the instances' history would read 3,000 index entries; the unsent rows are 10.
    expect(read).toBeLessThan(300);
  });
});
