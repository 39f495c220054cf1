import type { Connection, RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createRunner, defineMachine, type ClaimOptions, type InstanceRecord, type Store } from '@fsmkit/runtime';
import { createMysqlStore, type MysqlStore } from '../src/index.js';
import { dropTablesWithPrefix, mysqlUnavailable, rawConnection, uniquePrefix } from './support/db.js';
import { instanceRecord } from './support/records.js';

const unavailable = await mysqlUnavailable();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await sleep(10);
  }
}


describe.skipIf(unavailable !== null)('MysqlStore.claim', () => {
  const prefix = uniquePrefix();
  let store: MysqlStore;
  let raw: Connection;
  let n = 0;
  /** Each test on a machine table of its own, so claims see only its rows. */
  const machine = () => `claim${++n}`;

  beforeAll(async () => {
    store = createMysqlStore({ tablePrefix: prefix, poolSize: 4 });
    await store.ensureSchema(Array.from({ length: 10 }, (_, i) => ({ name: `claim${i + 1}` })));
    raw = await rawConnection();
  });
  afterAll(async () => {
    await store?.close();
    await raw?.end();
    await dropTablesWithPrefix(prefix);
  });

  const insert = async (m: string, over: Partial<InstanceRecord>) => {
    const rec = instanceRecord(m, over);
    await store.insert(rec, []);
    return rec;
  };

  it('claims ready instances, due waiting ones and running ones whose lease expired; nothing else (a wait without a due time is never claimed)', async () => {
    const m = machine();
    const now = Date.now();
    const ready = await insert(m, { status: 'ready' });
    const dueWaiting = await insert(m, { status: 'waiting', nextRunAt: new Date(now - 1000) });
    const idleWaiting = await insert(m, { status: 'waiting', nextRunAt: null, waitMessage: 'payment', waitKey: 'k' });
    const orphan = await insert(m, { status: 'running', leaseOwner: 'dead', leaseExpiresAt: new Date(now - 1000) });
    const scheduled = await insert(m, { status: 'ready', nextRunAt: new Date(now + 60_000) });
    const notDue = await insert(m, { status: 'waiting', nextRunAt: new Date(now + 60_000) });
    const live = await insert(m, { status: 'running', leaseOwner: 'alive', leaseExpiresAt: new Date(now + 60_000) });
    for (const status of ['paused', 'done', 'failed', 'compensated'] as const) await insert(m, { status });

    const claimed = await store.claim(m, { owner: 'w1', limit: 100, leaseMs: 5000 });
    expect(new Set(claimed)).toEqual(new Set([ready.id, dueWaiting.id, orphan.id]));
    expect(claimed).not.toContain(idleWaiting.id);
    // Instances already under way come before new ones.
    expect(claimed.at(-1)).toBe(ready.id);
    expect(claimed).not.toContain(scheduled.id);
    expect(claimed).not.toContain(notDue.id);
    expect(claimed).not.toContain(live.id);

    // Leased to the claimer, without a version bump; a second claim finds nothing.
    const got = (await store.get(m, orphan.id))!;
    expect(got.leaseOwner).toBe('w1');
    expect(got.leaseExpiresAt!.getTime()).toBeGreaterThan(Date.now() + 3000);
    expect(got.version).toBe(orphan.version);
    expect(await store.claim(m, { owner: 'w2', limit: 100, leaseMs: 5000 })).toEqual([]);
  });

  it('a claim lease runs out, and the instance can be claimed again', async () => {
    const m = machine();
    const rec = await insert(m, { status: 'ready' });
    expect(await store.claim(m, { owner: 'w1', limit: 10, leaseMs: 60 })).toEqual([rec.id]);
    expect(await store.claim(m, { owner: 'w2', limit: 10, leaseMs: 60 })).toEqual([]);
    await sleep(100);
    expect(await store.claim(m, { owner: 'w2', limit: 10, leaseMs: 60_000 })).toEqual([rec.id]);
    expect((await store.get(m, rec.id))!.leaseOwner).toBe('w2');
  });

  it('respects the limit, and unclaim gives back only the owner’s claims', async () => {
    const m = machine();
    const all: string[] = [];
    for (let i = 0; i < 5; i++) all.push((await insert(m, { status: 'ready' })).id);
    const first = await store.claim(m, { owner: 'w1', limit: 2, leaseMs: 60_000 });
    expect(first).toHaveLength(2);
    const second = await store.claim(m, { owner: 'w2', limit: 2, leaseMs: 60_000 });
    expect(second).toHaveLength(2);
    expect(second.filter((id) => first.includes(id))).toEqual([]);
    await store.unclaim(m, [...first, ...second], 'w1');
    expect((await store.get(m, second[0]!))!.leaseOwner).toBe('w2');
    // w1's two are claimable again, with the one nobody claimed; w2's stay with w2.
    const again = await store.claim(m, { owner: 'w3', limit: 10, leaseMs: 60_000 });
    expect(new Set(again)).toEqual(new Set(all.filter((id) => !second.includes(id))));
  });

  it('writes instance leases on the database clock, so a host with a skewed clock does not stretch them', async () => {
    const m = machine();
    // A host whose clock runs an hour ahead means a lease of 30 s.
    const skew = 3_600_000;
    const realNow = Date.now.bind(Date);
    const spy = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + skew);
    let rec: InstanceRecord;
    try {
      rec = await insert(m, { status: 'running', leaseOwner: 'ahead', leaseExpiresAt: new Date(Date.now() + 30_000) });
    } finally {
      spy.mockRestore();
    }
    const [rows] = await raw.query<RowDataPacket[]>(`SELECT TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(3), lease_expires_at) AS us FROM \`${prefix}${m}\` WHERE id = ?`, [rec.id]);
    const left = Number(rows[0]!['us']) / 1000;
    expect(left).toBeGreaterThan(28_000);
    expect(left).toBeLessThanOrEqual(30_000);
    expect(await store.claim(m, { owner: 'w', limit: 10, leaseMs: 1000 })).toEqual([]);
  });

  it("renewLease extends a running instance's lease for its owner at its version, and nothing else", async () => {
    const m = machine();
    const rec = await insert(m, { status: 'running', version: 3, leaseOwner: 'me', leaseExpiresAt: new Date(Date.now() + 200) });
    const left = async () => {
      const [rows] = await raw.query<RowDataPacket[]>(`SELECT TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(3), lease_expires_at) AS us FROM \`${prefix}${m}\` WHERE id = ?`, [rec.id]);
      return Number(rows[0]!['us']) / 1000;
    };
    expect(await store.renewLease(m, rec.id, { owner: 'me', version: 3, leaseMs: 60_000 })).toBe(true);
    expect(await left()).toBeGreaterThan(58_000);
    // Someone else's, an older version's, or no instance: refused and unchanged.
    expect(await store.renewLease(m, rec.id, { owner: 'other', version: 3, leaseMs: 600_000 })).toBe(false);
    expect(await store.renewLease(m, rec.id, { owner: 'me', version: 2, leaseMs: 600_000 })).toBe(false);
    expect(await store.renewLease(m, 'no-such-id', { owner: 'me', version: 3, leaseMs: 600_000 })).toBe(false);
    expect(await left()).toBeLessThan(60_000);
    // Not running any more: a late renewal must not bring a lease back.
    const done = await insert(m, { status: 'done', leaseOwner: 'me', leaseExpiresAt: null });
    expect(await store.renewLease(m, done.id, { owner: 'me', version: done.version, leaseMs: 60_000 })).toBe(false);
    expect((await store.get(m, done.id))!.leaseExpiresAt).toBeNull();
    expect((await store.get(m, rec.id))!.version).toBe(3);
  });

  it('a step that outlasts the instance lease is not taken over while its process lives', async () => {
    const m = machine();
    let runs = 0;
    let finish!: () => void;
    const slow = new Promise<void>((r) => (finish = r));
    const definition = defineMachine({
      name: m,
      steps: { long: { order: 1 } },
      methods: {
        async long() {
          runs++;
          await slow;
        },
      },
    });
    // Renewed every third of it: room enough for timers and statements late on a loaded machine.
    const leaseMs = 450;
    const driving = createRunner(definition, { store, instanceLeaseMs: leaseMs, owner: 'driver' }).start({});
    const worker = createRunner(definition, { store, instanceLeaseMs: leaseMs, owner: 'other' }).work({ pollMs: 10 });
    await sleep(leaseMs * 4);
    finish();
    const done = await driving;
    await worker.stop();
    expect([done.status, runs, worker.stats.claimed]).toEqual(['done', 1, 0]);
  });

  it('concurrent claimers on separate connections never get the same instance', async () => {
    const m = machine();
    const total = 300;
    const values = Array.from({ length: total }, () => instanceRecord(m, { status: 'ready' }));
    for (const rec of values) await store.insert(rec, []);
    const claimers = Array.from({ length: 6 }, () => createMysqlStore({ tablePrefix: prefix, poolSize: 2 }));
    const seen: string[] = [];
    const perClaimer = claimers.map(() => 0);
    try {
      await Promise.all(
        claimers.map(async (s, i) => {
          for (;;) {
            const ids = await s.claim(m, { owner: `w${i}`, limit: 7, leaseMs: 60_000 });
            if (ids.length === 0) return;
            seen.push(...ids);
            perClaimer[i]! += ids.length;
          }
        }),
      );
    } finally {
      await Promise.all(claimers.map((s) => s.close()));
    }
    expect(seen).toHaveLength(total);
    expect(new Set(seen).size).toBe(total);
    // The work was shared, not taken by whoever came first.
    expect(perClaimer.filter((c) => c > 0).length).toBeGreaterThan(1);
    const [owners] = await raw.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${prefix}${m}\` WHERE lease_owner IS NULL`);
    expect(Number(owners[0]!['n'])).toBe(0);
  });

  it("given the machine's lock, passes over instances whose lock is held and takes one per lock key", async () => {
    const m = machine();
    const locker = store.locker();
    const held = (await locker.acquire('user:busy', 'other', { instanceId: 'x', leaseMs: 60_000, mode: 'fail', timeoutMs: 0 }))!;
    await insert(m, { status: 'ready', userId: 'busy' });
    const a1 = await insert(m, { status: 'ready', userId: 'a' });
    await insert(m, { status: 'ready', userId: 'a' });
    const b1 = await insert(m, { status: 'ready', userId: 'b' });
    const perUser = await store.claim(m, { owner: 'w', limit: 10, leaseMs: 60_000, lock: { scope: 'local', by: 'user' } });
    expect(new Set(perUser)).toEqual(new Set([a1.id, b1.id]));
    await locker.release(held);
    // Released: the busy user's instance is claimable now; a's second waits for the next claim.
    expect(await store.claim(m, { owner: 'w', limit: 10, leaseMs: 60_000, lock: { scope: 'local', by: 'user' } })).toHaveLength(2);

    const g = machine();
    await insert(g, { status: 'ready' });
    await insert(g, { status: 'ready' });
    const global = (await locker.acquire('global', 'other', { instanceId: 'x', leaseMs: 60_000, mode: 'fail', timeoutMs: 0 }))!;
    expect(await store.claim(g, { owner: 'w', limit: 10, leaseMs: 60_000, lock: { scope: 'global' } })).toEqual([]);
    await locker.release(global);
    expect(await store.claim(g, { owner: 'w', limit: 10, leaseMs: 60_000, lock: { scope: 'global' } })).toHaveLength(1);
    const type = (await locker.acquire(`type:${g}`, 'other', { instanceId: 'x', leaseMs: 60_000, mode: 'fail', timeoutMs: 0 }))!;
    expect(await store.claim(g, { owner: 'w', limit: 10, leaseMs: 60_000, lock: { scope: 'local', by: 'type' } })).toEqual([]);
    await locker.release(type);
    expect(await store.claim(g, { owner: 'w', limit: 10, leaseMs: 60_000, lock: { scope: 'local', by: 'type' } })).toHaveLength(1);
  });

  it('a stopping worker gives back, in the database, the claim it was waiting on a lock for', async () => {
    const m = machine();
    let entered!: (id: string) => void;
    let release!: () => void;
    const inStep = new Promise<string>((r) => (entered = r));
    const held = new Promise<void>((r) => (release = r));
    const definition = defineMachine({
      name: m,
      lock: { scope: 'local', by: 'user' },
      steps: { only: { order: 1 } },
      methods: {
        async only(ctx) {
          entered(ctx.instanceId);
          await held;
        },
      },
    });
    // Claims as a store unaware of locks would, so that both instances of the user are claimed.
    const blind: Store = Object.assign(Object.create(store) as MysqlStore, {
      claim: (name: string, options: ClaimOptions) => store.claim(name, { ...options, lock: { scope: 'none' } }),
    });
    const runner = createRunner(definition, { store: blind, locker: store.locker() });
    const ids = [(await runner.create({}, { userId: 'same' })).id, (await runner.create({}, { userId: 'same' })).id];
    const worker = runner.work({ concurrency: 2, pollMs: 10 });
    // Whichever got the lock runs; the other waits for it.
    const running = await inStep;
    const waiting = ids.find((id) => id !== running)!;
    await until(async () => (await store.get(m, waiting))!.leaseOwner !== null);
    const stopping = worker.stop();
    await until(async () => (await store.get(m, waiting))!.leaseOwner === null);
    release();
    await stopping;
    const [a, b] = [(await store.get(m, running))!, (await store.get(m, waiting))!];
    expect([a.status, a.leaseOwner, b.status, b.version, b.leaseExpiresAt]).toEqual(['done', null, 'ready', 1, null]);
    const [lock] = await raw.query<RowDataPacket[]>(`SELECT owner FROM \`${prefix}local_lock\` WHERE lock_key = 'user:same'`);
    expect(lock).toEqual([{ owner: null }]);
  });
});
