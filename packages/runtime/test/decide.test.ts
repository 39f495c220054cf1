import { describe, expect, it } from 'vitest';
import { boundaryStop, decide, restingStatus, trailByOrder, trailFromHistory, undoNext, type Cursor } from '../src/engine/decide.js';
import { childId, childrenOf, joinState, runsOf, successorOf } from '../src/engine/children.js';
import { errorMatches } from '../src/engine/error-match.js';
import type { ChildrenWait } from '../src/engine/waits.js';
import type { InstanceStatus } from '../src/records.js';
import { buildModel, FsmError, machineGraph, type StepOptions, type TransitionOptions } from '../src/index.js';

// The decisions alone: no store, no runner, no handler.

class PaymentError extends Error {
  override name = 'PaymentError';
}
class CardDeclined extends PaymentError {}

function graphOf(
  steps: Record<string, { order: number } & StepOptions>,
  transitions: Record<string, TransitionOptions> = {},
  options: { onError?: 'fail' | 'compensate'; initial?: string } = {},
) {
  return machineGraph(
    buildModel({
      className: 'T',
      options: { name: 'loan', ...options },
      steps: Object.entries(steps).map(([method, { order, ...rest }]) => ({ order, method, options: rest })),
      transitions: Object.entries(transitions).map(([name, t]) => ({ name, method: name, options: t })),
    }),
  );
}

const at = (state: string, attempts = 0): Cursor => ({ state, direction: 'forward', attempts });
const opts = { onError: 'fail' as const, durableRetry: false };

describe('decide: forward', () => {
  const g = graphOf({
    score: { order: 1, next: ['approve', 'review', 'reject'] },
    approve: { order: 2, end: true },
    review: { order: 3, next: ['score', 'reject'] },
    reject: { order: 4 },
  });
  const step = (name: string) => g.steps.get(name)!;

  it('goes to the first declared successor by default, or the one the handler chose', () => {
    expect(decide(g, step('score'), at('score'), { kind: 'completed' }, opts)).toMatchObject({ kind: 'moved', cursor: { state: 'approve' } });
    expect(decide(g, step('score'), at('score'), { kind: 'completed', goto: 'review' }, opts)).toMatchObject({
      kind: 'moved',
      cursor: { state: 'review', attempts: 0 },
      event: 'step.completed',
    });
    // A loop back to an earlier step is an ordinary edge.
    expect(decide(g, step('review'), at('review'), { kind: 'completed', goto: 'score' }, opts)).toMatchObject({ cursor: { state: 'score' } });
  });

  it('fails with FSM_BAD_TARGET when the handler goes somewhere it did not declare', () => {
    const d = decide(g, step('score'), at('score'), { kind: 'completed', goto: 'nowhere' }, opts);
    expect(d).toMatchObject({ kind: 'failed', keep: false, error: { code: 'FSM_BAD_TARGET' } });
    expect(d).toMatchObject({ error: { message: expect.stringContaining('"approve", "review", "reject"') } });
    // A step without `next` may go only where it goes anyway: the next by order, or done after an end step.
    const plain = graphOf({ a: { order: 1 }, b: { order: 2, end: true }, c: { order: 3 } });
    const move = (name: string, goto: string) => decide(plain, plain.steps.get(name)!, at(name), { kind: 'completed', goto }, opts);
    expect(move('a', 'b')).toMatchObject({ kind: 'moved', cursor: { state: 'b' } });
    expect(move('b', 'done')).toMatchObject({ kind: 'moved', cursor: { state: 'done' } });
    expect(move('a', 'c')).toMatchObject({ kind: 'failed', error: { code: 'FSM_BAD_TARGET', message: expect.stringContaining('("b")') } });
    expect(move('b', 'c')).toMatchObject({ kind: 'failed', error: { code: 'FSM_BAD_TARGET' } });
  });

  it('ends done after an end step, after the last step by order, and on succeed()', () => {
    expect(decide(g, step('approve'), at('approve'), { kind: 'completed' }, opts)).toMatchObject({ cursor: { state: 'done' } });
    expect(decide(g, step('reject'), at('reject'), { kind: 'completed' }, opts)).toMatchObject({ cursor: { state: 'done' } });
    expect(decide(g, step('score'), at('score'), { kind: 'completed', end: { kind: 'succeed' } }, opts)).toMatchObject({
      kind: 'moved',
      cursor: { state: 'done' },
      ended: 'succeed',
    });
  });

  it('fails early with the code and message of fail(), keeping the step\'s work', () => {
    const d = decide(g, step('score'), at('score'), { kind: 'completed', end: { kind: 'fail', code: 'NO_INCOME', message: 'no income' } }, opts);
    expect(d).toEqual({ kind: 'failed', cursor: at('score'), error: { name: 'StepFailed', code: 'NO_INCOME', message: 'no income' }, keep: true });
  });
});

describe('decide: waits', () => {
  const g = graphOf({ pay: { order: 1 }, ship: { order: 2 }, cancel: { order: 3 } });
  const pay = g.steps.get('pay')!;
  const timer = { kind: 'timer', delayMs: 500 } as const;
  const message = { kind: 'message', name: 'payment', key: 'o-1', timeoutMs: 1000, onTimeout: 'cancel' } as const;

  it('moves on with the wait the step asked for, so that its work and the wait commit together', () => {
    expect(decide(g, pay, at('pay'), { kind: 'completed', wait: timer }, opts)).toMatchObject({ kind: 'moved', cursor: at('ship'), wait: timer });
    expect(decide(g, pay, at('pay'), { kind: 'completed', wait: message }, opts)).toMatchObject({ kind: 'moved', cursor: at('ship'), wait: message });
    expect(decide(g, pay, at('pay'), { kind: 'completed', wait: null }, opts)).not.toHaveProperty('wait');
  });

  it('fails with FSM_BAD_TARGET when a message wait times out to a state the machine does not have', () => {
    const d = decide(g, pay, at('pay'), { kind: 'completed', wait: { ...message, onTimeout: 'nowhere' } }, opts);
    expect(d).toMatchObject({ kind: 'failed', keep: false, error: { code: 'FSM_BAD_TARGET' } });
  });

  it('a step that ends the instance waits for nothing; a step that throws begins no wait', () => {
    expect(decide(g, pay, at('pay'), { kind: 'completed', end: { kind: 'succeed' }, wait: timer }, opts)).not.toHaveProperty('wait');
    expect(decide(g, pay, at('pay'), { kind: 'threw', error: new Error('x') }, opts).kind).toBe('failed');
  });
});

describe('decide: errors by type', () => {
  const g = graphOf({
    charge: {
      order: 1,
      retry: { maxAttempts: 3, backoffMs: 10, factor: 2, on: ['ETIMEDOUT', 'PaymentError'] },
      catch: [
        { on: ['CardDeclined'], goto: 'declined' },
        { on: ['*'], goto: 'manual' },
      ],
    },
    declined: { order: 2 },
    manual: { order: 3 },
    plain: { order: 4, retry: { maxAttempts: 2 } },
  });
  const charge = g.steps.get('charge')!;
  const timeout = Object.assign(new Error('slow'), { code: 'ETIMEDOUT' });

  it('retries only matching errors, by code, by name and by class, with the backoff', () => {
    expect(decide(g, charge, at('charge'), { kind: 'threw', error: timeout }, opts)).toEqual({
      kind: 'retry',
      cursor: at('charge', 1),
      delayMs: 10,
      durable: false,
    });
    // CardDeclined extends PaymentError: matched through its class chain.
    expect(decide(g, charge, at('charge', 1), { kind: 'threw', error: new CardDeclined('no') }, { ...opts, durableRetry: true })).toEqual({
      kind: 'retry',
      cursor: at('charge', 2),
      delayMs: 20,
      durable: true,
    });
    // Not retryable: goes straight to the catch rules.
    expect(decide(g, charge, at('charge'), { kind: 'threw', error: new TypeError('bug') }, opts)).toMatchObject({ kind: 'caught', cursor: { state: 'manual' } });
  });

  it('routes the final error to the first catch rule that matches, with the error to read', () => {
    const d = decide(g, charge, at('charge', 2), { kind: 'threw', error: new CardDeclined('card declined') }, opts);
    expect(d).toMatchObject({ kind: 'caught', cursor: at('declined'), caught: { name: 'PaymentError', message: 'card declined', step: 'charge' } });
  });

  it('without a matching rule, fails (or turns back under onError: compensate)', () => {
    const plain = g.steps.get('plain')!;
    expect(decide(g, plain, at('plain', 1), { kind: 'threw', error: new Error('x') }, opts)).toMatchObject({
      kind: 'failed',
      keep: false,
      cursor: { attempts: 2 },
      error: { message: 'x' },
    });
    expect(decide(g, plain, at('plain', 1), { kind: 'threw', error: new Error('x') }, { ...opts, onError: 'compensate' })).toMatchObject({ kind: 'turn-back' });
  });

  it('matches errors by FsmError code, name, class chain and *', () => {
    const e = new FsmError('FSM_STEP_TIMEOUT', 'late');
    expect(errorMatches(e, ['FSM_STEP_TIMEOUT'])).toBe(true);
    expect(errorMatches(e, ['FsmError'])).toBe(true);
    expect(errorMatches(new CardDeclined('x'), ['CardDeclined'])).toBe(true);
    expect(errorMatches(new CardDeclined('x'), ['PaymentError'])).toBe(true);
    expect(errorMatches(new Error('x'), ['PaymentError'])).toBe(false);
    expect(errorMatches('a string', ['*'])).toBe(true);
    expect(errorMatches('a string', ['Error'])).toBe(false);
  });
});

describe('decide: where an instance stands', () => {
  const g = graphOf({ work: { order: 1, next: 'review' } }, { approve: { from: 'review', to: 'approved' }, cancel: { from: '*', to: 'cancelled' } });

  it('rests at states only transitions leave, and ends at those none leave', () => {
    expect(restingStatus(g, 'work')).toBeNull();
    expect(restingStatus(g, 'review')).toBe('idle');
    expect(restingStatus(g, 'approved')).toBe('done');
    expect(restingStatus(g, 'cancelled')).toBe('done');
    expect(restingStatus(g, 'done')).toBe('done');
    expect(restingStatus(g, 'compensated')).toBe('compensated');
  });

  it('stops at a boundary for a pause first, then a stopping worker, then one step, then step-at-a-time', () => {
    const base = { ran: 1, maxSteps: 1, stepAtATime: true, pauseWanted: true, workerStopping: true };
    expect(boundaryStop(base)).toBe('paused');
    expect(boundaryStop({ ...base, pauseWanted: false })).toBe('waiting');
    expect(boundaryStop({ ...base, pauseWanted: false, workerStopping: false })).toBe('idle');
    expect(boundaryStop({ ...base, pauseWanted: false, workerStopping: false, maxSteps: 5 })).toBe('waiting');
    expect(boundaryStop({ ran: 1, maxSteps: 5, stepAtATime: false, pauseWanted: false, workerStopping: false })).toBeNull();
  });
});

describe('decide: backward along history', () => {
  const g = graphOf({
    reserve: { order: 1, back: 'release', next: 'check' },
    check: { order: 2, next: ['charge', 'reserve'] },
    charge: { order: 3, back: 'refund' },
  });
  const row = (step: string, direction: 'forward' | 'backward', error: unknown = null, transition: string | null = null) => ({
    step,
    direction,
    error: error as null,
    transition,
  });

  it('undoes each completed visit once, newest first, through a loop', () => {
    const trail = trailFromHistory([
      row('reserve', 'forward'),
      row('check', 'forward'),
      row('reserve', 'forward'),
      row('check', 'forward'),
      row('charge', 'forward', { message: 'failed attempt' }),
      row('charge', 'forward'),
      row('x', 'forward', null, 'approve'),
    ]);
    expect(trail).toEqual(['reserve', 'check', 'reserve', 'check', 'charge']);
    const first = undoNext(g, trail);
    expect(first.state).toBe('charge');
    // After charge is undone, check has nothing to undo: the second reserve visit is next, then the first.
    const second = undoNext(g, first.rest.slice(0, -1));
    expect(second).toEqual({ state: 'reserve', rest: ['reserve', 'check', 'reserve'] });
    expect(undoNext(g, ['check'])).toEqual({ state: 'compensated', rest: [] });
  });

  it('a backward history row removes the visit it undid', () => {
    expect(trailFromHistory([row('reserve', 'forward'), row('charge', 'forward'), row('charge', 'backward')])).toEqual(['reserve']);
  });

  it('without history, takes the steps before the current one by order', () => {
    expect(trailByOrder(g, 'charge')).toEqual(['reserve', 'check']);
    expect(trailByOrder(g, 'done')).toEqual(['reserve', 'check', 'charge']);
  });

  it('a failed back handler is retried per the step policy, then fails backward', () => {
    const charge = { ...g.steps.get('charge')!, retry: { maxAttempts: 2 } };
    const cursor: Cursor = { state: 'charge', direction: 'backward', attempts: 0 };
    expect(decide(g, charge, cursor, { kind: 'threw', error: new Error('x') }, opts)).toMatchObject({ kind: 'retry' });
    expect(decide(g, charge, { ...cursor, attempts: 1 }, { kind: 'threw', error: new Error('x') }, opts)).toMatchObject({ kind: 'failed' });
    expect(decide(g, charge, cursor, { kind: 'completed' }, opts)).toMatchObject({ kind: 'moved', event: 'step.compensated' });
  });
});

describe('decide: waiting for children', () => {
  const g = graphOf({ fork: { order: 1 }, after: { order: 2 } });
  const wait: ChildrenWait = {
    kind: 'children',
    step: 'fork',
    visit: '3.0',
    runs: [{ machine: 'kid', from: 0, count: 2, stride: 0 }],
    into: 'results',
    field: null,
    onChildError: 'fail',
  };
  const children = [
    { machine: 'kid', id: 'a' },
    { machine: 'kid', id: 'b' },
    { machine: 'other', id: 'c' },
  ];

  it('moves past the step that spawned them, waiting before its successor', () => {
    expect(decide(g, g.steps.get('fork')!, at('fork'), { kind: 'completed', wait }, opts)).toMatchObject({ kind: 'moved', cursor: { state: 'after' }, wait });
    expect(decide(g, g.steps.get('fork')!, at('fork'), { kind: 'completed' }, opts)).not.toHaveProperty('wait');
  });

  it('a join ends once every child ended; under fail, at the first child that failed, naming the unfinished', () => {
    const statuses = (entries: Array<[string, InstanceStatus]>) => new Map(entries);
    expect(joinState(children, 'fail', statuses([['a', 'done'], ['b', 'running']]))).toEqual({ kind: 'waiting' });
    expect(joinState(children, 'fail', statuses([['a', 'done'], ['b', 'done'], ['c', 'done']]))).toEqual({ kind: 'ended' });
    expect(joinState(children, 'fail', statuses([['a', 'paused'], ['b', 'compensated'], ['c', 'failed']]))).toEqual({
      kind: 'failed',
      child: { machine: 'kid', id: 'b', status: 'compensated' },
      unfinished: [{ machine: 'kid', id: 'a' }],
    });
    expect(joinState(children, 'collect', statuses([['a', 'failed'], ['b', 'done']]))).toEqual({ kind: 'waiting' });
    expect(joinState(children, 'collect', statuses([['a', 'failed'], ['b', 'done'], ['c', 'compensated']]))).toEqual({ kind: 'ended' });
  });

  it('names a visit\'s children as runs of one machine and stride, and expands them back in spawn order', () => {
    const spawns = [
      { machine: 'a', stride: 0 },
      { machine: 'b', stride: 0 },
      { machine: 'b', stride: 0 },
      { machine: 'b', stride: 2 },
      { machine: 'b', stride: 2 },
    ];
    const runs = runsOf(spawns);
    expect(runs).toEqual([
      { machine: 'a', from: 0, count: 1, stride: 0 },
      { machine: 'b', from: 1, count: 2, stride: 0 },
      { machine: 'b', from: 3, count: 2, stride: 2 },
    ]);
    const parent = '0190c0de-0000-7000-8000-000000000001';
    expect(childrenOf(parent, '1.0', runs)).toEqual(spawns.map((s, i) => ({ machine: s.machine, id: childId(parent, '1.0', i, s.stride) })));
  });

  it('derives child ids from the parent, the visit and the index: the same visit the same ids, in index order', () => {
    const ids = [0, 1, 2, 255, 256].map((i) => childId('0190c0de-0000-7000-8000-000000000001', '7.0', i));
    expect(ids).toEqual([0, 1, 2, 255, 256].map((i) => childId('0190c0de-0000-7000-8000-000000000001', '7.0', i)));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(5);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(childId('0190c0de-0000-7000-8000-000000000001', '8.0', 0)).not.toBe(ids[0]);
    expect(childId('0190c0de-0000-7000-8000-000000000002', '7.0', 0)).not.toBe(ids[0]);
    expect(ids[3]!.endsWith('0000000000ff')).toBe(true);
  });

  it("a map child names the sibling queued behind it (index + concurrency); other children none", () => {
    const parent = '0190c0de-0000-7000-8000-000000000001';
    expect(successorOf(childId(parent, '3.1', 4, 3))).toBe(childId(parent, '3.1', 7, 3));
    expect(successorOf(childId(parent, '3.1', 4))).toBeNull();
    expect(successorOf(parent)).toBeNull();
  });
});
