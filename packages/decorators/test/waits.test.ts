import { describe, expect, it } from 'vitest';
import { buildModel, checkModel, machineGraph, modelWarnings, reachableStates, type StepOptions } from '../src/index.js';

const model = (steps: Record<string, { order: number } & StepOptions>) =>
  buildModel({ className: 'T', options: { name: 'waits' }, steps: Object.entries(steps).map(([method, { order, ...rest }]) => ({ order, method, options: rest })) });

describe('waits in the model', () => {
  it('records sleep and waitFor as the step wait', () => {
    const m = model({
      a: { order: 1, sleep: 500 },
      b: { order: 2, waitFor: { message: 'payment', key: 'orderId', timeoutMs: 1000, onTimeout: 'c', payload: { type: 'object' } } },
      c: { order: 3 },
    });
    expect(m.steps[0]!.wait).toEqual({ kind: 'timer', ms: 500 });
    expect(m.steps[1]!.wait).toEqual({ kind: 'message', message: 'payment', key: 'orderId', timeoutMs: 1000, onTimeout: 'c', payload: { type: 'object' } });
    expect(checkModel(m)).toEqual([]);
  });

  it('reports every bad wait at once, at its path', () => {
    const m = model({
      a: { order: 1, sleep: -1 },
      b: { order: 2, waitFor: { message: 'no spaces', timeoutMs: 0, onTimeout: 'nowhere' } },
      c: { order: 3, waitFor: { message: 'ok', onTimeout: 'a' } },
    });
    const problems = checkModel(m).map((p) => [p.code, p.path.join('.')]);
    expect(problems).toEqual(
      expect.arrayContaining([
        ['FSM_E_WAIT_INVALID', 'steps.0.wait'],
        ['FSM_E_WAIT_INVALID', 'steps.1.wait.message'],
        ['FSM_E_WAIT_INVALID', 'steps.1.wait.timeoutMs'],
        ['FSM_E_TARGET_UNKNOWN', 'steps.1.wait.onTimeout'],
        ['FSM_E_WAIT_INVALID', 'steps.2.wait.onTimeout'],
      ]),
    );
  });

  it('records a declared join, and reports a join beside a wait or with a bad option', () => {
    const ok = model({ a: { order: 1, join: true }, b: { order: 2, join: { into: 'results', onChildError: 'collect' } } });
    expect(ok.steps.map((s) => s.join)).toEqual([{}, { into: 'results', onChildError: 'collect' }]);
    expect(checkModel(ok)).toEqual([]);
    const bad = model({
      a: { order: 1, join: true, sleep: 10 },
      b: { order: 2, join: { onChildError: 'ignore' as 'fail', into: '' } },
    });
    expect(checkModel(bad).map((p) => [p.code, p.path.join('.')])).toEqual([
      ['FSM_E_WAIT_INVALID', 'steps.0.join'],
      ['FSM_E_WAIT_INVALID', 'steps.1.join.onChildError'],
      ['FSM_E_WAIT_INVALID', 'steps.1.join.into'],
    ]);
  });

  it('a timeout edge makes its target reachable', () => {
    const m = model({
      a: { order: 1, waitFor: { message: 'go', key: 'id', timeoutMs: 10, onTimeout: 'late' }, end: true },
      late: { order: 2 },
    });
    expect(reachableStates(machineGraph(m)).has('late')).toBe(true);
    expect(modelWarnings(m)).toEqual([]);
  });
});
