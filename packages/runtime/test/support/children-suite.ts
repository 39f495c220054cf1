/**
 * Child machines, run against every store: children spawned by a step and joined, map's
 * concurrency limit, both failure policies, compensation of children, list by parent. Workers
 * of each machine run the instances, as in production: nothing here drives a child by hand.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  createRunner,
  FsmError,
  isFsmError,
  MemoryLocker,
  type Instance,
  type MachineDefinition,
  type MachineRunner,
  type RunnerOptions,
  type Store,
  type Worker,
} from '../../src/index.js';
import type { StoreFactory, StoreFixture } from './behaviour-suite.js';
import { childrenOf } from '../../src/engine/children.js';
import type { SpawnRun } from '../../src/engine/waits.js';
import { gate, machine } from './machines.js';

let counter = 0;
const unique = (base: string) => `${base}_${process.pid % 1000}_${++counter}`;

interface Item {
  n: number;
  fail?: boolean;
  doubled?: number;
}

interface Parent {
  items: number[];
  results?: unknown[];
  log: string[];
}

const FINAL = new Set(['done', 'failed', 'compensated', 'paused']);

export function childrenSuite(label: string, factory: StoreFactory): void {
  describe(`child machines on the ${label} store`, () => {
    const fixtures: StoreFixture[] = [];
    let workers: Worker[] = [];
    afterEach(async () => {
      await Promise.all(workers.map((w) => w.stop()));
      workers = [];
    });
    afterAll(async () => {
      for (const f of fixtures) await f.cleanup();
    });

    /** One store for every machine of the test; the parent's runner knows the children's runners. */
    async function setup<P>(parent: MachineDefinition<P>, children: Array<MachineDefinition<never>>, options: RunnerOptions = {}) {
      const fixture = await factory([parent.model.name, ...children.map((c) => c.model.name)]);
      fixtures.push(fixture);
      const base = { store: fixture.store, locker: new MemoryLocker(), ...options };
      const childRunners = children.map((c) => createRunner(c, base));
      const runner = createRunner<P>(parent, { ...base, machines: childRunners });
      return { runner, childRunners, fixture };
    }

    function work(...runners: Array<MachineRunner<never> | MachineRunner<unknown>>) {
      for (const r of runners) workers.push((r as MachineRunner<unknown>).work({ concurrency: 8, pollMs: 5 }));
    }

    /** Polls until the instance stops in one of `statuses` (workers run it meanwhile). */
    async function settled<T>(runner: MachineRunner<T>, id: string, statuses: ReadonlySet<string> = FINAL): Promise<Instance<T, string>> {
      // Bounded by the test's own timeout, not a count of polls: a loaded machine is slow, not wrong.
      for (;;) {
        const got = await runner.get(id);
        if (statuses.has(got.status)) return got;
        await new Promise((r) => setTimeout(r, 10));
      }
    }

    /** A child of one step that doubles its number; `fail` makes it throw. */
    const doubler = (name: string, seen?: { running: number; peak: number }, hold?: Promise<void>) =>
      machine<Item>(
        { name },
        { double: { order: 1, back: 'undouble' } },
        {
          async double(ctx) {
            if (seen) seen.peak = Math.max(seen.peak, ++seen.running);
            try {
              await (hold ?? new Promise((r) => setTimeout(r, 2)));
              if (ctx.data.fail) throw new Error(`item ${ctx.data.n} is bad`);
              ctx.data.doubled = ctx.data.n * 2;
            } finally {
              if (seen) seen.running--;
            }
          },
          undouble: () => undefined,
        },
      );

    /** A parent of one step that maps its items to `child` and joins their doubled numbers. */
    const mapper = (name: string, child: string, concurrency: number) =>
      machine<Parent>(
        { name: unique(name) },
        { fan: { order: 1 } },
        {
          fan(ctx) {
            ctx.map(child, ctx.data.items.map((n) => ({ n })), { concurrency });
            ctx.join({ into: 'results', field: 'doubled' });
          },
        },
      );

    it('runs parallel children of two machines and reads their results, in spawn order, once all ended', async () => {
      const a = doubler(unique('child_a'));
      const b = machine<{ word: string; upper?: string }>(
        { name: unique('child_b') },
        { shout: { order: 1 } },
        { shout: (ctx) => void (ctx.data.upper = ctx.data.word.toUpperCase()) },
      );
      const parent = machine<Parent>(
        { name: unique('parallel') },
        { fork: { order: 1 }, after: { order: 2 } },
        {
          fork(ctx) {
            ctx.spawn(a.model.name, { n: 5 });
            ctx.spawn(b.model.name, { word: 'hi' });
            ctx.spawn(a.model.name, { n: 7 });
            ctx.join({ into: 'results' });
          },
          after: (ctx) => void ctx.data.log.push(`after:${ctx.data.results?.length}`),
        },
      );
      const { runner, childRunners } = await setup(parent, [a as never, b as never]);
      const started = await runner.start({ items: [], log: [] }, { userId: 'u1' });
      expect(started.status).toBe('waiting');
      expect(started.state).toBe('after');
      work(runner, ...childRunners);
      const done = await settled(runner, started.id);
      expect(done.status).toBe('done');
      expect(done.data.results).toEqual([
        { n: 5, doubled: 10 },
        { word: 'hi', upper: 'HI' },
        { n: 7, doubled: 14 },
      ]);
      expect(done.data.log).toEqual(['after:3']);

      // Linked in storage (list by parent) and in history (the spawning step names its children).
      const [history] = await runner.history(started.id);
      const spawned = history!.metadata['fsm.children'] as { visit: string; runs: SpawnRun[] };
      const named = childrenOf(started.id, spawned.visit, spawned.runs);
      expect(named.map((c) => c.machine)).toEqual([a.model.name, b.model.name, a.model.name]);
      const listedA = await childRunners[0]!.list({ parentId: started.id });
      expect(listedA.map((c) => c.id).sort()).toEqual([named[0]!.id, named[2]!.id].sort());
      const listedB = await childRunners[1]!.list({ parentId: started.id });
      expect(listedB.map((c) => c.id)).toEqual([named[1]!.id]);
      expect(await childRunners[1]!.list({ parentId: listedB[0]!.id })).toEqual([]);
      const record = await runner.store.get(b.model.name, named[1]!.id);
      expect(record).toMatchObject({ parentMachine: parent.model.name, parentId: started.id, userId: 'u1' });
    });

    it('map keeps at most `concurrency` children unfinished at once and returns results in item order', async () => {
      const seen = { running: 0, peak: 0 };
      const child = doubler(unique('mapped'), seen);
      const parent = machine<Parent>(
        { name: unique('mapper') },
        { fan: { order: 1 } },
        {
          fan(ctx) {
            const ids = ctx.map(child.model.name, ctx.data.items.map((n) => ({ n })), { concurrency: 3 });
            ctx.annotate({ ids: ids.length });
            ctx.join({ into: 'results', field: 'doubled' });
          },
        },
      );
      const { runner, childRunners } = await setup(parent, [child as never]);
      const items = Array.from({ length: 15 }, (_, i) => i + 1);
      const started = await runner.start({ items, log: [] });
      // Before any worker runs: three startable, the rest queued behind them.
      const kids = await childRunners[0]!.list({ parentId: started.id });
      expect(kids.filter((k) => k.status === 'ready')).toHaveLength(3);
      expect(kids.filter((k) => k.status === 'waiting')).toHaveLength(12);
      work(runner, ...childRunners);
      const done = await settled(runner, started.id);
      expect(done.status).toBe('done');
      expect(done.data.results).toEqual(items.map((n) => n * 2));
      expect(seen.peak).toBeLessThanOrEqual(3);
      expect(seen.peak).toBeGreaterThanOrEqual(2);
    });

    it('a join declared on the step waits as ctx.join does; a visit that spawns nothing goes straight on', async () => {
      const child = doubler(unique('declared'));
      const parent = machine<Parent>(
        { name: unique('declarer') },
        { fan: { order: 1, join: { into: 'results', field: 'doubled' } }, after: { order: 2 } },
        {
          fan(ctx) {
            ctx.map(child.model.name, ctx.data.items.map((n) => ({ n })), { concurrency: 2 });
          },
          after: (ctx) => void ctx.data.log.push(`after ${JSON.stringify(ctx.data.results ?? null)}`),
        },
      );
      expect(parent.model.steps[0]!.join).toEqual({ into: 'results', field: 'doubled' });
      const { runner, childRunners } = await setup(parent, [child as never]);
      const started = await runner.start({ items: [1, 2, 3], log: [] });
      expect(started.status).toBe('waiting');
      work(runner, ...childRunners);
      const done = await settled(runner, started.id);
      expect(done.status).toBe('done');
      expect(done.data.log).toEqual(['after [2,4,6]']);
      // No items, no children: nothing to wait for.
      const empty = await runner.start({ items: [], log: [] });
      expect(await settled(runner, empty.id)).toMatchObject({ status: 'done', data: { log: ['after null'] } });
    });

    it("a map's parent is woken once, by the last of its chains to end, not at each chain's end", async () => {
      const child = doubler(unique('chained'));
      const parent = mapper('woken', child.model.name, 4);
      const { runner, childRunners } = await setup(parent, [child as never]);
      const items = Array.from({ length: 22 }, (_, i) => i);
      const started = await runner.start({ items, log: [] });
      const parentWorker = runner.work({ concurrency: 1, pollMs: 5 });
      workers.push(parentWorker);
      work(...childRunners);
      const done = await settled(runner, started.id);
      expect(done.data.results).toEqual(items.map((n) => n * 2));
      // Each drive of the parent by a worker is a wake: one, when no child was left (counted once
      // the drive returned: stopping the worker waits for that).
      await parentWorker.stop();
      expect(parentWorker.stats.driven).toBe(1);
    });

    it("a map runs with workers that poll once an hour: the spawn and the last chain's end wake them; the parent reads its children once and ends in one commit", async () => {
      const child = doubler(unique('signalled'));
      const parent = mapper('signalling', child.model.name, 4);
      const fixture = await factory([parent.model.name, child.model.name]);
      fixtures.push(fixture);
      const real = fixture.store;
      const calls = { commits: 0, reads: 0 };
      // The real store, counting the parent's commits and its reads of the children.
      const counted: Partial<Store> = {
        commit: (c) => {
          if (c.record.machine === parent.model.name) calls.commits++;
          return real.commit(c);
        },
        list: (m, f) => {
          if (f?.parentId !== undefined) calls.reads++;
          return real.list(m, f);
        },
        children: (m, id) => {
          calls.reads++;
          return real.children!(m, id);
        },
      };
      const store = new Proxy(real, {
        get: (target, key) => {
          const own = counted[key as keyof Store];
          if (own !== undefined) return own;
          const value: unknown = Reflect.get(target, key, target);
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      const base = { store, locker: new MemoryLocker() };
      const kids = createRunner(child, base);
      const runner = createRunner<Parent>(parent, { ...base, machines: [kids as never] });
      const hour = 3_600_000;
      const parentWorker = runner.work({ concurrency: 1, pollMs: hour });
      workers.push(parentWorker, kids.work({ concurrency: 8, pollMs: hour }));
      const items = Array.from({ length: 22 }, (_, i) => i);
      const started = await runner.start({ items, log: [] });
      expect(started.status).toBe('waiting');
      const before = { ...calls };
      const done = await settled(runner, started.id);
      expect(done.data.results).toEqual(items.map((n) => n * 2));
      await parentWorker.stop();
      expect(parentWorker.stats.driven).toBe(1);
      expect(calls.commits - before.commits).toBe(1);
      expect(calls.reads - before.reads).toBe(1);
    });

    it('chains of a map that end at once in two processes still wake their parent (repeated)', async () => {
      const child = doubler(unique('racing'));
      const parent = mapper('raced', child.model.name, 2);
      const { runner, childRunners, fixture } = await setup(parent, [child as never]);
      // A second runner of the children, as another process: each chain's end may commit on either.
      const other = createRunner(child, { store: fixture.store, locker: new MemoryLocker() });
      work(runner, childRunners[0]!, other as never);
      for (let round = 0; round < 8; round++) {
        const started = await runner.start({ items: [1, 2, 3, 4], log: [] });
        const done = await settled(runner, started.id);
        expect(done.data.results).toEqual([2, 4, 6, 8]);
      }
    });

    it("fails the parent at the first failed child and pauses the others' further steps", async () => {
      const hold = gate();
      const bad = machine<Item>({ name: unique('bad') }, { boom: { order: 1 } }, { boom: () => Promise.reject(new Error('bad child')) });
      const slow = machine<Item>(
        { name: unique('slow') },
        { one: { order: 1 }, two: { order: 2 } },
        {
          one: async () => {
            await hold.wait;
          },
          two: (ctx) => void (ctx.data.doubled = 1),
        },
      );
      const parent = machine<Parent>(
        { name: unique('failfast') },
        { fork: { order: 1 }, after: { order: 2 } },
        {
          fork(ctx) {
            ctx.spawn(slow.model.name, { n: 1 });
            ctx.spawn(bad.model.name, { n: 2 });
            ctx.join({ into: 'results' });
          },
          after: (ctx) => void ctx.data.log.push('after'),
        },
      );
      const { runner, childRunners, fixture } = await setup(parent, [slow as never, bad as never]);
      const started = await runner.start({ items: [], log: [] });
      work(runner, ...childRunners);
      const failed = await settled(runner, started.id);
      expect(failed.status).toBe('failed');
      expect(failed.error?.code).toBe('FSM_CHILD_FAILED');
      expect(failed.data.log).toEqual([]);
      hold.open();
      const [slowChild] = await childRunners[0]!.list({ parentId: started.id });
      const stopped = await settled(childRunners[0]!, slowChild!.id);
      expect(stopped.status).toBe('paused');
      expect(stopped.state).toBe('two');
      expect((await fixture.store.get(slow.model.name, slowChild!.id))!.pauseReason).toMatch(/a sibling failed/);
    });

    it('collects every result and error with onChildError: collect', async () => {
      const child = doubler(unique('collected'));
      const parent = machine<Parent>(
        { name: unique('collector') },
        { fan: { order: 1 } },
        {
          fan(ctx) {
            ctx.map(child.model.name, [{ n: 1 }, { n: 2, fail: true }, { n: 3 }], { concurrency: 2 });
            ctx.join({ into: 'results', onChildError: 'collect' });
          },
        },
      );
      const { runner, childRunners } = await setup(parent, [child as never]);
      const started = await runner.start({ items: [], log: [] });
      work(runner, ...childRunners);
      const done = await settled(runner, started.id);
      expect(done.status).toBe('done');
      const results = done.data.results as Array<{ id: string; status: string; data?: Item; error?: { message: string } }>;
      expect(results.map((r) => r.status)).toEqual(['done', 'failed', 'done']);
      expect(results[0]!.data).toEqual({ n: 1, doubled: 2 });
      expect(results[1]!.error?.message).toBe('item 2 is bad');
      expect(results[2]!.data).toEqual({ n: 3, doubled: 6 });
    });

    it('compensating a parent compensates its finished children, newest first, before the step that spawned them', async () => {
      const undone: string[] = [];
      const child = machine<Item>(
        { name: unique('undoable') },
        { make: { order: 1, back: 'unmake' } },
        {
          make: (ctx) => void (ctx.data.doubled = ctx.data.n * 2),
          unmake: (ctx) => void undone.push(`child:${ctx.data.n}`),
        },
      );
      const parent = machine<Parent>(
        { name: unique('saga'), onError: 'compensate' },
        { fork: { order: 1, back: 'unfork' }, charge: { order: 2, back: 'refund' }, ship: { order: 3 } },
        {
          fork(ctx) {
            ctx.map(child.model.name, [{ n: 1 }, { n: 2 }, { n: 3 }], { concurrency: 3 });
            ctx.join();
          },
          unfork: () => void undone.push('parent:fork'),
          charge: () => undefined,
          refund: () => void undone.push('parent:charge'),
          ship: () => {
            throw new Error('no truck');
          },
        },
      );
      const { runner, childRunners } = await setup(parent, [child as never]);
      const started = await runner.start({ items: [], log: [] });
      work(runner, ...childRunners);
      const ended = await settled(runner, started.id);
      expect(ended.status).toBe('compensated');
      expect(undone).toEqual(['parent:charge', 'child:3', 'child:2', 'child:1', 'parent:fork']);
      const kids = await childRunners[0]!.list({ parentId: started.id });
      expect(kids.map((k) => k.status)).toEqual(['compensated', 'compensated', 'compensated']);
    });

    it('a map of 2,000 items names its children in a few bytes: the wait and the history row fit their columns', async () => {
      const child = doubler(unique('many'));
      const parent = mapper('big_map', child.model.name, 64);
      const { runner, childRunners, fixture } = await setup(parent, [child as never]);
      const items = Array.from({ length: 2000 }, (_, i) => i);
      const started = await runner.start({ items, log: [] });
      expect(started.status).toBe('waiting');
      expect((await fixture.store.get(parent.model.name, started.id))!.waitingFor!.length).toBeLessThan(400);
      work(runner, ...childRunners);
      const done = await settled(runner, started.id);
      expect(done.status).toBe('done');
      expect(done.data.results).toEqual(items.map((n) => n * 2));
    }, 180_000);

    it('a step retried after a failed attempt spawns its children once', async () => {
      const child = doubler(unique('once'));
      let attempts = 0;
      const parent = machine<Parent>(
        { name: unique('retrying') },
        { fork: { order: 1, retry: { maxAttempts: 3, backoffMs: 1 } } },
        {
          fork(ctx) {
            ctx.spawn(child.model.name, { n: 1 });
            ctx.spawn(child.model.name, { n: 2 });
            if (++attempts < 3) throw new Error('flaky');
            ctx.join({ into: 'results', field: 'doubled' });
          },
        },
      );
      const { runner, childRunners } = await setup(parent, [child as never]);
      const started = await runner.start({ items: [], log: [] });
      work(runner, ...childRunners);
      const done = await settled(runner, started.id);
      expect(done.data.results).toEqual([2, 4]);
      expect(await childRunners[0]!.list({ parentId: started.id })).toHaveLength(2);
    });

    it('refuses to spawn a machine the runner was not given, with a typed error', async () => {
      const parent = machine<Parent>({ name: unique('stranger') }, { fork: { order: 1 } }, { fork: (ctx) => void ctx.spawn('nobody', {}) });
      const { runner } = await setup(parent, []);
      const failed = await runner.start({ items: [], log: [] });
      expect(failed.status).toBe('failed');
      expect(failed.error?.code).toBe('FSM_CHILD_MACHINE_UNKNOWN');
      expect(() => createRunner(parent, { machines: [{} as never] })).toThrow(FsmError);
      try {
        createRunner(parent, { machines: [createRunner(doubler(unique('elsewhere')))] });
        expect.unreachable();
      } catch (error) {
        expect(isFsmError(error, 'FSM_INVALID_STATE')).toBe(true);
      }
    });
  });
}
