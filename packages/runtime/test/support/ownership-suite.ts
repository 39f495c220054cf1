/**
 * One owner per running instance, on every store: a call that would drive an instance another
 * drive holds is refused, or recorded as a request its owner honours. A second runner on the
 * same store stands in for another process (with real processes: packages/mysql/test).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createRunner, FsmError, type Locker, type MachineDefinition, type RunnerOptions, type StepContext, type Store } from '../../src/index.js';
import { gate, machine } from './machines.js';

export interface OwnershipFixture {
  store: Store;
  /** The locker the store's commits check (a new in-process one for the memory store). */
  locker: Locker;
  cleanup(): Promise<void>;
}

/** A store (with its locker) holding the tables of `machines`. */
export type OwnershipFactory = (machines: string[]) => Promise<OwnershipFixture>;

interface Saga {
  log: string[];
}

const until = async (check: () => boolean | Promise<boolean>, ms = 3000) => {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** reserve, charge (held on a gate), ship; each with its undo, as a payment saga. */
function saga(name: string, charging: { wait: Promise<void> }, entered: () => void) {
  return machine<Saga>(
    { name },
    { reserve: { order: 1, back: 'release' }, charge: { order: 2, back: 'refund' }, ship: { order: 3 } },
    {
      reserve: (ctx) => void ctx.data.log.push('reserve'),
      charge: async (ctx) => {
        ctx.data.log.push('charge:start');
        entered();
        await charging.wait;
        ctx.data.log.push('charge:end');
      },
      ship: (ctx) => void ctx.data.log.push('ship'),
      release: (ctx) => void ctx.data.log.push('release'),
      refund: (ctx) => void ctx.data.log.push('refund'),
    },
  );
}

export function ownershipSuite(label: string, factory: OwnershipFactory): void {
const fixtures: OwnershipFixture[] = [];
const setup = async (...machines: string[]) => {
  const fixture = await factory(machines);
  fixtures.push(fixture);
  return fixture;
};
afterAll(async () => {
  for (const f of fixtures) await f.cleanup();
});

describe(`one owner per running instance (${label} store)`, () => {
  it('1. resume(id) from a second runner while a worker runs a step is refused: the step runs once', async () => {
    const { store, locker } = await setup('own_resume');
    const charging = gate();
    let charges = 0;
    const def = saga('own_resume', charging, () => charges++);
    const a = createRunner(def, { store, locker });
    const b = createRunner(def, { store, locker });
    const created = await a.create({ log: [] });
    const worker = a.work({ pollMs: 5 });
    await until(() => charges === 1);
    await expect(b.resume(created.id)).rejects.toMatchObject({ code: 'FSM_INSTANCE_BUSY' });
    await expect(b.run(created.id)).rejects.toMatchObject({ code: 'FSM_INSTANCE_BUSY' });
    await expect(b.next(created.id)).rejects.toMatchObject({ code: 'FSM_INSTANCE_BUSY' });
    charging.open();
    await until(async () => (await b.get(created.id)).status === 'done');
    await worker.stop();
    expect(charges).toBe(1);
    expect((await b.get(created.id)).data.log).toEqual(['reserve', 'charge:start', 'charge:end', 'ship']);
  });

  it('2. compensate(id) during a forward step is refused; afterwards it undoes everything, refund included', async () => {
    const { store, locker } = await setup('own_compensate');
    const charging = gate();
    const entered = gate();
    const def = saga('own_compensate', charging, entered.open);
    const a = createRunner(def, { store, locker });
    const b = createRunner(def, { store, locker });
    const created = await a.create({ log: [] });
    const running = a.run(created.id);
    await entered.wait;
    await expect(b.compensate(created.id)).rejects.toMatchObject({ code: 'FSM_INSTANCE_BUSY' });
    await expect(b.back(created.id)).rejects.toMatchObject({ code: 'FSM_INSTANCE_BUSY' });
    // The same runner is held off too: it is the one driving.
    await expect(a.compensate(created.id)).rejects.toMatchObject({ code: 'FSM_INSTANCE_BUSY' });
    charging.open();
    expect((await running).status).toBe('done');
    const undone = await b.compensate(created.id);
    expect(undone.status).toBe('compensated');
    expect(undone.data.log).toEqual(['reserve', 'charge:start', 'charge:end', 'ship', 'refund', 'release']);
  });

  it('3. back(id) and next(id) mean one step under workers too: the instance stays idle', async () => {
    const { store, locker } = await setup('own_step');
    const def = machine<Saga>(
      { name: 'own_step', immediate: false },
      { a: { order: 1, back: 'undoA' }, b: { order: 2, back: 'undoB' }, c: { order: 3 } },
      {
        a: (ctx) => void ctx.data.log.push('a'),
        b: (ctx) => void ctx.data.log.push('b'),
        c: (ctx) => void ctx.data.log.push('c'),
        undoA: (ctx) => void ctx.data.log.push('undoA'),
        undoB: (ctx) => void ctx.data.log.push('undoB'),
      },
    );
    const runner = createRunner(def, { store, locker });
    const stepped = await runner.create({ log: [] });
    const one = await runner.next(stepped.id);
    expect([one.status, one.state]).toEqual(['idle', 'b']);
    const done = await runner.create({ log: [] });
    for (let i = 0; i < 3; i++) await runner.next(done.id);
    const back = await runner.back(done.id);
    expect([back.status, back.state, back.direction, back.data.log]).toEqual(['idle', 'a', 'backward', ['a', 'b', 'c', 'undoB']]);

    const worker = runner.work({ pollMs: 5 });
    await new Promise((r) => setTimeout(r, 100));
    await worker.stop();
    const [s, d] = [await runner.get(stepped.id), await runner.get(done.id)];
    expect([s.status, s.state, s.version]).toEqual(['idle', 'b', one.version]);
    expect([d.status, d.state, d.version, d.data.log]).toEqual(['idle', 'a', back.version, ['a', 'b', 'c', 'undoB']]);
  });

  it('4. a lock is not released while its handler still runs, also after FSM_STEP_TIMEOUT', async () => {
    const { store, locker } = await setup('own_timeout');
    let running = 0;
    let peak = 0;
    const def = machine<Saga>(
      { name: 'own_timeout', lock: { scope: 'local', by: 'user' } },
      { slow: { order: 1, timeoutMs: 20 } },
      {
        // Ignores its signal and goes on well past the timeout.
        slow: async () => {
          running++;
          peak = Math.max(peak, running);
          await new Promise((r) => setTimeout(r, 120));
          running--;
        },
      },
    );
    const runner = createRunner(def, { store, locker });
    const results = await Promise.all([runner.start({ log: [] }, { userId: 'u' }), runner.start({ log: [] }, { userId: 'u' })]);
    expect(results.map((r) => [r.status, r.error?.code])).toEqual([
      ['failed', 'FSM_STEP_TIMEOUT'],
      ['failed', 'FSM_STEP_TIMEOUT'],
    ]);
    expect(peak).toBe(1);
  });

  it('5. with saveAfterStep: false, a pause asked by another runner is honoured at a step boundary', async () => {
    const { store, locker } = await setup('own_nosave');
    const entered = gate();
    const def = machine<{ n: number }>(
      { name: 'own_nosave', saveAfterStep: false },
      Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`s${i}`, { order: i + 1 }])),
      Object.fromEntries(
        Array.from({ length: 8 }, (_, i) => [
          `s${i}`,
          async (ctx: StepContext<{ n: number }>) => {
            entered.open();
            await new Promise((r) => setTimeout(r, 40));
            ctx.data.n++;
          },
        ]),
      ),
    );
    const options: RunnerOptions = { store, locker, instanceLeaseMs: 90 };
    const a = createRunner(def, options);
    const b = createRunner(def, options);
    const created = await a.create({ n: 0 });
    const drive = a.run(created.id);
    await entered.wait;
    const asked = await b.pause(created.id, 'operator');
    expect(asked.pauseRequested).toBe(true);
    const ended = await drive;
    expect(ended.status).toBe('paused');
    expect(ended.pauseReason).toBe('operator');
    expect(ended.data.n).toBeLessThan(8);
    expect((await b.get(created.id)).pauseRequested).toBe(false);
    const done = await b.resume(created.id);
    expect([done.status, done.data.n]).toEqual(['done', 8]);
  });

  it('6. runner overrides are validated, and a runner cannot drop the machine\'s lock', async () => {
    const def = machine<Saga>({ name: 'own_override', lock: { scope: 'local', by: 'user' } }, { a: { order: 1 } }, { a: () => {} });
    expect(() => createRunner(def, { topic: 'bad topic!' })).toThrow(FsmError);
    expect(() => createRunner(def, { topic: 'bad topic!' })).toThrow(expect.objectContaining({ code: 'FSM_TOPIC_INVALID' }) as Error);
    expect(() => createRunner(def, { lock: { scope: 'cluster' } as never })).toThrow(expect.objectContaining({ code: 'FSM_INVALID_MODEL' }) as Error);

    const { store, locker } = await setup('own_lockless');
    const held = gate();
    const entered = gate();
    let running = 0;
    let peak = 0;
    const slow = machine<Saga>(
      { name: 'own_lockless', lock: { scope: 'local', by: 'user' } },
      { a: { order: 1 } },
      {
        a: async () => {
          running++;
          peak = Math.max(peak, running);
          entered.open();
          await held.wait;
          running--;
        },
      },
    );
    const strict = createRunner(slow, { store, locker });
    const lax = createRunner(slow, { store, locker, lock: { scope: 'none' }, lockMode: 'fail' });
    const first = strict.start({ log: [] }, { userId: 'u' });
    await entered.wait;
    await expect(lax.start({ log: [] }, { userId: 'u' })).rejects.toMatchObject({ code: 'FSM_LOCK_BUSY' });
    held.open();
    expect((await first).status).toBe('done');
    expect(peak).toBe(1);
    // Nothing was stored for the refused start: a caller that retries makes no duplicate.
    expect(await store.list('own_lockless')).toHaveLength(1);
  });

  it('a transition races a running step and another transition: one drive at a time, one winner', async () => {
    const { store, locker } = await setup('own_race');
    const held = gate();
    const entered = gate();
    let approvals = 0;
    const model = machine<{ log: string[] }>({ name: 'own_race' }, { check: { order: 1, next: 'review' } }, {});
    model.model.transitions = [
      { name: 'approve', method: 'approve', from: ['review'], to: 'approved' },
      { name: 'recheck', method: 'recheck', from: ['review'], to: 'check' },
    ];
    model.model.steps[0]!.next = ['review'];
    const def: MachineDefinition<{ log: string[] }> = {
      model: model.model,
      create: () => ({
        check: async (ctx: StepContext<{ log: string[] }>) => {
          ctx.data.log.push('check');
          entered.open();
          await held.wait;
        },
        approve: async (ctx: StepContext<{ log: string[] }>) => {
          approvals++;
          await new Promise((r) => setTimeout(r, 30));
          ctx.data.log.push('approve');
        },
        recheck: () => undefined,
      }),
    };
    const a = createRunner(def, { store, locker });
    const b = createRunner(def, { store, locker });
    const created = await a.create({ log: [] });
    const running = a.run(created.id);
    await entered.wait;
    // A transition while a step runs is refused: it would be a second drive.
    await expect(b.transition(created.id, 'approve', {})).rejects.toMatchObject({ code: 'FSM_INSTANCE_BUSY' });
    held.open();
    expect((await running).state).toBe('review');
    // Two transitions at once from two runners: exactly one moves the instance.
    const results = await Promise.allSettled([a.transition(created.id, 'approve', {}), b.transition(created.id, 'approve', {})]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost.map((r) => (r.reason as FsmError).code)).toEqual([expect.stringMatching(/^FSM_(INSTANCE_BUSY|INVALID_STATE|TRANSITION_NOT_ALLOWED)$/)]);
    expect(approvals).toBe(1);
    const done = await a.get(created.id);
    expect([done.status, done.state, done.data.log]).toEqual(['done', 'approved', ['check', 'approve']]);
    expect((await a.history(created.id)).filter((h) => h.transition === 'approve')).toHaveLength(1);
  });

  it('a per-user machine refuses an empty or blank user id before anything is stored', async () => {
    const { store } = await setup('own_blank');
    const def = machine<Saga>({ name: 'own_blank', lock: { scope: 'local', by: 'user' } }, { a: { order: 1 } }, { a: () => undefined });
    const runner = createRunner(def, { store });
    for (const userId of ['', '   ', null]) {
      await expect(runner.start({ log: [] }, { userId })).rejects.toMatchObject({ code: 'FSM_INVALID_STATE' });
      await expect(runner.create({ log: [] }, { userId })).rejects.toMatchObject({ code: 'FSM_INVALID_STATE' });
    }
    expect(await store.list('own_blank')).toEqual([]);
  });

  it('an instance whose drive died too many times ends failed with FSM_TAKEOVER_LIMIT instead of running again', async () => {
    const { store } = await setup('own_takeover');
    let runs = 0;
    const def = machine<Saga>({ name: 'own_takeover' }, { crash: { order: 1 } }, { crash: () => void runs++ });
    const runner = createRunner(def, { store, maxTakeovers: 2 });
    const created = await runner.create({ log: [] });
    // As a process that died mid-step leaves it: running, its lease run out.
    const stored = (await store.get('own_takeover', created.id))!;
    const dead = { ...stored, status: 'running' as const, leaseOwner: 'dead', leaseExpiresAt: new Date(Date.now() - 1), takeovers: 2 };
    await store.commit({ record: { ...dead, version: stored.version + 1 }, expectedVersion: stored.version, history: [], events: [] });
    const failed = await runner.run(created.id);
    expect([failed.status, failed.error?.code, runs]).toEqual(['failed', 'FSM_TAKEOVER_LIMIT', 0]);
    // A person resumes it once the cause is found.
    expect((await runner.resume(created.id)).status).toBe('done');
  });

  it('a step that starts an instance of its own user under a per-user lock fails at once instead of waiting for itself', async () => {
    const { store, locker } = await setup('own_child', 'own_parent');
    const child = machine<Saga>({ name: 'own_child', lock: { scope: 'local', by: 'user' } }, { a: { order: 1 } }, { a: () => {} });
    const childRunner = createRunner(child, { store, locker, lockTimeoutMs: 5_000 });
    const parent = machine<Saga & { error?: string }>(
      { name: 'own_parent', lock: { scope: 'local', by: 'user' } },
      { spawn: { order: 1 } },
      {
        spawn: async (ctx) => {
          try {
            await childRunner.start({ log: [] }, { userId: ctx.userId });
          } catch (error) {
            ctx.data.error = (error as FsmError).code;
          }
          // Creating it is fine: a worker (or a later call) runs it once this step is over.
          await childRunner.create({ log: [] }, { userId: ctx.userId });
        },
      },
    );
    const started = Date.now();
    const done = await createRunner(parent, { store, locker }).start({ log: [] }, { userId: 'u' });
    expect(done.data.error).toBe('FSM_LOCK_BUSY');
    expect(Date.now() - started).toBeLessThan(2_000);
    const [made] = await store.list('own_child');
    expect((await childRunner.run(made!.id)).status).toBe('done');
  });
});

describe(`locks across machine types (${label} store)`, () => {
  for (const lock of [{ scope: 'global' as const }, { scope: 'local' as const, by: 'user' as const }]) {
    it(`two machine types under one ${lock.scope === 'global' ? 'global lock' : "user's lock"} never run at once`, async () => {
      const { store, locker } = await setup('cross_a', 'cross_b');
      let running = 0;
      let peak = 0;
      const step = async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
      };
      const types = ['cross_a', 'cross_b'].map((name) =>
        createRunner(machine<Saga>({ name, lock }, { one: { order: 1 }, two: { order: 2 } }, { one: step, two: step }), { store, locker }),
      );
      await Promise.all(Array.from({ length: 12 }, (_, i) => types[i % 2]!.start({ log: [] }, { userId: 'same-user' })));
      expect(peak).toBe(1);
      for (const runner of types) {
        const all = await runner.list();
        expect(all.every((i) => i.status === 'done')).toBe(true);
      }
    });
  }
});
}
