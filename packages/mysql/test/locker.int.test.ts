import type { Connection, RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunner, defineMachine, MemoryLocker, type AcquireOptions } from '@fsmkit/runtime';
import { createMysqlLocker, createMysqlStore, type MysqlLocker, type MysqlStore } from '../src/index.js';
import { dropTablesWithPrefix, mysqlUnavailable, rawConnection, uniquePrefix } from './support/db.js';
import { instanceRecord, nextRecord } from './support/records.js';

const unavailable = await mysqlUnavailable();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const opts = (over: Partial<AcquireOptions> = {}): AcquireOptions => ({ instanceId: 'i-1', leaseMs: 10_000, mode: 'fail', timeoutMs: 0, ...over });

describe.skipIf(unavailable !== null)('MysqlLocker', () => {
  const prefix = uniquePrefix();
  const M = 'order';
  let store: MysqlStore;
  let locker: MysqlLocker;
  let raw: Connection;

  beforeAll(async () => {
    store = createMysqlStore({ tablePrefix: prefix, poolSize: 8 });
    await store.ensureSchema([{ name: M }]);
    locker = store.locker();
    raw = await rawConnection();
  });
  afterAll(async () => {
    await store?.close();
    await raw?.end();
    await dropTablesWithPrefix(prefix);
  });

  const row = async (table: 'global_lock' | 'local_lock', key: string) => {
    const [rows] = await raw.query<RowDataPacket[]>(
      `SELECT *, expires_at > UTC_TIMESTAMP(3) AS live, TIMESTAMPDIFF(MICROSECOND, lock_timestamp, expires_at) AS lease_us FROM \`${prefix}${table}\` WHERE lock_key = ?`,
      [key],
    );
    return rows[0];
  };

  it("records a holder in the requirement's columns, on the database clock; the global key in the global table", async () => {
    const lease = (await locker.acquire('global', 'host-a:1', opts({ instanceId: 'inst-g', machine: M, leaseMs: 2500 })))!;
    const stored = (await row('global_lock', 'global'))!;
    expect(stored).toMatchObject({ lock_key: 'global', state_machine_id: 'inst-g', machine: M, owner: 'host-a:1', live: 1 });
    expect(Number(stored['token'])).toBe(lease.token);
    expect(Number(stored['lease_us'])).toBe(2_500_000);
    expect(stored['id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(await row('local_lock', 'global')).toBeUndefined();

    const user = (await locker.acquire('user:u-1', 'host-a:1', opts({ instanceId: 'inst-u' })))!;
    expect(await row('local_lock', 'user:u-1')).toMatchObject({ state_machine_id: 'inst-u', live: 1 });
    await locker.release(lease);
    await locker.release(user);
  });

  it('fails fast with FSM_LOCK_BUSY naming the holder, times out with FSM_LOCK_TIMEOUT, skips with null', async () => {
    const held = (await locker.acquire('user:busy', 'a', opts({ instanceId: 'holder-1', machine: M })))!;
    await expect(locker.acquire('user:busy', 'b', opts({ instanceId: 'x' }))).rejects.toMatchObject({
      code: 'FSM_LOCK_BUSY',
      context: { key: 'user:busy', holder: 'holder-1', owner: 'a' },
    });
    const t0 = Date.now();
    await expect(locker.acquire('user:busy', 'b', opts({ mode: 'wait', timeoutMs: 150 }))).rejects.toMatchObject({
      code: 'FSM_LOCK_TIMEOUT',
      context: { key: 'user:busy', holder: 'holder-1', timeoutMs: 150 },
    });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(await locker.acquire('user:busy', 'b', opts({ mode: 'skip' }))).toBeNull();
    // Nothing above disturbed the holder.
    expect((await locker.holder('user:busy'))).toMatchObject({ instanceId: 'holder-1', token: held.token, live: true });
    await locker.release(held);
  });

  it('a waiter gets the lock as soon as it is released, with a larger token', async () => {
    const first = (await locker.acquire('user:wait', 'a', opts()))!;
    const waiting = locker.acquire('user:wait', 'b', opts({ mode: 'wait', timeoutMs: 5000 }));
    await sleep(60);
    const released = Date.now();
    await locker.release(first);
    const second = (await waiting)!;
    expect(Date.now() - released).toBeLessThan(1000);
    expect(second.token).toBeGreaterThan(first.token);
    await locker.release(second);
  });

  it('a waiter gives up and returns null when its signal aborts', async () => {
    const held = (await locker.acquire('user:abort', 'a', opts()))!;
    const controller = new AbortController();
    const waiting = locker.acquire('user:abort', 'b', opts({ mode: 'wait', timeoutMs: 10_000, signal: controller.signal }));
    await sleep(30);
    const t0 = Date.now();
    controller.abort();
    expect(await waiting).toBeNull();
    expect(Date.now() - t0).toBeLessThan(500);
    await locker.release(held);
  });

  it('tokens only grow: across releases, takeovers, and a row deleted by sweep', async () => {
    const tokens: number[] = [];
    for (let i = 0; i < 3; i++) {
      const lease = (await locker.acquire('user:grow', 'a', opts()))!;
      tokens.push(lease.token);
      await locker.release(lease);
    }
    const short = (await locker.acquire('user:grow', 'a', opts({ leaseMs: 30 })))!;
    tokens.push(short.token);
    await sleep(50);
    const takeover = (await locker.acquire('user:grow', 'b', opts()))!;
    tokens.push(takeover.token);
    await locker.release(takeover);
    expect(await locker.sweep(0)).toBeGreaterThanOrEqual(1);
    expect(await row('local_lock', 'user:grow')).toBeUndefined();
    const again = (await locker.acquire('user:grow', 'c', opts()))!;
    tokens.push(again.token);
    await locker.release(again);
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]).toBeGreaterThan(tokens[i - 1]!);
  });

  it('an expired lease is taken over; its holder can then neither renew, nor release, nor write', async () => {
    const rec = instanceRecord(M);
    await store.insert(rec, []);
    const key = `user:${rec.userId}`;
    const stale = (await locker.acquire(key, 'a', opts({ instanceId: rec.id, leaseMs: 40 })))!;
    expect(await locker.renew(stale, 40)).toBe(true);
    await sleep(60);
    const fresh = (await locker.acquire(key, 'b', opts({ instanceId: rec.id })))!;
    expect(fresh.token).toBeGreaterThan(stale.token);
    expect(await row('local_lock', key)).toMatchObject({ owner: 'b', live: 1 });

    expect(await locker.renew(stale, 10_000)).toBe(false);
    await locker.release(stale);
    expect(await locker.holder(key)).toMatchObject({ owner: 'b', token: fresh.token, live: true });
    const write = await store
      .commit({ record: nextRecord(rec), expectedVersion: 1, history: [], events: [], fence: [{ key, token: stale.token }] })
      .catch((e: unknown) => e);
    expect(write).toMatchObject({ code: 'FSM_LOCK_LOST', context: { key, token: stale.token, stored: fresh.token } });
    expect((await store.get(M, rec.id))!.version).toBe(1);

    await store.commit({ record: nextRecord(rec), expectedVersion: 1, history: [], events: [], fence: [{ key, token: fresh.token }] });
    expect((await store.get(M, rec.id))!.version).toBe(2);
    await locker.release(fresh);
  });

  it('an expired lease nobody took is lost too: no renewal, no write', async () => {
    const rec = instanceRecord(M);
    await store.insert(rec, []);
    const key = `user:${rec.id}`;
    const lease = (await locker.acquire(key, 'a', opts({ leaseMs: 30 })))!;
    await sleep(50);
    const write = await store
      .commit({ record: nextRecord(rec), expectedVersion: 1, history: [], events: [], fence: [{ key, token: lease.token }] })
      .catch((e: unknown) => e);
    expect(write).toMatchObject({ code: 'FSM_LOCK_LOST', message: expect.stringContaining('its lease expired') });
    expect(await locker.renew(lease, 10_000)).toBe(false);
    expect((await store.get(M, rec.id))!.version).toBe(1);
  });

  it("a drive's last commit ends the lease in its transaction; a stale one is refused and ends nothing", async () => {
    const rec = instanceRecord(M);
    await store.insert(rec, []);
    const key = `user:${rec.id}`;
    const lease = (await locker.acquire(key, 'a', opts()))!;
    const result = await store.commit({ record: nextRecord(rec), expectedVersion: 1, history: [], events: [], fence: [{ key, token: lease.token }], releaseLocks: true });
    expect(result.locksReleased).toBe(true);
    expect(await row('local_lock', key)).toMatchObject({ owner: null, live: 0 });
    expect(await locker.holder(key)).toMatchObject({ live: false });
    // Released: the same token cannot write again, and the next holder gets the key at once.
    const again = await store
      .commit({ record: nextRecord(rec, { version: 3 }), expectedVersion: 2, history: [], events: [], fence: [{ key, token: lease.token }], releaseLocks: true })
      .catch((e: unknown) => e);
    expect(again).toMatchObject({ code: 'FSM_LOCK_LOST' });
    const next = (await locker.acquire(key, 'b', opts()))!;
    expect(next.token).toBeGreaterThan(lease.token);
    await locker.release(next);
  });

  it('release by a stale holder does not free the current one; renew by another owner is refused', async () => {
    const a = (await locker.acquire('user:stale', 'a', opts({ leaseMs: 30 })))!;
    await sleep(50);
    const b = (await locker.acquire('user:stale', 'b', opts()))!;
    await locker.release(a);
    await expect(locker.acquire('user:stale', 'c', opts())).rejects.toMatchObject({ code: 'FSM_LOCK_BUSY' });
    expect(await locker.renew({ ...b, owner: 'c' }, 1000)).toBe(false);
    expect(await locker.renew(b, 1000)).toBe(true);
    await locker.release(b);
    expect((await row('local_lock', 'user:stale'))!['owner']).toBeNull();
  });

  it('many processes worth of contenders: one holder at a time, every token distinct', async () => {
    // Separate pools, as separate processes would have.
    const lockers = Array.from({ length: 4 }, () => createMysqlLocker({ tablePrefix: prefix, poolSize: 4 }));
    let inside = 0;
    let most = 0;
    const tokens: number[] = [];
    try {
      await Promise.all(
        lockers.flatMap((l, p) =>
          Array.from({ length: 4 }, async (_, w) => {
            for (let i = 0; i < 5; i++) {
              const lease = (await l.acquire('user:contended', `p${p}`, opts({ instanceId: `i${p}-${w}`, mode: 'wait', timeoutMs: 20_000 })))!;
              most = Math.max(most, ++inside);
              tokens.push(lease.token);
              await sleep(1);
              inside--;
              await l.release(lease);
            }
          }),
        ),
      );
    } finally {
      await Promise.all(lockers.map((l) => l.close()));
    }
    expect(most).toBe(1);
    expect(tokens).toHaveLength(80);
    expect(new Set(tokens).size).toBe(80);
  });

  it('keys longer than the column are stored by a unique digest', async () => {
    const long = `user:${'x'.repeat(300)}`;
    const other = `user:${'x'.repeat(299)}y`;
    const a = (await locker.acquire(long, 'a', opts()))!;
    const b = (await locker.acquire(other, 'a', opts()))!;
    await expect(locker.acquire(long, 'b', opts())).rejects.toMatchObject({ code: 'FSM_LOCK_BUSY' });
    const [rows] = await raw.query<RowDataPacket[]>(`SELECT lock_key FROM \`${prefix}local_lock\` WHERE lock_key LIKE 'user:xxx%'`);
    expect(rows.map((r) => (r['lock_key'] as string).length)).toEqual([191, 191]);
    await locker.release(a);
    await locker.release(b);
  });

  it("a runner on the store locks in the store's tables unless given another locker", async () => {
    const machine = defineMachine<{ n: number }>({
      name: M,
      lock: { scope: 'local', by: 'user' },
      steps: { only: { order: 1 } },
      methods: { only: (ctx) => void (ctx.data.n += 1) },
    });
    await store.ensureSchema([machine.model]);
    expect(store.locker()).toBe(locker);
    const done = await createRunner(machine, { store }).start({ n: 0 }, { userId: 'by-default' });
    expect([done.status, done.data.n]).toEqual(['done', 1]);
    // The lease was taken and ended in MySQL, where every process sees it.
    expect(await row('local_lock', 'user:by-default')).toMatchObject({ state_machine_id: done.id, owner: null, live: 0 });

    // A lock taken elsewhere is refused by the commit, with the reason.
    const runner = createRunner(machine, { store, locker: new MemoryLocker() });
    const error = await runner.start({ n: 0 }, { userId: 'elsewhere' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'FSM_LOCK_LOST' });
    expect((error as Error).message).toContain('taken with another locker');
  });

  it('sweep deletes only rows whose lease ended longer ago than asked', async () => {
    const live = (await locker.acquire('user:sweep-live', 'a', opts()))!;
    const ended = (await locker.acquire('user:sweep-ended', 'a', opts()))!;
    await locker.release(ended);
    expect(await locker.sweep(60_000)).toBe(0);
    await locker.sweep(0);
    expect(await row('local_lock', 'user:sweep-ended')).toBeUndefined();
    expect(await row('local_lock', 'user:sweep-live')).toMatchObject({ live: 1 });
    await locker.release(live);
  });
});
