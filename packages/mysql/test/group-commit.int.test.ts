/**
 * Group commit: commits that arrive while the store's lanes are busy share one transaction.
 * Each test makes many commits at once on one store and checks that they were grouped, that
 * every one that should land landed whole, and that one bad commit fails only its own instance.
 */
import type { InstanceRecord } from '@fsmkit/runtime';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlStore, type MysqlStore } from '../src/index.js';
import { dropTablesWithPrefix, mysqlUnavailable, rawConnection, uniquePrefix } from './support/db.js';
import { event, historyRecord, instanceRecord, nextRecord } from './support/records.js';

const unavailable = await mysqlUnavailable();
const M = 'order';
const COUNT = 40;

describe.skipIf(unavailable !== null)('MysqlStore group commit', () => {
  const prefix = uniquePrefix();
  let store: MysqlStore;
  let raw: Connection;

  beforeAll(async () => {
    store = createMysqlStore({ tablePrefix: prefix, poolSize: 8, groupCommit: { lanes: 1 } });
    await store.ensureSchema([{ name: M }]);
    raw = await rawConnection();
  });
  afterAll(async () => {
    await store?.close();
    await raw?.end();
    await dropTablesWithPrefix(prefix);
  });

  async function inserted(count: number): Promise<InstanceRecord[]> {
    const records = Array.from({ length: count }, (_, i) => instanceRecord(M, { userId: `u${i}` }));
    for (const r of records) await store.insert(r, []);
    return records;
  }

  /** One step of `r`, with a history row and an event, as a drive commits it. */
  function step(r: InstanceRecord, expectedVersion = r.version) {
    const next = nextRecord(r);
    return store.commit({ record: next, expectedVersion, previous: r, history: [historyRecord(r, 1)], events: [event(r, 1)] });
  }

  async function stored(ids: string[]): Promise<Map<string, { version: number; history: number; events: number }>> {
    const [rows] = await raw.query<RowDataPacket[]>(
      `SELECT i.id, i.version,
         (SELECT COUNT(*) FROM \`${prefix}${M}_history\` h WHERE h.instance_id = i.id) AS history,
         (SELECT COUNT(*) FROM \`${prefix}outbox\` o WHERE o.instance_id = i.id) AS events
       FROM \`${prefix}${M}\` i WHERE i.id IN (?)`,
      [ids],
    );
    return new Map(rows.map((r) => [r['id'] as string, { version: r['version'] as number, history: Number(r['history']), events: Number(r['events']) }]));
  }

  it('puts concurrent commits in fewer transactions, each commit written whole', async () => {
    const records = await inserted(COUNT);
    const before = { ...store.groupCommits };
    await Promise.all(records.map((r) => step(r)));
    const after = store.groupCommits;
    expect(after.commits - before.commits).toBe(COUNT);
    expect(after.transactions - before.transactions).toBeLessThan(COUNT);
    expect(after.largest).toBeGreaterThan(1);
    const rows = await stored(records.map((r) => r.id));
    for (const r of records) expect(rows.get(r.id)).toEqual({ version: 2, history: 1, events: 1 });
  });

  it('commits arriving together share the free lanes: no lane takes them all while another idles', async () => {
    const twoLanes = createMysqlStore({ tablePrefix: prefix, poolSize: 8, groupCommit: { lanes: 2 } });
    try {
      const records = Array.from({ length: 32 }, (_, i) => instanceRecord(M, { userId: `l${i}` }));
      for (const r of records) await twoLanes.insert(r, []);
      // Callers answered by one transaction come back together: one lane taking them all would
      // leave the other lane idle, and the convoy would never break up.
      for (let round = 0; round < 3; round++) {
        const before = { ...twoLanes.groupCommits };
        await Promise.all(records.map((r) => twoLanes.commit({ record: nextRecord(r), expectedVersion: r.version, previous: r, history: [historyRecord(r, round + 1)], events: [] })));
        records.forEach((r, i) => (records[i] = nextRecord(r)));
        expect(twoLanes.groupCommits.commits - before.commits).toBe(32);
        expect(twoLanes.groupCommits.transactions - before.transactions).toBeGreaterThanOrEqual(2);
      }
      expect(twoLanes.groupCommits.largest).toBeLessThanOrEqual(16);
      const rows = await stored(records.map((r) => r.id));
      for (const r of records) expect(rows.get(r.id)).toEqual({ version: 4, history: 3, events: 0 });
    } finally {
      await twoLanes.close();
    }
  });

  it('a stale commit in a group fails alone: the others of its group commit', async () => {
    const records = await inserted(COUNT);
    const stale = records[COUNT / 2]!;
    const results = await Promise.allSettled(records.map((r) => step(r, r === stale ? 7 : r.version)));
    const failed = results.flatMap((res, i) => (res.status === 'rejected' ? [[records[i]!.id, (res.reason as { code?: string }).code]] : []));
    expect(failed).toEqual([[stale.id, 'FSM_STALE_VERSION']]);
    const rows = await stored(records.map((r) => r.id));
    for (const r of records) expect(rows.get(r.id)).toEqual(r === stale ? { version: 1, history: 0, events: 0 } : { version: 2, history: 1, events: 1 });
  });

  it('a commit whose lock lease is gone fails alone with FSM_LOCK_LOST', async () => {
    const records = await inserted(COUNT);
    const locker = store.locker();
    const leases = await Promise.all(
      records.map((r) => locker.acquire(`user:${r.userId}`, 'test', { instanceId: r.id, machine: M, leaseMs: 30_000, mode: 'fail', timeoutMs: 0 })),
    );
    const victim = 3;
    await locker.release(leases[victim]!);
    const results = await Promise.allSettled(
      records.map((r, i) => {
        const next = nextRecord(r);
        return store.commit({ record: next, expectedVersion: 1, previous: r, history: [historyRecord(r, 1)], events: [], fence: [{ key: leases[i]!.key, token: leases[i]!.token }], releaseLocks: true });
      }),
    );
    const failed = results.flatMap((res, i) => (res.status === 'rejected' ? [[i, (res.reason as { code?: string }).code]] : []));
    expect(failed).toEqual([[victim, 'FSM_LOCK_LOST']]);
    expect(results.filter((r) => r.status === 'fulfilled').every((r) => (r as PromiseFulfilledResult<{ locksReleased?: boolean }>).value.locksReleased)).toBe(true);
    const [held] = await raw.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${prefix}local_lock\` WHERE owner IS NOT NULL AND lock_key LIKE 'user:u%'`);
    expect(Number(held[0]!['n'])).toBe(0);
    const rows = await stored(records.map((r) => r.id));
    records.forEach((r, i) => expect(rows.get(r.id)?.version).toBe(i === victim ? 1 : 2));
  });

  it('a row the server refuses inside a group (a duplicate history entry) fails only its own commit', async () => {
    const records = await inserted(COUNT);
    const bad = records[5]!;
    // A history row with seq 1 already stored: the group's INSERT fails, and each commit goes again alone.
    await raw.query(`INSERT INTO \`${prefix}${M}_history\` (id, instance_id, seq, handler, step, direction, state_before, state_after, data_before, data_after, started_at, finished_at)
      VALUES (UUID(), ?, 1, 'x', 'x', 'forward', 'x', 'x', '', '', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))`, [bad.id]);
    const results = await Promise.allSettled(records.map((r) => step(r)));
    const failed = results.flatMap((res, i) => (res.status === 'rejected' ? [records[i]!.id] : []));
    expect(failed).toEqual([bad.id]);
    const rows = await stored(records.map((r) => r.id));
    for (const r of records) expect(rows.get(r.id)).toEqual(r === bad ? { version: 1, history: 1, events: 0 } : { version: 2, history: 1, events: 1 });
  });

  it('at concurrency 1 every commit is its own transaction: nothing waits for a group', async () => {
    const solo = createMysqlStore({ tablePrefix: prefix, poolSize: 2 });
    try {
      const records = Array.from({ length: 10 }, () => instanceRecord(M));
      for (const r of records) {
        await solo.insert(r, []);
        await solo.commit({ record: nextRecord(r), expectedVersion: 1, previous: r, history: [historyRecord(r, 1)], events: [] });
      }
      expect(solo.groupCommits).toEqual({ transactions: 10, commits: 10, largest: 1 });
    } finally {
      await solo.close();
    }
  });
});
