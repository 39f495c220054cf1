import { describe, expect, it } from 'vitest';
import { createRunner, MemoryLocker, MemoryStore, noopLogger, Worker } from '../src/index.js';
import { gate, machine } from './support/machines.js';

async function until(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('workers on the memory store', () => {
  it('claim and run every runnable instance, each exactly once', async () => {
    const runs = new Map<number, number>();
    const def = machine<{ n: number }>(
      { name: 'queued', lock: { scope: 'local', by: 'user' } },
      { a: { order: 1 }, b: { order: 2 } },
      { a: async () => void (await new Promise((r) => setTimeout(r, 1))), b: (ctx) => void runs.set(ctx.data.n, (runs.get(ctx.data.n) ?? 0) + 1) },
    );
    const store = new MemoryStore();
    const locker = new MemoryLocker();
    const producer = createRunner(def, { store, locker });
    for (let n = 0; n < 30; n++) await producer.create({ n }, { userId: `u${n % 3}` });
    const workers = [createRunner(def, { store, locker }).work({ concurrency: 3, pollMs: 5 }), createRunner(def, { store, locker }).work({ concurrency: 3, pollMs: 5 })];
    await until(async () => (await producer.list({ status: 'done' })).length === 30);
    await Promise.all(workers.map((w) => w.stop()));
    expect([...runs.values()].every((count) => count === 1)).toBe(true);
    expect(runs.size).toBe(30);
    expect(workers.every((w) => w.stats.driven > 0)).toBe(true);
  });

  it('stop() while a claim is in flight ends the worker when the claim returns, not at the next poll', async () => {
    const claimed = gate();
    let claims = 0;
    const worker = new Worker(
      {
        claim: async () => {
          claims++;
          await claimed.wait;
          return [];
        },
        drive: () => Promise.resolve(null),
        owner: 'w',
        logger: noopLogger,
      },
      { pollMs: 3_600_000 },
    );
    const stopped = worker.stop();
    claimed.open();
    await stopped;
    expect(claims).toBe(1);
  });

  it('keeps retry backoff as a durable timer that a worker honours', async () => {
    let calls = 0;
    const def = machine<{ ok?: boolean }>(
      { name: 'durable' },
      { call: { order: 1, retry: { maxAttempts: 3, backoffMs: 40 } } },
      {
        call: (ctx) => {
          calls++;
          if (ctx.attempt < 3) throw new Error(`try ${ctx.attempt}`);
          ctx.data.ok = true;
        },
      },
    );
    const store = new MemoryStore();
    const runner = createRunner(def, { store, durableTimers: true });
    const first = await runner.start({});
    expect(first.status).toBe('waiting');
    expect(first.attempts).toBe(1);
    expect(first.nextRunAt!.getTime()).toBeGreaterThan(Date.now());
    // Not due yet: nothing to claim.
    expect(await store.claim(def.model.name, { owner: 'x', limit: 10, leaseMs: 1 })).toEqual([]);
    const worker = runner.work({ pollMs: 5 });
    await until(async () => (await runner.get(first.id)).status === 'done');
    await worker.stop();
    expect(calls).toBe(3);
    expect((await runner.history(first.id)).map((h) => h.attempt)).toEqual([1, 2, 3]);
  });

  it('stop() finishes the step in flight, leaves the instance waiting, and another worker continues it', async () => {
    const held = gate();
    const entered = gate();
    const seen: string[] = [];
    const def = machine<{ n: number }>(
      { name: 'handover' },
      { one: { order: 1 }, two: { order: 2 } },
      {
        one: async () => {
          entered.open();
          await held.wait;
          seen.push('one');
        },
        two: () => void seen.push('two'),
      },
    );
    const store = new MemoryStore();
    const first = createRunner(def, { store });
    const created = await first.create({ n: 0 });
    const worker = first.work({ pollMs: 5 });
    await entered.wait;
    const stopping = worker.stop();
    held.open();
    await stopping;
    const between = await first.get(created.id);
    expect([between.status, between.state]).toEqual(['waiting', 'two']);
    const second = createRunner(def, { store }).work({ pollMs: 5 });
    await until(async () => (await first.get(created.id)).status === 'done');
    await second.stop();
    expect(seen).toEqual(['one', 'two']);
  });

  it('takes over an instance whose runner died mid-run once its lease expires', async () => {
    const def = machine<{ n: number }>({ name: 'orphan' }, { one: { order: 1 } }, { one: (ctx) => void (ctx.data.n = 1) });
    const store = new MemoryStore();
    const runner = createRunner(def, { store });
    const created = await runner.create({ n: 0 });
    // A process that marked it running and died: its lease runs out 20 ms later.
    const rec = (await store.get(def.model.name, created.id))!;
    await store.commit({
      record: { ...rec, status: 'running', leaseOwner: 'dead', leaseExpiresAt: new Date(Date.now() + 20) },
      expectedVersion: rec.version,
      history: [],
      events: [],
    });
    expect(await store.claim(def.model.name, { owner: 'w', limit: 5, leaseMs: 1000 })).toEqual([]);
    await new Promise((r) => setTimeout(r, 30));
    const worker = runner.work({ pollMs: 5 });
    await until(async () => (await runner.get(created.id)).status === 'done');
    await worker.stop();
    expect((await runner.get(created.id)).data.n).toBe(1);
  });

  it('never takes over a step that outlasts the instance lease while its process lives: the drive renews it', async () => {
    const slow = gate();
    let runs = 0;
    const def = machine<{ n: number }>(
      { name: 'longstep' },
      { long: { order: 1 }, after: { order: 2 } },
      {
        long: async (ctx) => {
          runs++;
          await slow.wait;
          ctx.data.n = 1;
        },
        after: (ctx) => void (ctx.data.n += 1),
      },
    );
    const store = new MemoryStore();
    // Renewed every third of it: room enough for timers late by a loaded machine.
    const leaseMs = 240;
    const driving = createRunner(def, { store, instanceLeaseMs: leaseMs, owner: 'driver' }).start({ n: 0 });
    const other = createRunner(def, { store, instanceLeaseMs: leaseMs, owner: 'other' });
    const worker = other.work({ pollMs: 5 });
    // Five leases long: without renewal the worker would claim it and run the step again.
    await new Promise((r) => setTimeout(r, leaseMs * 5));
    const [running] = await other.list();
    expect(running).toMatchObject({ status: 'running', version: 2 });
    slow.open();
    const done = await driving;
    await worker.stop();
    expect([done.status, done.data.n, runs]).toEqual(['done', 2, 1]);
    expect(worker.stats.driven).toBe(0);
    expect((await other.history(done.id)).map((h) => h.step)).toEqual(['long', 'after']);
  });

  it('stop() gives back a claimed instance that waits for a lock, without running or marking it', async () => {
    const held = gate();
    const entered = gate();
    const def = machine<{ n: number }>(
      { name: 'giveback', lock: { scope: 'local', by: 'user' } },
      { one: { order: 1 } },
      {
        one: async (ctx) => {
          if (ctx.data.n === 0) {
            entered.open();
            await held.wait;
          }
        },
      },
    );
    const store = new MemoryStore();
    const locker = new MemoryLocker();
    const runner = createRunner(def, { store, locker });
    const first = await runner.create({ n: 0 }, { userId: 'same' });
    const worker = runner.work({ concurrency: 2, pollMs: 5 });
    await entered.wait;
    const second = await runner.create({ n: 1 }, { userId: 'same' });
    await until(async () => (await store.get(def.model.name, second.id))?.leaseOwner != null);
    const stopping = worker.stop();
    // The waiter gave up at once: only the step in flight holds the stop back.
    await until(async () => (await store.get(def.model.name, second.id))?.leaseOwner === null);
    held.open();
    await stopping;
    const rec = (await store.get(def.model.name, second.id))!;
    expect([rec.status, rec.version, rec.leaseExpiresAt]).toEqual(['ready', second.version, null]);
    expect((await runner.get(first.id)).status).toBe('done');
  });
});
