/**
 * Lease handover: a commit that ends a lease while a waiter of the same process waits for the
 * key hands the lease to that waiter in the same UPDATE (its token the ended one plus one), so
 * one transaction does what a release and a takeover did in two. Waiters poll once a minute
 * here: only the handover, or a release in this process, can end their wait in time.
 */
import type { InstanceRecord, Lease } from '@fsmkit/runtime';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlStore, type MysqlLocker, type MysqlStore } from '../src/index.js';
import { dropTablesWithPrefix, mysqlUnavailable, rawConnection, uniquePrefix } from './support/db.js';
import { historyRecord, instanceRecord, nextRecord } from './support/records.js';

const unavailable = await mysqlUnavailable();
const M = 'order';

describe.skipIf(unavailable !== null)('MysqlLocker: lease handover in a releasing commit', () => {
  const prefix = uniquePrefix();
  let raw: Connection;
  let store: MysqlStore;
  let locker: MysqlLocker;
  let run = 0;

  beforeAll(async () => {
    raw = await rawConnection();
    store = createMysqlStore({ tablePrefix: prefix, poolSize: 4 });
    await store.ensureSchema([{ name: M }]);
    locker = store.locker({ pollMs: 60_000, maxPollMs: 60_000 });
  });
  afterAll(async () => {
    await store?.close();
    await raw?.end();
    await dropTablesWithPrefix(prefix);
  });

  const waitFor = (instanceId: string, extra: { signal?: AbortSignal; timeoutMs?: number; leaseMs?: number } = {}) => ({
    instanceId,
    machine: M,
    leaseMs: extra.leaseMs ?? 30_000,
    mode: 'wait' as const,
    timeoutMs: extra.timeoutMs ?? 20_000,
    ...(extra.signal ? { signal: extra.signal } : {}),
  });

  async function inserted(): Promise<InstanceRecord> {
    const r = instanceRecord(M, { userId: `h${++run}` });
    await store.insert(r, []);
    return r;
  }

  /** The last commit of a drive: a step fenced by the lease, ending it. */
  function finish(r: InstanceRecord, lease: Lease, expectedVersion = r.version) {
    return store.commit({
      record: nextRecord(r),
      previous: r,
      expectedVersion,
      history: [historyRecord(r, r.historySeq + 1)],
      events: [],
      fence: [{ key: lease.key, token: lease.token }],
      releaseLocks: true,
    });
  }

  async function row(key: string) {
    const [rows] = await raw.query<RowDataPacket[]>(
      `SELECT owner, state_machine_id AS instance, token, expires_at > UTC_TIMESTAMP(3) AS live FROM \`${prefix}local_lock\` WHERE lock_key = ?`,
      [key],
    );
    const r = rows[0]!;
    return { owner: r['owner'] as string | null, instance: r['instance'] as string | null, token: Number(r['token']), live: Number(r['live']) === 1 };
  }

  /** Resolves once a waiter on `key` has registered its offer (its acquire is waiting). */
  async function waiting(key: string, count = 1): Promise<void> {
    const offers = (locker as unknown as { offers: Map<string, Set<unknown>> }).offers;
    for (let i = 0; i < 500 && (offers.get(key)?.size ?? 0) < count; i++) await new Promise((r) => setTimeout(r, 5));
    expect(offers.get(key)?.size ?? 0).toBe(count);
  }

  it('the releasing commit hands the lease to the waiter in its own transaction: the next token, its owner, no takeover', async () => {
    const r = await inserted();
    const key = `user:${r.userId}`;
    const held = (await locker.acquire(key, 'first', waitFor('first')))!;
    const next = locker.acquire(key, 'second', waitFor('second'));
    await waiting(key);
    const before = { ...store.groupCommits };
    const result = await finish(r, held);
    const lease = (await next)!;
    expect(result.locksReleased).toBe(true);
    expect(lease).toMatchObject({ key, owner: 'second', token: held.token + 1 });
    // One transaction: the commit and the handover; the waiter sent no takeover of its own.
    expect(store.groupCommits.transactions - before.transactions).toBe(1);
    expect(await row(key)).toEqual({ owner: 'second', instance: 'second', token: held.token + 1, live: true });
    // The old token writes nothing any more; the new one does, and ends the lease.
    await expect(finish(nextRecord(r), held, r.version + 1)).rejects.toMatchObject({ code: 'FSM_LOCK_LOST' });
    await locker.release(lease);
    expect(await row(key)).toMatchObject({ owner: null, live: false });
  });

  it('waiters take the lease in the order they came, one handover per commit', async () => {
    const r = await inserted();
    const key = `user:${r.userId}`;
    const held = (await locker.acquire(key, 'w0', waitFor('w0')))!;
    const order: string[] = [];
    const waiters = ['w1', 'w2', 'w3'].map((name) => locker.acquire(key, name, waitFor(name)).then((l) => (order.push(name), l!)));
    await waiting(key, 3);
    let lease = held;
    let record = r;
    for (let i = 0; i < 3; i++) {
      await finish(record, lease);
      record = nextRecord(record);
      lease = await waiters[i]!;
      expect(lease.token).toBe(held.token + i + 1);
    }
    expect(order).toEqual(['w1', 'w2', 'w3']);
    await locker.release(lease);
    expect(await row(key)).toMatchObject({ owner: null, token: held.token + 3, live: false });
  });

  it('commits grouped in one transaction each hand their own lease over, beside a stale one that hands nothing', async () => {
    const records = await Promise.all(Array.from({ length: 8 }, () => inserted()));
    const keys = records.map((r) => `user:${r.userId}`);
    const held = await Promise.all(keys.map((key, i) => locker.acquire(key, `first-${i}`, waitFor(`first-${i}`))));
    const next = keys.map((key, i) => locker.acquire(key, `next-${i}`, waitFor(`next-${i}`)));
    for (const key of keys) await waiting(key);
    const stale = 5;
    const before = { ...store.groupCommits };
    const results = await Promise.allSettled(records.map((r, i) => finish(r, held[i]!, i === stale ? r.version + 5 : r.version)));
    expect(store.groupCommits.largest).toBeGreaterThan(1);
    expect(store.groupCommits.transactions - before.transactions).toBeLessThan(records.length);
    expect(results.map((r) => r.status)).toEqual(records.map((_, i) => (i === stale ? 'rejected' : 'fulfilled')));
    for (const [i, key] of keys.entries()) {
      if (i === stale) {
        expect(await row(key)).toMatchObject({ owner: `first-${i}`, token: held[i]!.token, live: true });
        continue;
      }
      const lease = (await next[i])!;
      expect(lease).toMatchObject({ owner: `next-${i}`, token: held[i]!.token + 1 });
      expect(await row(key)).toEqual({ owner: `next-${i}`, instance: `next-${i}`, token: held[i]!.token + 1, live: true });
      await locker.release(lease);
    }
    // The stale one's waiter gets the key once its holder lets go.
    await locker.release(held[stale]!);
    const last = (await next[stale])!;
    expect(last.owner).toBe(`next-${stale}`);
    await locker.release(last);
  });

  it('a commit refused (stale version) hands nothing over: the waiter gets the lock once the lease really ends', async () => {
    const r = await inserted();
    const key = `user:${r.userId}`;
    const held = (await locker.acquire(key, 'first', waitFor('first')))!;
    const next = locker.acquire(key, 'second', waitFor('second'));
    await waiting(key);
    await expect(finish(r, held, r.version + 5)).rejects.toMatchObject({ code: 'FSM_STALE_VERSION' });
    // Still held by the first, unchanged; the waiter went back to waiting.
    expect(await row(key)).toEqual({ owner: 'first', instance: 'first', token: held.token, live: true });
    await waiting(key);
    await locker.release(held);
    const lease = (await next)!;
    expect(lease.owner).toBe('second');
    expect(lease.token).toBeGreaterThan(held.token);
    expect(await row(key)).toMatchObject({ owner: 'second', token: lease.token, live: true });
    await locker.release(lease);
  });

  it('a commit the server refuses (a duplicate history row) hands nothing over: the lease stays with its holder until it lets go', async () => {
    const r = await inserted();
    const key = `user:${r.userId}`;
    const held = (await locker.acquire(key, 'first', waitFor('first')))!;
    const next = locker.acquire(key, 'second', waitFor('second'));
    await waiting(key);
    // The history row the commit would write is there already: its INSERT fails, on every path.
    await raw.query(
      `INSERT INTO \`${prefix}${M}_history\` (id, instance_id, seq, handler, step, direction, state_before, state_after, data_before, data_after, started_at, finished_at)
       VALUES (UUID(), ?, ?, 'x', 'x', 'forward', 'x', 'x', '', '', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))`,
      [r.id, r.historySeq + 1],
    );
    await expect(finish(r, held)).rejects.toThrow();
    expect(await row(key)).toEqual({ owner: 'first', instance: 'first', token: held.token, live: true });
    await waiting(key);
    await locker.release(held);
    const lease = (await next)!;
    expect(lease.owner).toBe('second');
    expect(await row(key)).toMatchObject({ owner: 'second', token: lease.token, live: true });
    await locker.release(lease);
  });

  it('a commit whose outcome is unknown (connection lost under COMMIT): the waiter reads the row and takes the lease only if it names it', async () => {
    const grouper = (store as unknown as { grouper: { submit: (c: unknown) => Promise<unknown> } }).grouper;
    const submit = grouper.submit.bind(grouper);
    const lost = () => Object.assign(new Error('Connection lost: The server closed the connection.'), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true });
    for (const landed of [true, false]) {
      const r = await inserted();
      const key = `user:${r.userId}`;
      const held = (await locker.acquire(key, 'first', waitFor('first')))!;
      const next = locker.acquire(key, 'second', waitFor('second'));
      await waiting(key);
      // The connection goes after the COMMIT landed, or before anything was sent.
      grouper.submit = async (c) => {
        if (landed) await submit(c);
        throw lost();
      };
      try {
        await expect(finish(r, held)).rejects.toThrow();
      } finally {
        grouper.submit = submit;
      }
      if (landed) {
        expect(await next).toMatchObject({ owner: 'second', token: held.token + 1 });
      } else {
        expect(await row(key)).toEqual({ owner: 'first', instance: 'first', token: held.token, live: true });
        await waiting(key);
        await locker.release(held);
        expect((await next)!.owner).toBe('second');
      }
      expect(await row(key)).toMatchObject({ owner: 'second', live: true });
      await locker.release((await next)!);
    }
  });

  it('a waiter that gave up (aborted, or timed out) is not handed anything: the commit ends the lease', async () => {
    const r = await inserted();
    const key = `user:${r.userId}`;
    const held = (await locker.acquire(key, 'first', waitFor('first')))!;
    const abort = new AbortController();
    const aborted = locker.acquire(key, 'aborted', waitFor('aborted', { signal: abort.signal }));
    const timedOut = locker.acquire(key, 'late', waitFor('late', { timeoutMs: 50 }));
    await waiting(key, 2);
    abort.abort();
    expect(await aborted).toBeNull();
    await expect(timedOut).rejects.toMatchObject({ code: 'FSM_LOCK_TIMEOUT' });
    await finish(r, held);
    expect(await row(key)).toMatchObject({ owner: null, token: held.token, live: false });
  });

  it('a waiter aborted after the commit took it gets nothing: the lease it was handed is given back', async () => {
    const r = await inserted();
    const key = `user:${r.userId}`;
    const held = (await locker.acquire(key, 'first', waitFor('first')))!;
    const abort = new AbortController();
    const next = locker.acquire(key, 'second', waitFor('second', { signal: abort.signal }));
    await waiting(key);
    // The abort lands between the commit taking the waiter and the commit's outcome.
    const handover = locker.handover.bind(locker);
    locker.handover = (k, t) => {
      const taken = handover(k, t);
      abort.abort();
      return taken;
    };
    try {
      await finish(r, held);
    } finally {
      locker.handover = handover;
    }
    expect(await next).toBeNull();
    expect(await row(key)).toMatchObject({ owner: null, token: held.token + 1, live: false });
  });

  it('an abort that comes while the acquire is trying ends its wait: it does not sleep through to its next poll', async () => {
    const r = await inserted();
    const key = `user:${r.userId}`;
    // Held by another locker, as by another runner: the waiter tries a takeover first.
    const other = store.locker();
    const held = (await other.acquire(key, 'other', waitFor('other')))!;
    const abort = new AbortController();
    const slow = store.locker({ pollMs: 600_000, maxPollMs: 600_000 });
    const acquiring = slow.acquire(key, 'aborted', waitFor('aborted', { signal: abort.signal, timeoutMs: 600_000 }));
    abort.abort();
    // Its locker polls every ten minutes: a missed abort would hold this test past its time limit.
    expect(await acquiring).toBeNull();
    await other.release(held);
    expect(await row(key)).toMatchObject({ owner: null, live: false });
  });

  it('a fail-mode acquire of a key whose lease ran out unseen takes it: what the locker remembers of its own leases only spares waiters a read', async () => {
    const r = await inserted();
    const key = `user:${r.userId}`;
    // Never released: it runs out by the database clock.
    const lapsed = (await locker.acquire(key, 'gone', waitFor('gone', { leaseMs: 100 })))!;
    await new Promise((resolve) => setTimeout(resolve, 200));
    const lease = await locker.acquire(key, 'next', { instanceId: 'next', machine: M, leaseMs: 30_000, mode: 'fail', timeoutMs: 0 });
    expect(lease).toMatchObject({ owner: 'next' });
    expect(lease!.token).toBeGreaterThan(lapsed.token);
    // And a waiter on a key whose local lease ran out reads the row once it has, and takes it.
    const held = (await locker.acquire(`${key}:w`, 'gone', waitFor('gone', { leaseMs: 100 })))!;
    const waiter = (await locker.acquire(`${key}:w`, 'waiter', waitFor('waiter')))!;
    expect(waiter.token).toBeGreaterThan(held.token);
    await locker.release(lease!);
    await locker.release(waiter);
  });
});
