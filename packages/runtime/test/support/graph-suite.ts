/**
 * The state-machine half of the runtime's promises, run against every store like the behaviour
 * suite: branching by data, loops, early ends, errors routed by type, named transitions with
 * validated input, guards and actors, hooks, and compensation along the path actually taken.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildModel,
  createRunner,
  defineMachine,
  MemoryLocker,
  type HookEvent,
  type MachineDefinition,
  type RunnerOptions,
  type StandardSchemaV1,
  type StepContext,
  type StepOptions,
  type TransitionContext,
  type TransitionOptions,
} from '../../src/index.js';
import type { StoreFactory, StoreFixture } from './behaviour-suite.js';

let counter = 0;
const unique = (base: string) => `${base}_${process.pid % 1000}_${++counter}`;

class PaymentError extends Error {
  override name = 'PaymentError';
}
class CardDeclined extends PaymentError {
  readonly code = 'CARD_DECLINED';
}

/** A machine from steps and transitions given as data, handlers by method name. */
function graphMachine<T>(
  options: { name: string; initial?: string; onError?: 'fail' | 'compensate'; topic?: string },
  steps: Record<string, { order: number } & StepOptions>,
  transitions: Record<string, TransitionOptions & { method?: string }>,
  methods: Record<string, (ctx: never) => unknown>,
): MachineDefinition<T> {
  const model = buildModel({
    className: 'GraphMachine',
    options,
    steps: Object.entries(steps).map(([method, { order, ...rest }]) => ({ order, method, options: rest })),
    transitions: Object.entries(transitions).map(([name, { method, ...t }]) => ({ name, method: method ?? name, options: t })),
  });
  return { model, create: () => ({ ...methods }) };
}

interface Loan {
  score: number;
  income?: number;
  path: string[];
  decision?: string;
  reviewer?: string;
}

export function graphSuite(label: string, factory: StoreFactory): void {
  describe(`state machines on the ${label} store`, () => {
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

    /** A loan: score, then approve, manual review (a state only transitions leave) or reject; review may loop back. */
    const loan = (name = unique('loan')) =>
      graphMachine<Loan>(
        { name, topic: 'loans.fsm' },
        {
          score: { order: 1, next: ['autoApprove', 'review', 'reject'], back: 'unscore' },
          autoApprove: { order: 2, end: true },
          reject: { order: 3, end: true },
          rescore: { order: 4, next: 'score' },
        },
        {
          approve: { from: 'review', to: 'approved', guard: 'canApprove', input: { type: 'object', required: ['reviewer'], properties: { reviewer: { type: 'string', minLength: 1 }, note: { type: 'string' } }, additionalProperties: false } },
          askIncome: { from: 'review', to: 'rescore', input: { type: 'object', required: ['income'], properties: { income: { type: 'number', minimum: 0 } } } },
          cancel: { from: '*', to: 'cancelled' },
        },
        {
          score: (ctx: StepContext<Loan>) => {
            ctx.data.path.push('score');
            const s = ctx.data.score + (ctx.data.income ?? 0) / 1000;
            if (s >= 700) return ctx.goto('autoApprove');
            return ctx.goto(s >= 500 ? 'review' : 'reject');
          },
          unscore: (ctx: StepContext<Loan>) => void ctx.data.path.push('unscore'),
          autoApprove: (ctx: StepContext<Loan>) => void (ctx.data.decision = 'auto'),
          reject: (ctx: StepContext<Loan>) => void (ctx.data.decision = 'rejected'),
          rescore: (ctx: StepContext<Loan>) => void ctx.data.path.push('rescore'),
          approve: (ctx: TransitionContext<Loan, { reviewer: string }>) => {
            ctx.data.decision = 'manual';
            ctx.data.reviewer = ctx.input.reviewer;
            return { approvedBy: ctx.actor, at: 'review' };
          },
          canApprove: (ctx: TransitionContext<Loan, { reviewer: string }>) => (ctx.input.reviewer === ctx.actor ? 'a reviewer cannot approve on their own behalf' : true),
          askIncome: (ctx: TransitionContext<Loan, { income: number }>) => void (ctx.data.income = ctx.input.income),
          cancel: (ctx: TransitionContext<Loan>) => void (ctx.data.decision = 'cancelled'),
        },
      );

    it('routes by data: each instance takes the branch its handler chose, and history shows the path', async () => {
      const { runner } = await setup(loan());
      const auto = await runner.start({ score: 720, path: [] });
      const manual = await runner.start({ score: 600, path: [] });
      const rejected = await runner.start({ score: 300, path: [] });
      expect([auto.status, auto.state, auto.data.decision]).toEqual(['done', 'done', 'auto']);
      expect([manual.status, manual.state]).toEqual(['idle', 'review']);
      expect([rejected.status, rejected.data.decision]).toEqual(['done', 'rejected']);
      expect((await runner.history(manual.id)).map((h) => [h.step, h.stateAfter])).toEqual([['score', 'review']]);
      // A worker never picks up an instance resting at a state only a transition leaves.
      expect(await runner.store.claim?.(runner.model.name, { owner: 'w', limit: 10, leaseMs: 1000 })).toEqual([]);
    });

    it('runs named transitions: input validated, guard asked, actor and result recorded, then on into steps, through a loop', async () => {
      const { runner, fixture } = await setup(loan());
      const a = await runner.start({ score: 550, path: [] });
      expect(a.status).toBe('idle');

      await expect(runner.transition(a.id, 'approve', { reviewer: '' } as never, { actor: 'ann' })).rejects.toMatchObject({
        code: 'FSM_INPUT_INVALID',
        context: { issues: [{ path: '/reviewer' }] },
      });
      await expect(runner.transition(a.id, 'approve', { note: 1 } as never)).rejects.toSatisfy(
        (e: { code: string; context: { issues: Array<{ path: string }> } }) =>
          e.code === 'FSM_INPUT_INVALID' && e.context.issues.length >= 2,
      );
      await expect(runner.transition(a.id, 'approve', { reviewer: 'ann' }, { actor: 'ann' })).rejects.toMatchObject({
        code: 'FSM_GUARD_REJECTED',
        context: { reason: 'a reviewer cannot approve on their own behalf' },
      });
      await expect(runner.transition(a.id, 'nope', {})).rejects.toMatchObject({ code: 'FSM_TRANSITION_NOT_ALLOWED' });
      // Refusals write nothing.
      expect((await runner.get(a.id)).version).toBe(a.version);

      // More income: the transition leads into a step, which loops back to score, which now approves.
      const rescored = await runner.transition(a.id, 'askIncome', { income: 200_000 }, { actor: 'ann' });
      expect([rescored.status, rescored.data.decision, rescored.data.path]).toEqual(['done', 'auto', ['score', 'rescore', 'score']]);
      const rows = await runner.history(a.id);
      expect(rows.map((h) => [h.transition, h.step, h.stateBefore, h.stateAfter, h.actor])).toEqual([
        [null, 'score', 'score', 'review', null],
        ['askIncome', 'review', 'review', 'rescore', 'ann'],
        [null, 'rescore', 'rescore', 'score', null],
        [null, 'score', 'score', 'autoApprove', null],
        [null, 'autoApprove', 'autoApprove', 'done', null],
      ]);
      await expect(runner.transition(a.id, 'approve', { reviewer: 'bob' }, { actor: 'ann' })).rejects.toMatchObject({
        code: 'FSM_INVALID_STATE',
      });

      const b = await runner.start({ score: 550, path: [] });
      const approved = await runner.transition(b.id, 'approve', { reviewer: 'bob' }, { actor: 'ann' });
      expect([approved.status, approved.state, approved.data.reviewer]).toEqual(['done', 'approved', 'bob']);
      const [, approval] = await runner.history(b.id);
      expect([approval!.transition, approval!.actor, approval!.result === null ? null : JSON.parse(approval!.result)]).toEqual([
        'approve',
        'ann',
        { approvedBy: 'ann', at: 'review' },
      ]);
      const events = await fixture.committedEvents(b.id);
      expect(events.map((e) => e.type)).toContain('transition.completed');
    });

    it('refuses a transition from the wrong state, naming the current state and the allowed ones', async () => {
      const { runner } = await setup(loan());
      const done = await runner.start({ score: 800, path: [] });
      const c = await runner.start({ score: 600, path: [] });
      await runner.transition(c.id, 'approve', { reviewer: 'bob' }, { actor: 'ann' });
      const other = await runner.start({ score: 600, path: [] });
      const cancelled = await runner.transition(other.id, 'cancel', {});
      expect([cancelled.status, cancelled.state, cancelled.data.decision]).toEqual(['done', 'cancelled', 'cancelled']);
      const d = await runner.create({ score: 600, path: [] });
      await expect(runner.transition(d.id, 'approve', { reviewer: 'bob' })).rejects.toMatchObject({
        code: 'FSM_TRANSITION_NOT_ALLOWED',
        context: { state: 'score', allowed: ['review'] },
      });
      // '*' means any state that is not final: a cancelled or finished loan stays as it is.
      await expect(runner.transition(done.id, 'cancel', {})).rejects.toMatchObject({ code: 'FSM_INVALID_STATE' });
    });

    it('ends early with succeed() and fail(), and fails a goto to an undeclared state with FSM_BAD_TARGET', async () => {
      const def = graphMachine<{ mode: string; seen: string[] }>(
        { name: unique('early') },
        { first: { order: 1, next: ['second', 'third'] }, second: { order: 2 }, third: { order: 3 } },
        {},
        {
          first: (ctx: StepContext<{ mode: string; seen: string[] }>) => {
            ctx.data.seen.push('first');
            if (ctx.data.mode === 'succeed') ctx.succeed();
            if (ctx.data.mode === 'fail') ctx.fail('NOT_ELIGIBLE', 'customer is not eligible');
            if (ctx.data.mode === 'wander') return ctx.goto('nowhere' as never);
            return undefined;
          },
          second: (ctx: StepContext<{ mode: string; seen: string[] }>) => void ctx.data.seen.push('second'),
          third: (ctx: StepContext<{ mode: string; seen: string[] }>) => void ctx.data.seen.push('third'),
        },
      );
      const { runner } = await setup(def);
      const ok = await runner.start({ mode: 'succeed', seen: [] });
      expect([ok.status, ok.state, ok.data.seen]).toEqual(['done', 'done', ['first']]);
      const failed = await runner.start({ mode: 'fail', seen: [] });
      expect([failed.status, failed.error?.code, failed.error?.message, failed.data.seen]).toEqual(['failed', 'NOT_ELIGIBLE', 'customer is not eligible', ['first']]);
      const lost = await runner.start({ mode: 'wander', seen: [] });
      expect([lost.status, lost.error?.code, lost.data.seen]).toEqual(['failed', 'FSM_BAD_TARGET', []]);
      expect((await runner.get(lost.id)).error?.message).toMatch(/"nowhere"/);
      const normal = await runner.start({ mode: '', seen: [] });
      expect(normal.data.seen).toEqual(['first', 'second', 'third']);
    });

    it('a handler moves, fails and keeps data alike whether it returns at once, a promise or a thenable', async () => {
      type D = { how: string; outcome: string; seen: string[]; bad?: unknown };
      const done = (value: unknown, how: string): unknown =>
        how.startsWith('async') ? Promise.resolve(value) : how.startsWith('thenable') ? { then: (ok: (v: unknown) => void) => ok(value) } : value;
      const failed = (error: Error, how: string): unknown => {
        if (how.startsWith('async')) return Promise.reject(error);
        if (how.startsWith('thenable')) return { then: (_: unknown, no: (e: unknown) => void) => no(error) };
        throw error;
      };
      const def = graphMachine<D>(
        { name: unique('kinds') },
        { pick: { order: 1, next: ['left', 'right'] }, left: { order: 2, end: true }, right: { order: 3, end: true } },
        {},
        {
          pick: (ctx: StepContext<D>) => {
            ctx.data.seen.push('pick');
            if (ctx.data.outcome === 'throw') return failed(new RangeError(`refused ${ctx.data.how}`), ctx.data.how);
            // A function cannot be stored: the attempt fails with FSM_SERIALIZE, nothing of it kept.
            if (ctx.data.outcome === 'unstorable') ctx.data.bad = () => 1;
            return done({ goto: 'right' }, ctx.data.how);
          },
          left: (ctx: StepContext<D>) => void ctx.data.seen.push('left'),
          right: (ctx: StepContext<D>) => void ctx.data.seen.push('right'),
        },
      );
      const { runner } = await setup(def);
      for (const how of ['sync', 'async', 'thenable']) {
        const moved = await runner.start({ how, outcome: 'move', seen: [] });
        expect([how, moved.status, moved.data.seen]).toEqual([how, 'done', ['pick', 'right']]);
        expect((await runner.history(moved.id)).map((h) => [h.step, h.stateAfter, h.error])).toEqual([
          ['pick', 'right', null],
          ['right', 'done', null],
        ]);
        const threw = await runner.start({ how, outcome: 'throw', seen: [] });
        expect([how, threw.status, threw.state, threw.error?.name, threw.error?.message, threw.data.seen]).toEqual([how, 'failed', 'pick', 'RangeError', `refused ${how}`, []]);
        expect((await runner.get(threw.id)).data.seen).toEqual([]);
        const unstorable = await runner.start({ how, outcome: 'unstorable', seen: [] });
        expect([how, unstorable.status, unstorable.error?.code, unstorable.data]).toEqual([how, 'failed', 'FSM_SERIALIZE', { how, outcome: 'unstorable', seen: [] }]);
        expect((await runner.history(unstorable.id)).map((h) => [h.stateAfter, h.error?.code, h.dataAfter])).toEqual([['pick', 'FSM_SERIALIZE', { how, outcome: 'unstorable', seen: [] }]]);
      }
    });

    it('retries and catches errors by code, by name and by class; the catch target reads the error', async () => {
      const tries: Record<string, number> = {};
      type D = { kind: string; handled?: string; caught?: unknown };
      const def = graphMachine<D>(
        { name: unique('errors') },
        {
          charge: {
            order: 1,
            next: 'ship',
            retry: { maxAttempts: 3, on: ['ETIMEDOUT'] },
            catch: [
              { on: ['PaymentError'], goto: 'declined' },
              { on: ['RangeError'], goto: 'manual' },
            ],
          },
          ship: { order: 2, end: true },
          declined: { order: 3, end: true },
          manual: { order: 4, end: true },
        },
        {},
        {
          charge: (ctx: StepContext<D>) => {
            tries[ctx.instanceId] = (tries[ctx.instanceId] ?? 0) + 1;
            if (ctx.data.kind === 'timeout' && ctx.attempt < 3) throw Object.assign(new Error('slow'), { code: 'ETIMEDOUT' });
            if (ctx.data.kind === 'card') throw new CardDeclined('card declined');
            if (ctx.data.kind === 'range') throw new RangeError('amount out of range');
            if (ctx.data.kind === 'bug') throw new TypeError('bug');
          },
          ship: (ctx: StepContext<D>) => void (ctx.data.handled = 'ship'),
          declined: (ctx: StepContext<D>) => {
            ctx.data.handled = 'declined';
            ctx.data.caught = ctx.error;
          },
          manual: (ctx: StepContext<D>) => {
            ctx.data.handled = 'manual';
            ctx.data.caught = ctx.error?.message;
          },
        },
      );
      const { runner } = await setup(def);
      const timeout = await runner.start({ kind: 'timeout' });
      expect([timeout.data.handled, tries[timeout.id]]).toEqual(['ship', 3]);
      // By class (CardDeclined extends PaymentError), not retried: ETIMEDOUT is the only retryable code.
      const card = await runner.start({ kind: 'card' });
      expect([card.status, card.data.handled, tries[card.id]]).toEqual(['done', 'declined', 1]);
      expect(card.data.caught).toMatchObject({ name: 'PaymentError', code: 'CARD_DECLINED', message: 'card declined', step: 'charge' });
      expect(card.error).toBeNull();
      const range = await runner.start({ kind: 'range' });
      expect([range.data.handled, range.data.caught]).toEqual(['manual', 'amount out of range']);
      const bug = await runner.start({ kind: 'bug' });
      expect([bug.status, bug.error?.name, tries[bug.id]]).toEqual(['failed', 'TypeError', 1]);
      const path = (await runner.history(card.id)).map((h) => [h.step, h.error?.message ?? null]);
      expect(path).toEqual([
        ['charge', 'card declined'],
        ['declined', null],
      ]);
    });

    it('calls before and after hooks around every step and transition, in order', async () => {
      const { runner } = await setup(loan());
      const seen: string[] = [];
      const record = (when: string) => (e: HookEvent<Loan>) =>
        void seen.push(`${when}:${e.kind}:${e.name}${e.error ? ':error' : ''}${e.kind === 'transition' && e.result !== undefined ? ':result' : ''}`);
      runner.on('before', record('before'));
      const off = runner.on('after', record('after'));
      const a = await runner.start({ score: 550, path: [] });
      await runner.transition(a.id, 'approve', { reviewer: 'bob' }, { actor: 'ann' });
      expect(seen).toEqual(['before:step:score', 'after:step:score', 'before:transition:approve', 'after:transition:approve:result']);
      off();
      seen.length = 0;
      await runner.start({ score: 800, path: [] });
      expect(seen).toEqual(['before:step:score', 'before:step:autoApprove']);
    });

    it('a before hook that throws fails the attempt like the handler would (an audit veto)', async () => {
      const { runner } = await setup(loan());
      runner.on('before', (e) => {
        if (e.name === 'score') throw new Error('audit log unavailable');
      });
      const a = await runner.start({ score: 800, path: [] });
      expect([a.status, a.error?.message, a.data.path]).toEqual(['failed', 'audit log unavailable', []]);
    });

    it('compensates the steps actually taken, newest first, through a branch and a loop', async () => {
      type T = { rounds: number; log: string[] };
      const log = (s: string) => (ctx: StepContext<T>) => void ctx.data.log.push(s);
      const def = graphMachine<T>(
        { name: unique('saga'), onError: 'compensate' },
        {
          reserve: { order: 1, back: 'release', next: ['check'] },
          check: { order: 2, next: ['reserve', 'charge', 'express'] },
          express: { order: 3, back: 'undoExpress' },
          charge: { order: 4, back: 'refund', next: 'ship' },
          ship: { order: 5, back: 'unship' },
        },
        {},
        {
          reserve: (ctx: StepContext<T>) => void ctx.data.log.push(`reserve${ctx.data.rounds}`),
          check: (ctx: StepContext<T>) => ctx.goto(++ctx.data.rounds < 2 ? 'reserve' : 'charge'),
          express: log('express'),
          charge: log('charge'),
          ship: () => {
            throw new Error('no courier');
          },
          release: (ctx: StepContext<T>) => void ctx.data.log.push(`release${ctx.data.rounds}`),
          undoExpress: log('undoExpress'),
          refund: log('refund'),
          unship: log('unship'),
        },
      );
      const { runner } = await setup(def);
      const saga = await runner.start({ rounds: 0, log: [] });
      expect(saga.status).toBe('compensated');
      // Two reserve visits (a loop), the charge branch (not express), ship failed: undone newest first, each visit once.
      expect(saga.data.log).toEqual(['reserve0', 'reserve1', 'charge', 'refund', 'release2', 'release2']);
      const back = (await runner.history(saga.id)).filter((h) => h.direction === 'backward').map((h) => h.handler);
      expect(back).toEqual(['refund', 'release', 'release']);
    });

    it('starts at a given state where the model allows it, and refuses an unknown or final one', async () => {
      const { runner } = await setup(loan());
      const atReview = await runner.start({ score: 0, path: [] }, { at: 'review' });
      expect([atReview.status, atReview.state]).toEqual(['idle', 'review']);
      const atRescore = await runner.create({ score: 800, path: [] }, { at: 'rescore' });
      expect([atRescore.status, atRescore.state, atRescore.resumeFromStep]).toEqual(['ready', 'rescore', 4]);
      expect((await runner.run(atRescore.id)).data.path).toEqual(['rescore', 'score']);
      await expect(runner.create({ score: 0, path: [] }, { at: 'approved' })).rejects.toMatchObject({ code: 'FSM_BAD_TARGET' });
      await expect(runner.create({ score: 0, path: [] }, { at: 'nowhere' })).rejects.toMatchObject({ code: 'FSM_BAD_TARGET' });
    });

    it('an entity lifecycle of transitions only, with a Standard Schema validator from defineMachine', async () => {
      // Any validator with the standard interface (zod, valibot, arktype...); this one is hand-made.
      const reasonSchema: StandardSchemaV1<{ reason: string }> = {
        '~standard': {
          version: 1,
          vendor: 'test',
          validate: (v) =>
            typeof v === 'object' && v !== null && typeof (v as { reason?: unknown }).reason === 'string'
              ? { value: { reason: (v as { reason: string }).reason.trim() } }
              : { issues: [{ message: 'reason is required', path: ['reason'] }] },
        },
      };
      const ticket = defineMachine<{ reasons: string[] }>({
        name: unique('ticket'),
        initial: 'open',
        steps: {},
        methods: {},
        transitions: {
          start: { from: 'open', to: 'in_progress', run: () => undefined },
          close: { from: ['open', 'in_progress'], to: 'closed', input: reasonSchema, run: (ctx) => void ctx.data.reasons.push(ctx.input.reason) },
        },
      });
      const { runner } = await setup(ticket);
      const t = await runner.start({ reasons: [] });
      expect([t.status, t.state]).toEqual(['idle', 'open']);
      await expect(runner.transition(t.id, 'close', {})).rejects.toMatchObject({ code: 'FSM_INPUT_INVALID', context: { issues: [{ path: '/reason', message: 'reason is required' }] } });
      const started = await runner.transition(t.id, 'start', {});
      expect([started.status, started.state]).toEqual(['idle', 'in_progress']);
      const closed = await runner.transition(t.id, 'close', { reason: '  fixed  ' }, { actor: 'agent-7' });
      expect([closed.status, closed.state, closed.data.reasons]).toEqual(['done', 'closed', ['fixed']]);
    });
  });
}
