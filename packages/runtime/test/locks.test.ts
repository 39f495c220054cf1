import { describe, expect, it } from 'vitest';
import { createRunner, MemoryLocker, MemoryStore } from '../src/index.js';
import { gate, machine } from './support/machines.js';

/** A machine whose one step records how many instances run at once, per user and overall. */
function counting(name: string, lock: { scope: 'global' | 'local' | 'none'; by?: 'user' | 'type' }) {
  const running = new Map<string, number>();
  const peak = { perUser: 0, overall: 0 };
  let overall = 0;
  const def = machine<{ n: number }>(
    { name, lock },
    { work: { order: 1 } },
    {
      work: async (ctx) => {
        const u = ctx.userId ?? '';
        running.set(u, (running.get(u) ?? 0) + 1);
        overall++;
        peak.perUser = Math.max(peak.perUser, running.get(u)!);
        peak.overall = Math.max(peak.overall, overall);
        await new Promise((r) => setTimeout(r, 2));
        running.set(u, running.get(u)! - 1);
        overall--;
        ctx.data.n++;
      },
    },
  );
  return { def, peak };
}

describe('in-process locks', () => {
  it("local by user: one instance per user at a time, different users in parallel", async () => {
    const { def, peak } = counting('local_user', { scope: 'local', by: 'user' });
    const runner = createRunner(def, { locker: new MemoryLocker() });
    const all = await Promise.all(Array.from({ length: 40 }, (_, i) => runner.start({ n: 0 }, { userId: `u${i % 4}` })));
    expect(all.every((i) => i.status === 'done')).toBe(true);
    expect(peak.perUser).toBe(1);
    expect(peak.overall).toBeGreaterThan(1);
    expect(all.every((i) => i.isLocalLock && !i.isGlobalLock)).toBe(true);
  });

  it('global: one instance at a time in the whole system', async () => {
    const { def, peak } = counting('global_one', { scope: 'global' });
    const runner = createRunner(def, { locker: new MemoryLocker() });
    await Promise.all(Array.from({ length: 20 }, (_, i) => runner.start({ n: 0 }, { userId: `u${i}` })));
    expect(peak.overall).toBe(1);
  });

  it("local by type: one instance of the machine type at a time", async () => {
    const { def, peak } = counting('local_type', { scope: 'local', by: 'type' });
    const runner = createRunner(def, { locker: new MemoryLocker() });
    await Promise.all(Array.from({ length: 10 }, (_, i) => runner.start({ n: 0 }, { userId: `u${i}` })));
    expect(peak.overall).toBe(1);
  });

  it('runner configuration overrides the decorator lock', async () => {
    const { def, peak } = counting('overridden', { scope: 'none' });
    const runner = createRunner(def, { locker: new MemoryLocker(), lock: { scope: 'global' } });
    const all = await Promise.all(Array.from({ length: 10 }, () => runner.start({ n: 0 })));
    expect(peak.overall).toBe(1);
    expect(all[0]!.isGlobalLock).toBe(true);
  });

  it('a user lock needs a userId', async () => {
    const { def } = counting('needs_user', { scope: 'local', by: 'user' });
    await expect(createRunner(def).create({ n: 0 })).rejects.toMatchObject({ code: 'FSM_INVALID_STATE' });
  });

  it('fails fast with FSM_LOCK_BUSY, times out with FSM_LOCK_TIMEOUT, or leaves the instance for later', async () => {
    const held = gate();
    const entered = gate();
    const store = new MemoryStore();
    const locker = new MemoryLocker();
    const def = machine<{ n: number }>(
      { name: 'busy', lock: { scope: 'local', by: 'user' } },
      { work: { order: 1 } },
      {
        work: async () => {
          entered.open();
          await held.wait;
        },
      },
    );
    const holder = createRunner(def, { store, locker });
    const first = await holder.create({ n: 0 }, { userId: 'same' });
    const second = await holder.create({ n: 0 }, { userId: 'same' });
    const running = holder.run(first.id);
    await entered.wait;

    const failFast = createRunner(def, { store, locker, lockMode: 'fail' });
    await expect(failFast.run(second.id)).rejects.toMatchObject({ code: 'FSM_LOCK_BUSY' });
    const waiting = createRunner(def, { store, locker, lockMode: 'wait', lockTimeoutMs: 30 });
    await expect(waiting.run(second.id)).rejects.toMatchObject({ code: 'FSM_LOCK_TIMEOUT' });
    const skipping = createRunner(def, { store, locker, lockMode: 'skip' });
    expect((await skipping.run(second.id)).status).toBe('ready');

    held.open();
    expect((await running).status).toBe('done');
    expect((await holder.run(second.id)).status).toBe('done');
  });

  it('a lease that is not renewed expires, and the next holder gets a larger fencing token', async () => {
    const locker = new MemoryLocker();
    const a = (await locker.acquire('k', 'a', { instanceId: 'i1', leaseMs: 20, mode: 'fail', timeoutMs: 0 }))!;
    await expect(locker.acquire('k', 'b', { instanceId: 'i2', leaseMs: 20, mode: 'fail', timeoutMs: 0 })).rejects.toMatchObject({
      code: 'FSM_LOCK_BUSY',
    });
    await new Promise((r) => setTimeout(r, 30));
    const b = (await locker.acquire('k', 'b', { instanceId: 'i2', leaseMs: 1000, mode: 'fail', timeoutMs: 0 }))!;
    expect(b.token).toBeGreaterThan(a.token);
    expect(await locker.renew(a, 1000)).toBe(false);
    expect(locker.isCurrent('k', a.token)).toBe(false);
    expect(locker.isCurrent('k', b.token)).toBe(true);
    await locker.release(a); // a stale release must not free b's lock
    expect(locker.isCurrent('k', b.token)).toBe(true);
  });

  it('an expired lease cannot be renewed even when nobody took the key since', async () => {
    const locker = new MemoryLocker();
    const lease = (await locker.acquire('k', 'a', { instanceId: 'i1', leaseMs: 20, mode: 'fail', timeoutMs: 0 }))!;
    expect(await locker.renew(lease, 20)).toBe(true);
    await new Promise((r) => setTimeout(r, 30));
    expect(await locker.renew(lease, 1000)).toBe(false);
    expect(locker.isCurrent('k', lease.token)).toBe(false);
  });

  it('a wait for a lock ends with null when its signal aborts', async () => {
    const locker = new MemoryLocker();
    const held = (await locker.acquire('k', 'a', { instanceId: 'i1', leaseMs: 10_000, mode: 'fail', timeoutMs: 0 }))!;
    const controller = new AbortController();
    const waiting = locker.acquire('k', 'b', { instanceId: 'i2', leaseMs: 1000, mode: 'wait', timeoutMs: 10_000, signal: controller.signal });
    await new Promise((r) => setTimeout(r, 10));
    const t0 = Date.now();
    controller.abort();
    expect(await waiting).toBeNull();
    expect(Date.now() - t0).toBeLessThan(100);
    // Aborted before asking: null even for a free key.
    expect(await locker.acquire('free', 'b', { instanceId: 'i3', leaseMs: 1000, mode: 'wait', timeoutMs: 1000, signal: controller.signal })).toBeNull();
    expect(locker.isCurrent('k', held.token)).toBe(true);
  });
});
