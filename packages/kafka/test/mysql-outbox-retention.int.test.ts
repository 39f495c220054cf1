import { randomBytes, randomUUID } from 'node:crypto';
import { createPool, MysqlOutbox, sharedDdl } from '@fsmkit/mysql';
import type { RowDataPacket } from 'mysql2/promise';
import { afterEach, describe, expect, it } from 'vitest';
import { event, range } from './support/events.js';
import { MYSQL_URL, mysqlUnavailable, testOutbox, type TestOutbox } from './support/mysql.js';

const unavailable = await mysqlUnavailable();
const failure = { name: 'FsmError', message: 'refused', code: 'FSM_EVENTS' };
const options = { maxFailures: 2, backoff: { initialMs: 60_000, maxMs: 60_000 } };

describe.skipIf(unavailable !== null)('MysqlOutbox: retention and refused rows', () => {
  let db: TestOutbox | undefined;
  afterEach(async () => {
    await db?.drop();
    db = undefined;
  });

  it('purges only rows sent longer ago than the retention, a batch at a time', async () => {
    db = await testOutbox();
    const a = randomUUID();
    await db.outbox.enqueue(range(10).map((seq) => event(a, seq)));
    const claim = await db.outbox.claim('r1', 8, 60_000);
    await db.outbox.markSent('r1', claim.map((r) => r.id));
    // Six of the eight sent rows were sent two hours ago; two just now; two are unsent.
    await db.pool.query(`UPDATE \`${db.table}\` SET sent_at = sent_at - INTERVAL 2 HOUR WHERE \`sequence\` <= 6`);
    expect(await db.outbox.purgeSent(3_600_000, 4)).toBe(4);
    expect(await db.outbox.purgeSent(3_600_000, 4)).toBe(2);
    expect(await db.outbox.purgeSent(3_600_000, 4)).toBe(0);
    const left = await db.rows();
    expect(left.map((r) => [r.sequence, r.sentAt !== null])).toEqual([
      [7, true],
      [8, true],
      [9, false],
      [10, false],
    ]);
    expect(await db.outbox.purgeSent(0, 100)).toBe(2);
    expect((await db.rows()).map((r) => r.sequence)).toEqual([9, 10]);
  });

  it('the purge statements lock only the rows they delete: inserts and claims run meanwhile', async () => {
    db = await testOutbox();
    const old = range(300).map(() => randomUUID());
    await db.outbox.enqueue(old.map((id) => event(id, 1)));
    const claim = await db.outbox.claim('r1', 300, 60_000);
    await db.outbox.markSent('r1', claim.map((r) => r.id));
    await db.pool.query(`UPDATE \`${db.table}\` SET sent_at = sent_at - INTERVAL 2 HOUR`);
    // A purge transaction kept open: its row locks must not reach the rows being written.
    const conn = await db.pool.getConnection();
    try {
      await conn.query('SET SESSION innodb_lock_wait_timeout = 2');
      await conn.beginTransaction();
      const [ids] = await conn.query<RowDataPacket[]>(
        `SELECT id FROM \`${db.table}\` WHERE sent_at IS NOT NULL AND sent_at < UTC_TIMESTAMP(3) - INTERVAL 1 HOUR ORDER BY sent_at LIMIT 100`,
      );
      await conn.query(`DELETE FROM \`${db.table}\` WHERE id IN (?) AND sent_at IS NOT NULL`, [ids.map((r) => String(r['id']))]);
      const fresh = randomUUID();
      const started = Date.now();
      await db.outbox.enqueue([event(fresh, 1), event(fresh, 2)]);
      const claimed = await db.outbox.claim('r2', 10, 60_000);
      expect(claimed.map((r) => r.instanceId)).toEqual([fresh, fresh]);
      expect(Date.now() - started).toBeLessThan(1500);
      await conn.rollback();
    } finally {
      conn.release();
    }
  });

  it('works on an outbox table made by the previous release: the refused-rows table is added on first use', async () => {
    const prefix = `t${randomBytes(4).toString('hex')}_`;
    const pool = createPool({ url: MYSQL_URL, poolSize: 4 });
    try {
      const ddl = sharedDdl({ tablePrefix: prefix }).find((s) => s.includes(`\`${prefix}outbox\``))!;
      await pool.query(ddl);
      const outbox = new MysqlOutbox(pool, { tablePrefix: prefix });
      const a = randomUUID();
      await outbox.enqueue([event(a, 1), event(a, 2)]);
      const [first] = await outbox.claim('r1', 1, 60_000);
      expect(await outbox.reject('r1', first!.id, failure, { ...options, maxFailures: 1 })).toBe('dead');
      expect(await outbox.deadLetters()).toMatchObject([{ instanceId: a, sequence: 1, failures: 1, waiting: 1, error: failure }]);
      expect(await outbox.claim('r1', 10, 60_000)).toEqual([]);
      expect(await outbox.retryDeadLetters({ instanceIds: [a] })).toBe(1);
      expect((await outbox.claim('r1', 10, 60_000)).map((r) => r.sequence)).toEqual([1, 2]);
    } finally {
      await pool.query(`DROP TABLE IF EXISTS \`${prefix}outbox\`, \`${prefix}outbox_failed\``);
      await pool.end();
    }
  });

  it('counts a refusal once per claim, whoever races for the row, and only from its current owner', async () => {
    db = await testOutbox();
    for (let round = 0; round < 5; round++) {
      const a = randomUUID();
      await db.outbox.enqueue([event(a, 1), event(a, 2)]);
      const outboxes = [db.outbox, new MysqlOutbox(db.pool, { tablePrefix: db.table.replace(/outbox$/, '') })];
      // Two relays claim at once; the one that got the rows refuses the head.
      const claims = await Promise.all(outboxes.map((o, i) => o.claim(`r${i}`, 10, 60_000)));
      const winner = claims.findIndex((c) => c.some((r) => r.instanceId === a));
      expect(claims.filter((c) => c.some((r) => r.instanceId === a))).toHaveLength(1);
      const head = claims[winner]!.find((r) => r.instanceId === a && r.sequence === 1)!;
      const outcomes = await Promise.all([
        outboxes[winner]!.reject(`r${winner}`, head.id, failure, options),
        outboxes[1 - winner]!.reject(`r${1 - winner}`, head.id, failure, options),
      ]);
      expect(outcomes).toEqual(['retry', 'retry']);
      const rest = claims[winner]!.filter((r) => r.instanceId === a && r !== head).map((r) => r.id);
      await outboxes[winner]!.markFailed(`r${winner}`, rest, failure);
      const [held] = await db.pool.query<RowDataPacket[]>(`SELECT failures FROM \`${db.outbox.failedTable}\` WHERE instance_id = ?`, [a]);
      expect(held.map((r) => r['failures'])).toEqual([1]);
      // Held for a minute: neither can claim any row of the instance, the later one included.
      const again = await Promise.all(outboxes.map((o, i) => o.claim(`r${i}`, 10, 60_000)));
      expect(again.flat().filter((r) => r.instanceId === a)).toEqual([]);
      await db.pool.query(`UPDATE \`${db.outbox.failedTable}\` SET retry_at = UTC_TIMESTAMP(3) WHERE instance_id = ?`, [a]);
      const [retry] = await db.outbox.claim('r9', 10, 60_000).then((c) => [c.filter((r) => r.instanceId === a)]);
      expect(retry!.map((r) => r.sequence)).toEqual([1, 2]);
      expect(await db.outbox.reject('r9', retry![0]!.id, failure, options)).toBe('dead');
      await db.outbox.markFailed('r9', [retry![1]!.id], failure);
      expect((await db.outbox.deadLetters()).filter((d) => d.instanceId === a)).toMatchObject([{ failures: 2, waiting: 1 }]);
    }
  });
});
