/**
 * Locks in the group committer: takeovers of a store's locker that arrive together share one
 * transaction (with each other and with commits), and fenced commits of a group end or check
 * their leases in one UPDATE per lock table. A held key refuses only its own acquire, a refused
 * commit fails only its own instance, and a lost lease still writes nothing.
 */
import type { InstanceRecord, Lease } from '@fsmkit/runtime';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlStore, type MysqlLocker, type MysqlStore } from '../src/index.js';
import { dropTablesWithPrefix, mysqlUnavailable, rawConnection, uniquePrefix } from './support/db.js';
import { historyRecord, instanceRecord, nextRecord } from './support/records.js';

const unavailable = await mysqlUnavailable();
const M = 'order';
const COUNT = 16;

describe.skipIf(unavailable !== null)('MysqlStore group commit: locks', () => {
  const prefix = uniquePrefix();
  const canary = `${prefix}c`;
  const drop = `DROP TABLE ${canary}`;
  const hostile = [`'; ${drop}; -- `, `\\'; ${drop}; -- `, `\\\\'; ${drop}; #`, `x\0'\x1a"; ${drop}; -- `, 'é😀\\n'];
  let raw: Connection;
  /** One lane, one connection: its session counters see every statement of the store and its locker. */
  let store: MysqlStore;
  let locker: MysqlLocker;
  let run = 0;

  beforeAll(async () => {
    raw = await rawConnection();
    await raw.query(`CREATE TABLE ${canary} (n INT NOT NULL)`);
    await raw.query(`INSERT INTO ${canary} VALUES (1)`);
    const [rows] = await raw.query<RowDataPacket[]>('SELECT @@GLOBAL.sql_mode AS m');
    // New connections take the global setting: the pool opens its connection before it is restored.
    await raw.query("SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',NO_BACKSLASH_ESCAPES')");
    try {
      store = createMysqlStore({ tablePrefix: prefix, poolSize: 1, groupCommit: { lanes: 1 } });
      (await store.pool.getConnection()).release();
    } finally {
      await raw.query('SET GLOBAL sql_mode = ?', [rows[0]!['m'] as string]);
    }
    await store.ensureSchema([{ name: M }]);
    locker = store.locker();
  });
  afterAll(async () => {
    await store?.close();
    await raw?.query(`DROP TABLE IF EXISTS ${canary}`);
    await raw?.end();
    await dropTablesWithPrefix(prefix);
  });

  const opts = (instanceId: string, mode: 'fail' | 'skip' = 'fail', leaseMs = 30_000) => ({ instanceId, machine: M, leaseMs, mode, timeoutMs: 0 });

  /** Keys with hostile text whose rows exist (a takeover is an UPDATE of the row), none held. */
  async function keys(count: number): Promise<string[]> {
    run++;
    const out = Array.from({ length: count }, (_, i) => `user:${hostile[i % hostile.length]}${run}-${i}`);
    for (const key of out) await locker.release((await locker.acquire(key, 'setup', opts('setup')))!);
    return out;
  }

  async function inserted(count: number): Promise<InstanceRecord[]> {
    const records = Array.from({ length: count }, (_, i) => instanceRecord(M, { userId: `g${run}-${i}` }));
    for (const r of records) await store.insert(r, []);
    return records;
  }

  async function statements(kind: 'update'): Promise<number> {
    const [rows] = await store.pool.query<RowDataPacket[]>(`SHOW SESSION STATUS LIKE 'Com_${kind}'`);
    return Number(rows[0]!['Value']);
  }

  async function versions(ids: string[]): Promise<Map<string, number>> {
    const [rows] = await raw.query<RowDataPacket[]>(`SELECT id, version FROM \`${prefix}${M}\` WHERE id IN (?)`, [ids]);
    return new Map(rows.map((r) => [r['id'] as string, Number(r['version'])]));
  }

  /** The lease the row of `lease.key` holds now is this one, live. */
  async function expectHeld(lease: Lease, owner: string): Promise<void> {
    const holder = await locker.holder(lease.key);
    expect(holder).toMatchObject({ key: lease.key, token: lease.token, owner, live: true });
  }

  const canaryStands = async () => {
    const [rows] = await raw.query<RowDataPacket[]>(`SELECT n FROM ${canary}`);
    expect(rows.map((r) => r['n'])).toEqual([1]);
  };

  it('acquires racing in one group each get their own lease, in fewer transactions, hostile keys included', async () => {
    const all = await keys(COUNT);
    const before = { ...store.groupCommits };
    const leases = await Promise.all(all.map((key, i) => locker.acquire(key, 'racer', opts(`i-${i}`))));
    expect(store.groupCommits.commits - before.commits).toBe(COUNT);
    expect(store.groupCommits.transactions - before.transactions).toBeLessThan(COUNT);
    expect(new Set(leases.map((l) => l!.token)).size).toBe(COUNT);
    for (const lease of leases) await expectHeld(lease!, 'racer');
    // Held: a second round refuses every one, and changes nothing.
    expect(await Promise.all(all.map((key) => locker.acquire(key, 'late', opts('late', 'skip'))))).toEqual(all.map(() => null));
    for (const lease of leases) await expectHeld(lease!, 'racer');
    await canaryStands();
  });

  it('a held key refuses only its own acquire; a stale commit in the group fails alone; the acquires and commits beside them land', async () => {
    const all = await keys(COUNT);
    const records = await inserted(COUNT);
    const held = new Map([3, 7].map((i) => [i, null as Lease | null]));
    for (const i of held.keys()) held.set(i, await locker.acquire(all[i]!, 'holder', opts('h')));
    const stale = records[5]!;
    const before = { ...store.groupCommits };
    const [acquired, committed] = await Promise.all([
      Promise.all(all.map((key, i) => locker.acquire(key, 'racer', opts(`i-${i}`, 'skip')))),
      Promise.allSettled(
        records.map((r) => store.commit({ record: nextRecord(r), previous: r, expectedVersion: r === stale ? 9 : 1, history: [historyRecord(r, 1)], events: [] })),
      ),
    ]);
    expect(store.groupCommits.largest).toBeGreaterThan(1);
    expect(store.groupCommits.transactions - before.transactions).toBeLessThan(2 * COUNT);
    for (const [i, lease] of acquired.entries()) {
      if (held.has(i)) {
        expect(lease).toBeNull();
        await expectHeld(held.get(i)!, 'holder');
      } else await expectHeld(lease!, 'racer');
    }
    const failed = committed.flatMap((res, i) => (res.status === 'rejected' ? [[records[i]!.id, (res.reason as { code?: string }).code]] : []));
    expect(failed).toEqual([[stale.id, 'FSM_STALE_VERSION']]);
    const stored = await versions(records.map((r) => r.id));
    for (const r of records) expect(stored.get(r.id)).toBe(r === stale ? 1 : 2);
  });

  it("fenced commits of a group end their leases in one UPDATE per lock table; a lease taken over is refused alone and the taker's stands", async () => {
    const records = await inserted(COUNT);
    const step = (r: InstanceRecord, lease: Lease, version = 1) =>
      store.commit({
        record: nextRecord(r, { version: version + 1 }),
        previous: r,
        expectedVersion: version,
        history: [historyRecord(r, version)],
        events: [],
        fence: [{ key: lease.key, token: lease.token }],
        releaseLocks: true,
      });
    // Every UPDATE of a group matches: one fence UPDATE and one instance UPDATE per transaction.
    let leases = await Promise.all(records.map((r) => locker.acquire(`user:${r.userId}`, 'w', opts(r.id))));
    const [updates, before] = [await statements('update'), { ...store.groupCommits }];
    const first = await Promise.all(records.map((r, i) => step(r, leases[i]!)));
    expect(first.every((c) => c.locksReleased)).toBe(true);
    const transactions = store.groupCommits.transactions - before.transactions;
    expect(transactions).toBeLessThan(COUNT);
    expect((await statements('update')) - updates).toBeLessThanOrEqual(2 * transactions);
    for (const r of records) expect((await locker.holder(`user:${r.userId}`))?.live).toBe(false);

    // Once more, one lease having run out and been taken by another holder.
    const victim = 6;
    leases = await Promise.all(records.map((r, i) => locker.acquire(`user:${r.userId}`, 'w', opts(r.id, 'fail', i === victim ? 1 : 30_000))));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const taker = (await locker.acquire(leases[victim]!.key, 'taker', opts('t')))!;
    const results = await Promise.allSettled(records.map((r, i) => step({ ...r, version: 2 }, leases[i]!, 2)));
    const failed = results.flatMap((res, i) => (res.status === 'rejected' ? [[i, (res.reason as { code?: string }).code]] : []));
    expect(failed).toEqual([[victim, 'FSM_LOCK_LOST']]);
    await expectHeld(taker, 'taker');
    for (const [i, r] of records.entries()) if (i !== victim) expect((await locker.holder(`user:${r.userId}`))?.live).toBe(false);
    const stored = await versions(records.map((r) => r.id));
    records.forEach((r, i) => expect(stored.get(r.id)).toBe(i === victim ? 2 : 3));
  });

  it('a release in the same group as a waiter\'s refused takeover wakes that waiter, which would otherwise sleep until its next poll', async () => {
    // Polls once in ten minutes and watches nothing: only a release in this process wakes a waiter in time.
    const slow = createMysqlStore({ tablePrefix: prefix, poolSize: 4, groupCommit: { lanes: 1 } });
    const blocker = await rawConnection();
    try {
      const waiting = slow.locker({ pollMs: 600_000, maxPollMs: 600_000, waitSessions: 0 });
      const [r, busy] = await inserted(2);
      const held = (await waiting.acquire(`user:${r!.userId}`, 'holder', opts(r!.id)))!;
      // The one lane is held up by a commit waiting for a row lock, so that what comes next queues into one group.
      await blocker.query('START TRANSACTION');
      await blocker.query(`SELECT id FROM \`${prefix}${M}\` WHERE id = ? FOR UPDATE`, [busy!.id]);
      const blocked = slow.commit({ record: nextRecord(busy!), previous: busy!, expectedVersion: 1, history: [historyRecord(busy!, 1)], events: [] });
      await new Promise((resolve) => setTimeout(resolve, 100));
      // The waiter's takeover first (refused: the lease is live), then the commit ending that lease.
      const waiter = waiting.acquire(held.key, 'waiter', { ...opts('w'), mode: 'wait', timeoutMs: 600_000 });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const ending = slow.commit({ record: nextRecord(r!), previous: r!, expectedVersion: 1, history: [], events: [], fence: [{ key: held.key, token: held.token }], releaseLocks: true });
      await new Promise((resolve) => setTimeout(resolve, 50));
      await blocker.query('COMMIT');
      await blocked;
      expect((await ending).locksReleased).toBe(true);
      const lease = (await waiter)!;
      expect(lease.token).toBeGreaterThan(held.token);
      expect(await slow.locker().holder(held.key)).toMatchObject({ owner: 'waiter', token: lease.token, live: true });
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      await blocker.end();
      await slow.close();
    }
  }, 30_000);
});
