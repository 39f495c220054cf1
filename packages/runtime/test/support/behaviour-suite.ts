/**
 * Everything the runtime promises, written once and run against every store: the memory store
 * here, the MySQL store in @fsmkit/mysql. A store factory gets the machine names the test
 * uses, so a store with tables can create them.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type {
  MemorySink} from '../../src/index.js';
import {
  createRunner,
  FsmError,
  MemoryLocker,
  type Instance,
  type MachineDefinition,
  type StepContext,
  type RunnerOptions,
  type Store,
} from '../../src/index.js';
import { gate, machine, orderMachine, type OrderData } from './machines.js';

export interface StoreFixture {
  store: Store;
  /** Writes a raw serialized_state for an instance, bypassing the runtime (to test corrupt rows). */
  corrupt(machine: string, id: string, text: string): Promise<void>;
  /** Sink that sees the events the store committed (the memory store's sink, or the MySQL outbox read back). */
  committedEvents(instanceId: string): Promise<Array<{ type: string; sequence: number; from: string; to: string }>>;
  cleanup(): Promise<void>;
}

export type StoreFactory = (machines: string[]) => Promise<StoreFixture>;

let counter = 0;
/** A fresh machine name per test, so tests never see each other's instances. */
const unique = (base: string) => `${base}_${process.pid % 1000}_${++counter}`;

export function behaviourSuite(label: string, factory: StoreFactory): void {
  describe(`runtime behaviour on the ${label} store`, () => {
    const fixtures: StoreFixture[] = [];
    afterAll(async () => {
      for (const f of fixtures) await f.cleanup();
    });
    async function setup<T>(def: MachineDefinition<T>, options: RunnerOptions = {}) {
      const fixture = await factory([def.model.name]);
      fixtures.push(fixture);
      const runner = createRunner<T>(def, { store: fixture.store, locker: new MemoryLocker(), ...options });
      return { runner, fixture };
    }
    const order = (extra = {}) => orderMachine(unique('order'), extra);
    const newOrder = (): OrderData => ({ orderId: 'o-1', amount: 42, log: [] });

    it('runs steps in order, carries data across them and records one history entry per handler', async () => {
      const { runner } = await setup(order());
      const paused = await runner.start(newOrder(), { userId: 'u1' });
      expect(paused.status).toBe('paused');
      expect(paused.state).toBe('charge');
      expect(paused.resumeFromStep).toBe(3);
      expect(paused.pauseReason).toBe('waiting for payment');
      expect(paused.data.log).toEqual(['reserve', 'await']);

      const done = await runner.resume(paused.id, { paymentId: 'p-9' });
      expect(done.status).toBe('done');
      expect(done.state).toBe('done');
      expect(done.resumeFromStep).toBeNull();
      expect(done.data).toEqual({ orderId: 'o-1', amount: 42, paymentId: 'p-9', log: ['reserve', 'await', 'charge:p-9', 'ship'] });

      const history = await runner.history(done.id);
      expect(history.map((h) => [h.seq, h.handler, h.direction, h.stateBefore, h.stateAfter])).toEqual([
        [1, 'reserveStock', 'forward', 'reserveStock', 'awaitPayment'],
        [2, 'awaitPayment', 'forward', 'awaitPayment', 'charge'],
        [3, 'charge', 'forward', 'charge', 'ship'],
        [4, 'ship', 'forward', 'ship', 'done'],
      ]);
      expect(history[2]!.dataBefore.log).toEqual(['reserve', 'await']);
      expect(history[2]!.dataAfter.log).toEqual(['reserve', 'await', 'charge:p-9']);
      expect(history[2]!.metadata).toEqual({ charged: 42 });
      for (const h of history) {
        expect(h.error).toBeNull();
        expect(h.finishedAt.getTime()).toBeGreaterThanOrEqual(h.startedAt.getTime());
      }
    });

    it('moves backward one step with back() and all the way with compensate(), newest first', async () => {
      const { runner } = await setup(order());
      const paused = await runner.start({ ...newOrder(), paymentId: 'p-1' }, { userId: 'u1' });
      expect(paused.status).toBe('done');

      const one = await runner.back(paused.id);
      expect(one.direction).toBe('backward');
      // One step back, then it stays until the next call (workers leave an idle instance alone).
      expect(one.status).toBe('idle');
      // ship has nothing to undo: back() undid charge, and the cursor is at the next step to undo.
      expect(one.state).toBe('reserveStock');
      expect(one.data.log.at(-1)).toBe('refund');
      const all = await runner.compensate(paused.id);
      expect(all.status).toBe('compensated');
      expect(all.state).toBe('compensated');
      expect(all.data.log).toEqual(['reserve', 'await', 'charge:p-1', 'ship', 'refund', 'release']);
      const back = (await runner.history(paused.id)).filter((h) => h.direction === 'backward');
      expect(back.map((h) => h.handler)).toEqual(['refund', 'releaseStock']);
    });

    it('compensates only the steps that completed', async () => {
      const { runner } = await setup(order());
      const paused = await runner.start(newOrder(), { userId: 'u1' });
      const compensated = await runner.compensate(paused.id);
      expect(compensated.status).toBe('compensated');
      expect(compensated.data.log).toEqual(['reserve', 'await', 'release']);
    });

    it('pause(id) from outside takes effect at the next step boundary, and resume continues from there', async () => {
      const held = gate();
      const entered = gate();
      const def = machine<{ n: number }>(
        { name: unique('slow') },
        { one: { order: 1 }, two: { order: 2 }, three: { order: 3 } },
        {
          one: async (ctx) => {
            entered.open();
            await held.wait;
            ctx.data.n += 1;
          },
          two: (ctx) => void (ctx.data.n += 10),
          three: (ctx) => void (ctx.data.n += 100),
        },
      );
      const { runner, fixture } = await setup(def);
      // A second runner on the same store stands in for another process.
      const elsewhere = createRunner(def, { store: fixture.store });
      const created = await runner.create({ n: 0 });
      const running = runner.run(created.id);
      await entered.wait;
      const asked = await elsewhere.pause(created.id, 'operator');
      expect(asked.status).toBe('running');
      expect(asked.pauseRequested).toBe(true);
      held.open();
      const paused = await running;
      expect(paused.status).toBe('paused');
      expect(paused.state).toBe('two');
      expect(paused.pauseReason).toBe('operator');
      expect(paused.data.n).toBe(1);
      await expect(runner.run(created.id)).rejects.toMatchObject({ code: 'FSM_INVALID_STATE' });
      const done = await elsewhere.resume(created.id, { n: 5 });
      expect(done.status).toBe('done');
      expect(done.data.n).toBe(115);
      expect(done.pauseRequested).toBe(false);
    });

    it('pause(id) on an idle instance pauses it at once', async () => {
      const { runner } = await setup(order({ immediate: false }));
      const waiting = await runner.start(newOrder(), { userId: 'u1' });
      expect(waiting.status).toBe('waiting');
      const paused = await runner.pause(waiting.id, 'hold');
      expect(paused.status).toBe('paused');
      expect((await runner.get(waiting.id)).status).toBe('paused');
    });

    it('immediate: false stops in waiting after each step until next(id)', async () => {
      const { runner } = await setup(order({ immediate: false }));
      const a = await runner.start({ ...newOrder(), paymentId: 'p' }, { userId: 'u1' });
      expect([a.status, a.state]).toEqual(['waiting', 'awaitPayment']);
      const b = await runner.next(a.id);
      // next(id) is one step by a caller: the instance then stays idle, out of workers' reach.
      expect([b.status, b.state]).toEqual(['idle', 'charge']);
      const c = await runner.run(a.id); // run also stops after one step: the machine is step-at-a-time
      expect([c.status, c.state]).toEqual(['waiting', 'ship']);
      const d = await runner.next(a.id);
      expect([d.status, d.state]).toEqual(['done', 'done']);
    });

    it('a step with immediate: false stops there; next(id) runs exactly one step on an immediate machine', async () => {
      const def = machine<{ seen: string[] }>(
        { name: unique('mixed') },
        { a: { order: 1 }, b: { order: 2, immediate: false }, c: { order: 3 }, d: { order: 4 } },
        {
          a: (ctx) => void ctx.data.seen.push('a'),
          b: (ctx) => void ctx.data.seen.push('b'),
          c: (ctx) => void ctx.data.seen.push('c'),
          d: (ctx) => void ctx.data.seen.push('d'),
        },
      );
      const { runner } = await setup(def);
      const first = await runner.start({ seen: [] });
      expect([first.status, first.state, first.data.seen]).toEqual(['waiting', 'c', ['a', 'b']]);
      const one = await runner.next(first.id);
      expect([one.status, one.state, one.data.seen]).toEqual(['idle', 'd', ['a', 'b', 'c']]);
      expect((await runner.run(first.id)).status).toBe('done');
    });

    it('retries a throwing step per its policy, discarding what failed attempts changed', async () => {
      let calls = 0;
      const def = machine<{ tries: number[]; ok?: boolean }>(
        { name: unique('flaky') },
        { call: { order: 1, retry: { maxAttempts: 3, backoffMs: 1 } } },
        {
          call: (ctx) => {
            calls++;
            ctx.data.tries.push(ctx.attempt);
            if (ctx.attempt < 3) throw new Error(`boom ${ctx.attempt}`);
            ctx.data.ok = true;
          },
        },
      );
      const { runner } = await setup(def);
      const done = await runner.start({ tries: [] });
      expect(calls).toBe(3);
      expect(done.status).toBe('done');
      expect(done.data).toEqual({ tries: [3], ok: true });
      const history = await runner.history(done.id);
      expect(history.map((h) => [h.attempt, h.error?.message ?? null])).toEqual([
        [1, 'boom 1'],
        [2, 'boom 2'],
        [3, null],
      ]);
    });

    it('fails the instance after the last attempt, keeps the last good data, and resume retries the step', async () => {
      let broken = true;
      const def = machine<{ log: string[] }>(
        { name: unique('failing') },
        { first: { order: 1 }, second: { order: 2, retry: { maxAttempts: 2 } }, third: { order: 3 } },
        {
          first: (ctx) => void ctx.data.log.push('first'),
          second: (ctx) => {
            ctx.data.log.push('second');
            if (broken) throw new TypeError('card declined');
          },
          third: (ctx) => void ctx.data.log.push('third'),
        },
      );
      const { runner } = await setup(def);
      const failed = await runner.start({ log: [] });
      expect(failed.status).toBe('failed');
      expect(failed.state).toBe('second');
      expect(failed.resumeFromStep).toBe(2);
      expect(failed.error).toMatchObject({ name: 'TypeError', message: 'card declined' });
      expect(failed.data.log).toEqual(['first']);
      expect((await runner.get(failed.id)).data.log).toEqual(['first']);
      const errors = (await runner.history(failed.id)).filter((h) => h.error);
      expect(errors).toHaveLength(2);
      await expect(runner.run(failed.id)).rejects.toMatchObject({ code: 'FSM_INVALID_STATE' });

      broken = false;
      const done = await runner.resume(failed.id);
      expect(done.status).toBe('done');
      expect(done.error).toBeNull();
      expect(done.data.log).toEqual(['first', 'second', 'third']);
    });

    it("onError: 'compensate' runs backward when a step fails for good", async () => {
      const def = machine<{ log: string[] }>(
        { name: unique('saga'), onError: 'compensate' },
        { a: { order: 1, back: 'undoA' }, b: { order: 2, back: 'undoB' }, c: { order: 3 } },
        {
          a: (ctx) => void ctx.data.log.push('a'),
          b: (ctx) => void ctx.data.log.push('b'),
          c: () => {
            throw new Error('no stock');
          },
          undoA: (ctx) => void ctx.data.log.push('undoA'),
          undoB: (ctx) => void ctx.data.log.push('undoB'),
        },
      );
      const { runner } = await setup(def);
      const result = await runner.start({ log: [] });
      expect(result.status).toBe('compensated');
      expect(result.data.log).toEqual(['a', 'b', 'undoB', 'undoA']);
    });

    it('fails a step that exceeds timeoutMs with FSM_STEP_TIMEOUT', async () => {
      const def = machine<{ x: number }>(
        { name: unique('slowstep') },
        { wait: { order: 1, timeoutMs: 20 } },
        { wait: (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)) },
      );
      const { runner } = await setup(def);
      const failed = await runner.start({ x: 1 });
      expect(failed.status).toBe('failed');
      expect(failed.error?.code).toBe('FSM_STEP_TIMEOUT');
    });

    it('saveAfterStep on writes the store after every step; off, only when the instance stops', async () => {
      for (const saveAfterStep of [true, false]) {
        const held = gate();
        const entered = gate();
        const def = machine<{ n: number }>(
          { name: unique('save'), saveAfterStep },
          { one: { order: 1 }, two: { order: 2 } },
          {
            one: (ctx) => void (ctx.data.n = 1),
            two: async (ctx) => {
              entered.open();
              await held.wait;
              ctx.data.n = 2;
            },
          },
        );
        const { runner, fixture } = await setup(def);
        const created = await runner.create({ n: 0 });
        const running = runner.run(created.id);
        await entered.wait;
        const midway = await runner.get(created.id);
        const midHistory = await fixture.store.history(def.model.name, created.id);
        held.open();
        const done = await running;
        if (saveAfterStep) {
          expect([midway.state, midway.data.n, midHistory.length]).toEqual(['two', 1, 1]);
        } else {
          expect([midway.state, midway.data.n, midHistory.length]).toEqual(['one', 0, 0]);
        }
        expect([done.status, done.data.n]).toEqual(['done', 2]);
        expect(await runner.history(created.id)).toHaveLength(2);
        expect(done.saveAfterStep).toBe(saveAfterStep);
      }
    });

    it('keeps Date, BigInt, Map, Set and undefined through the store and an export/import round trip', async () => {
      interface Rich {
        at: Date;
        big: bigint;
        tags: Set<string>;
        prices: Map<string, number>;
        maybe?: string | undefined;
        checked?: boolean;
      }
      const def = machine<Rich>(
        { name: unique('rich') },
        { first: { order: 1 }, hold: { order: 2 }, check: { order: 3 } },
        {
          first: (ctx) => void ctx.data.tags.add('b'),
          hold: (ctx) => ctx.pause('export me'),
          check: (ctx) => {
            // Types survived: methods of Date, Map, Set and bigint arithmetic work here.
            ctx.data.checked =
              ctx.data.at.getUTCFullYear() === 2026 && ctx.data.prices.get('x') === 1.5 && ctx.data.tags.has('b') && ctx.data.big + 1n === 9007199254740993n;
          },
        },
      );
      const { runner } = await setup(def);
      const paused = await runner.start({
        at: new Date('2026-11-22T10:00:00.123Z'),
        big: 9007199254740992n,
        tags: new Set(['a']),
        prices: new Map([['x', 1.5]]),
        maybe: undefined,
      });
      const loaded = await runner.get(paused.id);
      expect(loaded.data.at).toEqual(new Date('2026-11-22T10:00:00.123Z'));
      expect(loaded.data.big).toBe(9007199254740992n);
      expect(loaded.data.tags).toEqual(new Set(['a', 'b']));
      expect(loaded.data.prices).toEqual(new Map([['x', 1.5]]));
      expect('maybe' in loaded.data).toBe(true);

      const exported = await runner.exportInstance(paused.id);
      const other = await setup(def);
      const imported = await other.runner.importInstance(exported);
      expect(imported.status).toBe('paused');
      expect(await other.runner.history(paused.id)).toHaveLength(2);
      const done = await other.runner.resume(paused.id);
      expect(done.status).toBe('done');
      expect(done.data.checked).toBe(true);
    });

    it('throws typed errors: unknown id, stale writer, unreadable data (other instances unaffected)', async () => {
      const def = order();
      const { runner, fixture } = await setup(def);
      await expect(runner.get('01900000-0000-7000-8000-000000000000')).rejects.toMatchObject({ code: 'FSM_NOT_FOUND' });

      const a = await runner.create(newOrder(), { userId: 'u1' });
      const stale = (await fixture.store.get(def.model.name, a.id))!;
      await runner.run(a.id);
      const error = await fixture.store
        .commit({ record: { ...stale, version: stale.version + 1 }, expectedVersion: stale.version, history: [], events: [] })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FsmError);
      expect((error as FsmError).code).toBe('FSM_STALE_VERSION');
      expect((await runner.get(a.id)).status).toBe('paused'); // the stale write changed nothing

      const b = await runner.create(newOrder(), { userId: 'u2' });
      await fixture.corrupt(def.model.name, b.id, '{not json');
      const unreadable = await runner.get(b.id).catch((e: unknown) => e);
      expect(unreadable).toMatchObject({ code: 'FSM_DESERIALIZE' });
      expect((unreadable as Error).message).toContain(b.id);
      expect((unreadable as Error).message).toContain(def.model.name);
      const listed = await runner.list();
      expect(listed.map((i) => [i.id, i.dataError?.code])).toEqual([
        [a.id, undefined],
        [b.id, 'FSM_DESERIALIZE'],
      ]);
      expect((await runner.resume(a.id, { paymentId: 'p' })).status).toBe('done');
    });

    it('refuses an instance whose definition changed incompatibly, and accepts a compatible change', async () => {
      const name = unique('evolve');
      const v1 = machine<{ log: string[] }>(
        { name },
        { a: { order: 1 }, b: { order: 2 } },
        { a: (ctx) => ctx.pause('hold'), b: (ctx) => void ctx.data.log.push('b') },
      );
      const { runner, fixture } = await setup(v1);
      const stuck = await runner.start({ log: [] });
      const fine = await runner.start({ log: [] });
      expect([stuck.state, fine.state]).toEqual(['b', 'b']);

      const renamed = machine<{ log: string[] }>(
        { name, version: 2 },
        { a: { order: 1 }, bee: { order: 2 } },
        { a: () => {}, bee: (ctx) => void ctx.data.log.push('bee') },
      );
      const v2 = createRunner(renamed, { store: fixture.store });
      const error = await v2.resume(stuck.id).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'FSM_DEFINITION_CHANGED' });
      expect((error as Error).message).toContain('"b"');
      expect((error as Error).message).toMatch(/Ways forward/);

      const extended = machine<{ log: string[] }>(
        { name, version: 3 },
        { a: { order: 1 }, b: { order: 2 }, c: { order: 3 } },
        { a: () => {}, b: (ctx) => void ctx.data.log.push('b'), c: (ctx) => void ctx.data.log.push('c') },
      );
      const v3 = createRunner(extended, { store: fixture.store });
      const done = await v3.resume(fine.id);
      expect(done.status).toBe('done');
      expect(done.data.log).toEqual(['b', 'c']);
      expect(done.definitionVersion).toBe(3);
    });

    it('lets an instance that is compensating continue backward after a compatible change', async () => {
      const name = unique('evolveback');
      const steps = { a: { order: 1, back: 'undoA' }, b: { order: 2, back: 'undoB' } };
      const methods = {
        a: (ctx: { data: { log: string[] } }) => void ctx.data.log.push('a'),
        b: (ctx: { data: { log: string[] } }) => void ctx.data.log.push('b'),
        undoA: (ctx: { data: { log: string[] } }) => void ctx.data.log.push('undoA'),
        undoB: (ctx: { data: { log: string[] } }) => void ctx.data.log.push('undoB'),
      };
      const { runner, fixture } = await setup(machine<{ log: string[] }>({ name }, steps, methods));
      const done = await runner.start({ log: [] });
      const halfway = await runner.back(done.id);
      expect([halfway.direction, halfway.state]).toEqual(['backward', 'a']);

      const extended = machine<{ log: string[] }>(
        { name, version: 2 },
        { ...steps, c: { order: 3 } },
        { ...methods, c: (ctx) => void ctx.data.log.push('c') },
      );
      const v2 = createRunner(extended, { store: fixture.store });
      const compensated = await v2.compensate(done.id);
      expect(compensated.status).toBe('compensated');
      expect(compensated.data.log).toEqual(['a', 'b', 'undoB', 'undoA']);
    });

    it('stores exactly the instance each call returns, through pauses, failures, retries, compensation and a new version', async () => {
      // Commits may write only the fields that changed: every field must still reach the store.
      const name = unique('mirror');
      let declined = true;
      const steps = {
        reserve: { order: 1, back: 'release' },
        pay: { order: 2, back: 'refund', retry: { maxAttempts: 2, backoffMs: 1 }, immediate: false },
        ship: { order: 3 },
      };
      const methods = {
        reserve: (ctx: StepContext<{ log: string[] }>) => {
          ctx.data.log.push('reserve');
          ctx.pause('approve');
        },
        pay: (ctx: StepContext<{ log: string[] }>) => {
          if (declined) throw new Error(`declined ${ctx.attempt}`);
          ctx.data.log.push('pay');
        },
        ship: (ctx: StepContext<{ log: string[] }>) => void ctx.data.log.push('ship'),
        release: (ctx: StepContext<{ log: string[] }>) => void ctx.data.log.push('release'),
        refund: (ctx: StepContext<{ log: string[] }>) => void ctx.data.log.push('refund'),
      };
      const { runner, fixture } = await setup(machine<{ log: string[] }>({ name, topic: 'mirror' }, steps, methods));
      const stored = async (returned: Instance<{ log: string[] }>) => {
        const read = await runner.get(returned.id);
        // Due times are stored against the database's clock (a delay from its now), so a store
        // on another host keeps them to within the clocks' difference, not to the millisecond.
        expect(Math.abs((read.nextRunAt?.getTime() ?? 0) - (returned.nextRunAt?.getTime() ?? 0))).toBeLessThan(1000);
        expect({ ...read, nextRunAt: null }).toEqual({ ...returned, nextRunAt: null });
        return returned;
      };

      const paused = await stored(await runner.start({ log: [] }, { userId: 'u-1' }));
      expect([paused.status, paused.pauseReason]).toEqual(['paused', 'approve']);
      const failed = await stored(await runner.resume(paused.id, { log: ['reserve', 'approved'] }));
      expect([failed.status, failed.error?.message, failed.resumeFromStep]).toEqual(['failed', 'declined 2', 2]);
      declined = false;
      const waiting = await stored(await runner.resume(paused.id));
      expect([waiting.status, waiting.state, waiting.error]).toEqual(['waiting', 'ship', null]);
      const back = await stored(await runner.back(paused.id));
      expect([back.direction, back.state]).toEqual(['backward', 'reserve']);

      // A compatible new version (one step more): the instance takes its hash and version on.
      const v2 = createRunner(machine<{ log: string[] }>({ name, version: 2, topic: 'mirror' }, { ...steps, archive: { order: 4 } }, { ...methods, archive: () => {} }), {
        store: fixture.store,
      });
      const compensated = await v2.compensate(paused.id);
      expect(await v2.get(paused.id)).toEqual(compensated);
      expect([compensated.status, compensated.definitionVersion, compensated.resumeFromStep]).toEqual(['compensated', 2, null]);
      expect(compensated.definitionHash).not.toBe(paused.definitionHash);
      expect(compensated.data.log).toEqual(['reserve', 'approved', 'pay', 'refund', 'release']);
    });

    it('compensates in the order the steps ran, also under a version that reorders them', async () => {
      const name = unique('reorderback');
      const log = (step: string) => (ctx: StepContext<{ log: string[] }>) => void ctx.data.log.push(step);
      const methods = { a: log('a'), b: log('b'), c: log('c'), undoA: log('undoA'), undoB: log('undoB'), undoC: log('undoC') };
      const v1 = { a: { order: 1, back: 'undoA' }, b: { order: 2, back: 'undoB' }, c: { order: 3, back: 'undoC' } };
      const { runner, fixture } = await setup(machine<{ log: string[] }>({ name }, v1, methods));
      const done = await runner.start({ log: [] });
      expect((await runner.back(done.id)).state).toBe('b');

      // a and b, both still to undo, swap places: compensation follows history, not the new order.
      const swapped = { a: { order: 2, back: 'undoA' }, b: { order: 1, back: 'undoB' }, c: { order: 3, back: 'undoC' } };
      const v2 = createRunner(machine<{ log: string[] }>({ name, version: 2 }, swapped, methods), { store: fixture.store });
      const compensated = await v2.compensate(done.id);
      expect(compensated.status).toBe('compensated');
      expect(compensated.data.log).toEqual(['a', 'b', 'c', 'undoC', 'undoB', 'undoA']);
    });

    it('commits one event per state change, in order, when the machine has a topic', async () => {
      const def = order({ topic: 'orders.fsm' });
      const { runner, fixture } = await setup(def);
      const paused = await runner.start(newOrder(), { userId: 'u1' });
      await runner.resume(paused.id, { paymentId: 'p' });
      const events = await fixture.committedEvents(paused.id);
      expect(events.map((e) => [e.sequence, e.type, e.from, e.to])).toEqual([
        [1, 'instance.created', '', 'reserveStock'],
        [2, 'step.completed', 'reserveStock', 'awaitPayment'],
        [3, 'step.completed', 'awaitPayment', 'charge'],
        [4, 'instance.paused', 'charge', 'charge'],
        [5, 'instance.resumed', 'charge', 'charge'],
        [6, 'step.completed', 'charge', 'ship'],
        [7, 'step.completed', 'ship', 'done'],
        [8, 'instance.done', 'done', 'done'],
      ]);
      const quiet = await setup(order());
      const q = await quiet.runner.start(newOrder(), { userId: 'u1' });
      expect(await quiet.fixture.committedEvents(q.id)).toEqual([]);
    });

    it('lists by user, status and state with paging, and reads many current states at once', async () => {
      const def = order({ immediate: false });
      const { runner } = await setup(def);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await runner.create(newOrder(), { userId: i % 2 ? 'odd' : 'even' })).id);
      await runner.next(ids[0]!);
      await runner.next(ids[2]!);
      expect((await runner.list({ userId: 'even' })).map((i) => i.id)).toEqual([ids[0], ids[2], ids[4]]);
      expect((await runner.list({ status: 'idle' })).map((i) => i.id)).toEqual([ids[0], ids[2]]);
      expect((await runner.list({ currentState: 'reserveStock', order: 'desc', limit: 2 })).map((i) => i.id)).toEqual([ids[4], ids[3]]);
      expect((await runner.list({ limit: 2, offset: 1 })).map((i) => i.id)).toEqual([ids[1], ids[2]]);
      const states = await runner.currentStates([ids[0]!, ids[1]!, 'missing']);
      expect([...states.entries()]).toEqual([
        [ids[0], 'awaitPayment'],
        [ids[1], 'reserveStock'],
      ]);
    });

    it('gives instances time-ordered UUIDv7 ids', async () => {
      const { runner } = await setup(order());
      const a = await runner.create(newOrder(), { userId: 'u' });
      const b = await runner.create(newOrder(), { userId: 'u' });
      expect(a.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(a.id < b.id).toBe(true);
    });
  });
}

/** Collects events for stores without an outbox of their own. */
export function sinkEvents(sink: MemorySink) {
  return async (instanceId: string) => sink.of(instanceId);
}
