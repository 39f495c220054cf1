/**
 * A commit that goes alone (every commit at concurrency 1) is one packet: START TRANSACTION,
 * each UPDATE followed by a check that stops the packet unless it matched its row, the INSERTs
 * and COMMIT. These tests check that it writes exactly what the two-packet form of a group
 * writes, that a commit whose UPDATE does not match writes nothing at all (no history, no
 * outbox row, no lock released, no child started) and the full path then reports why, and that
 * two stores racing one instance leave exactly one step per version.
 */
import type { CommitResult, InstanceRecord } from '@fsmkit/runtime';
import type { Connection, Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupCommitter, onePacket, type PreparedCommit } from '../src/group-commit.js';
import { createMysqlStore, createPool, type MysqlStore } from '../src/index.js';
import { MYSQL_URL, mysqlUnavailable, rawConnection, uniquePrefix } from './support/db.js';
import { storeWithRawConnection } from './support/fixture.js';
import { event, historyRecord, instanceRecord, nextRecord } from './support/records.js';

const unavailable = await mysqlUnavailable();
const M = 'order';
const QUEUED_CHILD = '{"kind":"queued"}';
const CHILDREN_WAIT = '{"kind":"children","machines":["order"]}';
const RACES = 30;

const code = (error: unknown) => (error as { code?: string }).code;

describe.skipIf(unavailable !== null)('MysqlStore: a commit alone is one packet', () => {
  const tables = storeWithRawConnection([M], { poolSize: 4, groupCommit: { lanes: 1 } });
  const { prefix } = tables;

  async function inserted(overrides: Partial<InstanceRecord> = {}): Promise<InstanceRecord> {
    const r = instanceRecord(M, overrides);
    await tables.store.insert(r, []);
    return r;
  }

  /** One step of `r` with a history row and an event, as a drive commits it. */
  function step(r: InstanceRecord, extra: { expectedVersion?: number; fence?: Array<{ key: string; token: number }>; releaseLocks?: boolean } = {}) {
    return tables.store.commit({
      record: nextRecord(r),
      expectedVersion: extra.expectedVersion ?? r.version,
      previous: r,
      history: [historyRecord(r, r.historySeq + 1)],
      events: [event(r, r.eventSeq + 1)],
      ...(extra.fence ? { fence: extra.fence } : {}),
      ...(extra.releaseLocks ? { releaseLocks: true } : {}),
    });
  }

  /** Everything a commit writes for `id`, without the columns that differ by id or by the server's clock. */
  async function written(id: string): Promise<unknown> {
    const [[instance]] = await tables.raw.query<RowDataPacket[]>(`SELECT * FROM \`${prefix}${M}\` WHERE id = ?`, [id]);
    const [history] = await tables.raw.query<RowDataPacket[]>(`SELECT * FROM \`${prefix}${M}_history\` WHERE instance_id = ? ORDER BY seq`, [id]);
    const [outbox] = await tables.raw.query<RowDataPacket[]>(`SELECT * FROM \`${prefix}outbox\` WHERE instance_id = ? ORDER BY sequence`, [id]);
    const strip = (row: RowDataPacket | undefined, ...keys: string[]) =>
      row === undefined ? undefined : Object.fromEntries(Object.entries(row).filter(([k]) => !keys.includes(k)));
    return {
      instance: strip(instance, 'id', 'user_id'),
      history: history.map((h) => strip(h, 'id', 'instance_id')),
      outbox: outbox.map((o) => strip(o, 'id', 'event_id', 'instance_id', 'user_id', 'payload', 'headers', 'message_key', 'key')),
    };
  }

  async function counts(id: string): Promise<{ version: number; history: number; events: number }> {
    const [rows] = await tables.raw.query<RowDataPacket[]>(
      `SELECT i.version,
         (SELECT COUNT(*) FROM \`${prefix}${M}_history\` h WHERE h.instance_id = i.id) AS history,
         (SELECT COUNT(*) FROM \`${prefix}outbox\` o WHERE o.instance_id = i.id) AS events
       FROM \`${prefix}${M}\` i WHERE i.id = ?`,
      [id],
    );
    return { version: rows[0]!['version'] as number, history: Number(rows[0]!['history']), events: Number(rows[0]!['events']) };
  }

  it('writes exactly what the same commit writes in a group of two packets', async () => {
    const alone = await inserted({ userId: 'same' });
    await step(alone);
    // With one lane, three at once share a transaction (two or all three of them): two packets.
    const three = [await inserted({ userId: 'same' }), await inserted({ userId: 'same' }), await inserted({ userId: 'same' })];
    const before = tables.store.groupCommits.transactions;
    await Promise.all(three.map((r) => step(r)));
    expect(tables.store.groupCommits.transactions - before).toBeLessThan(3);
    expect(await counts(alone.id)).toEqual({ version: 2, history: 1, events: 1 });
    for (const r of three) expect(await written(r.id)).toEqual(await written(alone.id));
  });

  it('a stale version writes nothing and is FSM_STALE_VERSION', async () => {
    const r = await inserted();
    await expect(step(r, { expectedVersion: 7 })).rejects.toMatchObject({ code: 'FSM_STALE_VERSION' });
    expect(await counts(r.id)).toEqual({ version: 1, history: 0, events: 0 });
  });

  it('a stale version under live fences neither writes nor releases a lock', async () => {
    const r = await inserted({ userId: 'fenced-stale' });
    const locker = tables.store.locker();
    const lease = (await locker.acquire(`user:${r.userId}`, 'test', { instanceId: r.id, machine: M, leaseMs: 30_000, mode: 'fail', timeoutMs: 0 }))!;
    // The fence UPDATE matches (and would end the lease) before the instance UPDATE fails.
    await expect(step(r, { expectedVersion: 9, fence: [{ key: lease.key, token: lease.token }], releaseLocks: true })).rejects.toMatchObject({
      code: 'FSM_STALE_VERSION',
    });
    const [held] = await tables.raw.query<RowDataPacket[]>(`SELECT owner, expires_at > UTC_TIMESTAMP(3) AS live FROM \`${prefix}local_lock\` WHERE lock_key = ?`, [lease.key]);
    expect(held[0]).toMatchObject({ owner: 'test', live: 1 });
    expect(await counts(r.id)).toEqual({ version: 1, history: 0, events: 0 });
    // The same commit at the right version lands and ends the lease.
    const result = await step(r, { fence: [{ key: lease.key, token: lease.token }], releaseLocks: true });
    expect(result.locksReleased).toBe(true);
    expect(await counts(r.id)).toEqual({ version: 2, history: 1, events: 1 });
  });

  it('a lost lock writes nothing and is FSM_LOCK_LOST', async () => {
    const r = await inserted({ userId: 'fenced-lost' });
    const locker = tables.store.locker();
    const lease = (await locker.acquire(`user:${r.userId}`, 'test', { instanceId: r.id, machine: M, leaseMs: 30_000, mode: 'fail', timeoutMs: 0 }))!;
    await locker.release(lease);
    const other = (await locker.acquire(`user:${r.userId}`, 'other', { instanceId: r.id, machine: M, leaseMs: 30_000, mode: 'fail', timeoutMs: 0 }))!;
    await expect(step(r, { fence: [{ key: lease.key, token: lease.token }] })).rejects.toMatchObject({ code: 'FSM_LOCK_LOST' });
    expect(await counts(r.id)).toEqual({ version: 1, history: 0, events: 0 });
    await locker.release(other);
  });

  it('a pause asked for meanwhile writes nothing in the packet; the full path keeps the flag and writes the step once', async () => {
    const r = await inserted();
    await tables.raw.query(`UPDATE \`${prefix}${M}\` SET pause_requested = 1, pause_reason = 'ops' WHERE id = ?`, [r.id]);
    const result = await step(r);
    expect(result).toMatchObject({ pauseRequested: true, pauseReason: 'ops' });
    expect(await counts(r.id)).toEqual({ version: 2, history: 1, events: 1 });
  });

  describe("a child's end", () => {
    /** A parent waiting for its children, a running child and its queued sibling. */
    async function family() {
      const parent = await inserted({ status: 'waiting', waitingFor: CHILDREN_WAIT, nextRunAt: null });
      const child = await inserted({ status: 'running', parentMachine: M, parentId: parent.id });
      const sibling = await inserted({ status: 'waiting', waitingFor: QUEUED_CHILD, parentMachine: M, parentId: parent.id });
      return { parent, child, sibling };
    }

    function end(child: InstanceRecord, next: string, expectedVersion = child.version): Promise<CommitResult> {
      return tables.store.commit({
        record: nextRecord(child, { status: 'done', currentState: 'done' }),
        expectedVersion,
        previous: child,
        history: [historyRecord(child, 1)],
        events: [event(child, 1)],
        childEnded: { parentMachine: M, parentId: child.parentId!, next, wake: false, lease: { owner: 'writer', leaseMs: 30_000 } },
      });
    }

    async function sibling(id: string) {
      const [rows] = await tables.raw.query<RowDataPacket[]>(`SELECT status, waiting_for, lease_owner, version FROM \`${prefix}${M}\` WHERE id = ?`, [id]);
      return rows[0];
    }

    it('starts its sibling leased to the writer and returns it as stored', async () => {
      const f = await family();
      const result = await end(f.child, f.sibling.id);
      expect(result.started).toMatchObject({ id: f.sibling.id, status: 'running', leaseOwner: 'writer', waitingFor: null, version: 2 });
      expect(await sibling(f.sibling.id)).toMatchObject({ status: 'running', waiting_for: null, lease_owner: 'writer', version: 2 });
    });

    it('at a stale version starts no sibling and writes nothing', async () => {
      const f = await family();
      await expect(end(f.child, f.sibling.id, 5)).rejects.toMatchObject({ code: 'FSM_STALE_VERSION' });
      expect(await sibling(f.sibling.id)).toMatchObject({ status: 'waiting', waiting_for: QUEUED_CHILD, lease_owner: null, version: 1 });
      expect(await counts(f.child.id)).toEqual({ version: 1, history: 0, events: 0 });
    });
  });

  it('two stores racing one instance, again and again: one step per version, each written once', async () => {
    const rival = createMysqlStore({ tablePrefix: prefix, poolSize: 2 });
    try {
      let r = await inserted();
      for (let round = 0; round < RACES; round++) {
        const next = nextRecord(r);
        const commit = (s: MysqlStore) =>
          s.commit({ record: next, expectedVersion: r.version, previous: r, history: [historyRecord(r, r.historySeq + 1)], events: [event(r, r.eventSeq + 1)] });
        const results = await Promise.allSettled([commit(tables.store), commit(rival)]);
        const won = results.filter((x) => x.status === 'fulfilled');
        expect(won).toHaveLength(1);
        // The loser's packet stopped at its UPDATE (before its history row could collide): the full path says why.
        const lost = results.find((x) => x.status === 'rejected') as PromiseRejectedResult;
        expect(code(lost.reason)).toBe('FSM_STALE_VERSION');
        expect(await counts(r.id)).toEqual({ version: next.version, history: round + 1, events: round + 1 });
        r = next;
      }
    } finally {
      await rival.close();
    }
  });
});

describe.skipIf(unavailable !== null)('GroupCommitter: round trips of a commit alone', () => {
  const table = `${uniquePrefix()}alone`;
  let pool: Pool;
  let raw: Connection;
  let roundTrips = 0;

  /** The real pool, with each query on a connection it hands out counted. */
  function counted(real: Pool): Pool {
    return new Proxy(real, {
      get(target, name, receiver) {
        if (name !== 'getConnection') return Reflect.get(target, name, receiver) as unknown;
        return async () => {
          const conn = await target.getConnection();
          return new Proxy(conn, {
            get(c, n, r) {
              const value = Reflect.get(c, n, r) as unknown;
              if (n !== 'query' || typeof value !== 'function') return typeof value === 'function' ? value.bind(c) : value;
              return (...args: unknown[]) => {
                roundTrips++;
                return (value as (...a: unknown[]) => unknown).apply(c, args);
              };
            },
          }) as PoolConnection;
        };
      },
    });
  }

  function committer(limit: number) {
    return new GroupCommitter({
      pool: counted(pool),
      timeoutMs: 10_000,
      packetLimit: () => Promise.resolve(limit),
      abandon: async (conn) => {
        await conn.query('ROLLBACK');
        conn.release();
      },
      kill: async (threadId) => void (await raw.query(`KILL CONNECTION ${threadId}`)),
    });
  }

  function prepared(version: number, note: string): PreparedCommit {
    const tail = `INSERT INTO \`${table}\` (id, v, note) VALUES (2, ${version + 1}, '${note}')`;
    const updates = [`UPDATE \`${table}\` SET v = v + 1 WHERE id = 1 AND v = ${version}`, `UPDATE \`${table}\` SET note = note WHERE id = 1`];
    return {
      head: updates.join(';\n'),
      statements: updates.length,
      updates,
      tail,
      tailStatements: 1,
      bytes: tail.length + 200,
      asWritten: { pauseRequested: false, pauseReason: null },
    };
  }

  async function rows() {
    const [r] = await raw.query<RowDataPacket[]>(`SELECT id, v, note FROM \`${table}\` ORDER BY id`);
    return r.map((x) => ({ ...x }));
  }

  beforeAll(async () => {
    pool = createPool({ url: MYSQL_URL, poolSize: 2 });
    raw = await rawConnection();
    await raw.query(`CREATE TABLE \`${table}\` (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(20) NOT NULL)`);
  });
  afterAll(async () => {
    await raw?.query(`DROP TABLE IF EXISTS \`${table}\``);
    await raw?.end();
    await pool?.end();
  });

  it('is one round trip when it matches, and two (the rollback) when it does not', async () => {
    await raw.query(`DELETE FROM \`${table}\``);
    await raw.query(`INSERT INTO \`${table}\` VALUES (1, 1, 'a')`);
    const gc = committer(1 << 20);
    roundTrips = 0;
    expect(await gc.submit(prepared(5, 'stale'))).toBeNull();
    expect(roundTrips).toBe(2);
    expect(await rows()).toEqual([{ id: 1, v: 1, note: 'a' }]);
    roundTrips = 0;
    expect(await gc.submit(prepared(1, 'fresh'))).toEqual({ pauseRequested: false, pauseReason: null });
    expect(roundTrips).toBe(1);
    expect(await rows()).toEqual([
      { id: 1, v: 2, note: 'a' },
      { id: 2, v: 2, note: 'fresh' },
    ]);
  });

  it('stops at an UPDATE that matched no row whatever the sql_mode', async () => {
    for (const mode of ['', 'ANSI', 'TRADITIONAL', 'NO_BACKSLASH_ESCAPES,NO_UNSIGNED_SUBTRACTION']) {
      await raw.query(`DELETE FROM \`${table}\``);
      await raw.query(`INSERT INTO \`${table}\` VALUES (1, 1, 'a')`);
      // One connection, its session in `mode`: the committer's packets run in it.
      const single = createPool({ url: MYSQL_URL, poolSize: 1 });
      try {
        const conn = await single.getConnection();
        await conn.query(`SET SESSION sql_mode = '${mode}'`);
        conn.release();
        const gc = new GroupCommitter({
          pool: single,
          timeoutMs: 10_000,
          packetLimit: () => Promise.resolve(1 << 20),
          abandon: async (c) => {
            await c.query('ROLLBACK');
            c.release();
          },
          kill: async (threadId) => void (await raw.query(`KILL CONNECTION ${threadId}`)),
        });
        expect(await gc.submit(prepared(5, 'stale'))).toBeNull();
        expect(await rows()).toEqual([{ id: 1, v: 1, note: 'a' }]);
        expect(await gc.submit(prepared(1, 'fresh'))).not.toBeNull();
        expect(await rows()).toEqual([
          { id: 1, v: 2, note: 'a' },
          { id: 2, v: 2, note: 'fresh' },
        ]);
        const [[session]] = await single.query<RowDataPacket[]>('SELECT @@SESSION.sql_mode AS mode');
        // Combined modes (ANSI, TRADITIONAL) read back as the modes they stand for.
        expect(String(session!['mode']).split(',')).toEqual(expect.arrayContaining(mode.split(',')));
      } finally {
        await single.end();
      }
    }
  });

  it('goes in two packets when one would not fit the packet limit', async () => {
    await raw.query(`DELETE FROM \`${table}\``);
    await raw.query(`INSERT INTO \`${table}\` VALUES (1, 1, 'a')`);
    const commit = prepared(1, 'split');
    expect(onePacket(commit, 100)).toBeNull();
    roundTrips = 0;
    expect(await committer(100).submit(commit)).not.toBeNull();
    expect(roundTrips).toBe(2);
    expect(await rows()).toEqual([
      { id: 1, v: 2, note: 'a' },
      { id: 2, v: 2, note: 'split' },
    ]);
  });
});
