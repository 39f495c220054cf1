import { defaultSuccessor, successors, type MachineGraph, type OnError, type StepModel } from '@fsmkit/decorators';
import { errorInfo, FsmError, type ErrorInfo } from '../errors.js';
import { retryDelay } from '../invoke-handler.js';
import type { Direction, FsmEventType, HistoryRecord, InstanceStatus } from '../records.js';
import { errorMatches } from './error-match.js';
import type { Wait } from './waits.js';

/**
 * Every decision the engine makes, as pure functions of the machine graph, where an instance
 * is and what a handler did. The runner performs the effects (runs handlers, commits, renews
 * leases); nothing here touches a store, a clock or a handler, so each rule is tested alone.
 */

/** Where an instance is, as far as deciding goes. */
export interface Cursor {
  /** The next step to run (forward), the next to undo (backward), or where it rests or ended. */
  state: string;
  direction: Direction;
  /** Failed attempts of the current step so far. */
  attempts: number;
}

/** How a step's handler ended. */
export type Outcome =
  | { kind: 'completed'; goto?: string | null; end?: EarlyEnd | null; wait?: Wait | null }
  | { kind: 'threw'; error: unknown };

export type EarlyEnd = { kind: 'succeed' } | { kind: 'fail'; code: string; message: string };

export interface DecideOptions {
  onError: OnError;
  /** Retries wait as durable timers (a worker drives the instance, or the runner asked for it). */
  durableRetry: boolean;
}

/** An error a catch rule routed, as the target step reads it. */
export interface CaughtInfo extends ErrorInfo {
  step: string;
}

export type Decision =
  /**
   * The handler's work stands; the instance moves to `cursor.state` (a step, a resting or an end
   * state), after `wait` when the step asked for one (committed with the step's work).
   */
  | { kind: 'moved'; cursor: Cursor; event: FsmEventType; caught: CaughtInfo | null; ended?: 'succeed'; wait?: Wait }
  /** Run the same step again: now (after `delayMs`), or later as a durable timer. */
  | { kind: 'retry'; cursor: Cursor; delayMs: number; durable: boolean }
  /** The error was caught: discard the attempt's work and continue at `cursor.state` with `caught` readable. */
  | { kind: 'caught'; cursor: Cursor; caught: CaughtInfo }
  /** Saga: discard the attempt's work and undo the completed steps. */
  | { kind: 'turn-back'; error: ErrorInfo }
  /** The instance fails at `cursor.state`; `keep`: the handler's work stands (an early `fail`). */
  | { kind: 'failed'; cursor: Cursor; error: ErrorInfo; keep: boolean };

/** What happens after a forward or backward handler of `step` ran with `outcome`. */
export function decide(graph: MachineGraph, step: StepModel, cursor: Cursor, outcome: Outcome, options: DecideOptions): Decision {
  return cursor.direction === 'forward'
    ? decideForward(graph, step, cursor, outcome, options)
    : decideBackward(step, cursor, outcome, options);
}

function decideForward(graph: MachineGraph, step: StepModel, cursor: Cursor, outcome: Outcome, options: DecideOptions): Decision {
  if (outcome.kind === 'threw') {
    const attempt = cursor.attempts + 1;
    const retry = step.retry;
    if (retry && attempt < retry.maxAttempts && (retry.on === undefined || errorMatches(outcome.error, retry.on))) {
      return { kind: 'retry', cursor: { ...cursor, attempts: attempt }, delayMs: retryDelay(retry, attempt), durable: options.durableRetry };
    }
    const info = errorInfo(outcome.error);
    const rule = step.catch?.find((r) => errorMatches(outcome.error, r.on));
    if (rule) return { kind: 'caught', cursor: { state: rule.goto, direction: 'forward', attempts: 0 }, caught: { ...info, step: step.name } };
    if (options.onError === 'compensate') return { kind: 'turn-back', error: info };
    return { kind: 'failed', cursor: { ...cursor, attempts: attempt }, error: info, keep: false };
  }
  if (outcome.end?.kind === 'fail') {
    const error: ErrorInfo = { name: 'StepFailed', code: outcome.end.code, message: outcome.end.message };
    return { kind: 'failed', cursor: { ...cursor, attempts: 0 }, error, keep: true };
  }
  if (outcome.end?.kind === 'succeed') {
    return { kind: 'moved', cursor: { state: 'done', direction: 'forward', attempts: 0 }, event: 'step.completed', caught: null, ended: 'succeed' };
  }
  let to = defaultSuccessor(graph, step);
  if (outcome.goto != null) {
    // Checked against the declaration itself: the list of successors is made only to report a bad target.
    const declared = step.next && step.next.length > 0 ? step.next.includes(outcome.goto) : outcome.goto === to;
    if (!declared) {
      const allowed = successors(graph, step);
      const error = new FsmError(
        'FSM_BAD_TARGET',
        `step "${step.name}" went to "${outcome.goto}", which it does not declare: declare it in @Step's next (${allowed.map((s) => `"${s}"`).join(', ')})`,
        { context: { machine: graph.model.name, step: step.name, target: outcome.goto, allowed } },
      );
      return { kind: 'failed', cursor: { ...cursor, attempts: 0 }, error: errorInfo(error), keep: false };
    }
    to = outcome.goto;
  }
  const moved: Decision = { kind: 'moved', cursor: { state: to, direction: 'forward', attempts: 0 }, event: 'step.completed', caught: null };
  const wait = outcome.wait;
  if (wait == null) return moved;
  if (wait.kind === 'message' && wait.onTimeout !== null && !graph.steps.has(wait.onTimeout) && !graph.resting.has(wait.onTimeout) && wait.onTimeout !== 'done') {
    const error = new FsmError(
      'FSM_BAD_TARGET',
      `step "${step.name}" waits for "${wait.name}" with onTimeout "${wait.onTimeout}", which is not a state of ${graph.model.name} (states: ${graph.states.join(', ')})`,
      { context: { machine: graph.model.name, step: step.name, target: wait.onTimeout, allowed: graph.states } },
    );
    return { kind: 'failed', cursor: { ...cursor, attempts: 0 }, error: errorInfo(error), keep: false };
  }
  return { ...moved, wait };
}

function decideBackward(step: StepModel, cursor: Cursor, outcome: Outcome, options: DecideOptions): Decision {
  if (outcome.kind === 'threw') {
    const attempt = cursor.attempts + 1;
    const retry = step.retry;
    if (retry && attempt < retry.maxAttempts && (retry.on === undefined || errorMatches(outcome.error, retry.on))) {
      return { kind: 'retry', cursor: { ...cursor, attempts: attempt }, delayMs: retryDelay(retry, attempt), durable: options.durableRetry };
    }
    return { kind: 'failed', cursor: { ...cursor, attempts: attempt }, error: errorInfo(outcome.error), keep: false };
  }
  // Where it goes next depends on what is left to undo: the runner pops the trail (see `undoNext`).
  return { kind: 'moved', cursor: { state: step.name, direction: 'backward', attempts: 0 }, event: 'step.compensated', caught: null };
}

/**
 * Where an instance at `state` stands: still has a step to run (`null`), rests at a state only a
 * transition leaves (`idle`), or ended (`done`, `compensated`).
 */
export function restingStatus(graph: MachineGraph, state: string): 'done' | 'compensated' | 'idle' | null {
  if (state === 'done') return 'done';
  if (state === 'compensated') return 'compensated';
  if (graph.finals.has(state)) return 'done';
  if (graph.resting.has(state)) return 'idle';
  return null;
}

/** Why a drive stops at a step boundary although the instance could go on; null: go on. */
export function boundaryStop(input: {
  /** Handlers this drive ran. */
  ran: number;
  maxSteps: number;
  /** The step that just completed asked to stop after it (`immediate: false`). */
  stepAtATime: boolean;
  pauseWanted: boolean;
  workerStopping: boolean;
}): 'paused' | 'waiting' | 'idle' | null {
  if (input.pauseWanted) return 'paused';
  if (input.workerStopping) return 'waiting';
  // `next(id)` and `back(id)` mean one step: the instance then stays until the next call.
  if (input.ran >= input.maxSteps) return 'idle';
  if (input.stepAtATime) return 'waiting';
  return null;
}

/**
 * The completed step visits still to undo, oldest first, as history records them: each
 * completed forward visit, less those already undone. Transitions are not undone.
 */
export function trailFromHistory(rows: readonly Pick<HistoryRecord, 'step' | 'direction' | 'error' | 'transition'>[]): string[] {
  const trail: string[] = [];
  for (const h of rows) {
    if (h.error !== null || h.transition !== null) continue;
    if (h.direction === 'forward') trail.push(h.step);
    else {
      const at = trail.lastIndexOf(h.step);
      if (at >= 0) trail.splice(at, 1);
    }
  }
  return trail;
}

/** Without history: the steps before `state` by order, as a machine without branches takes them. */
export function trailByOrder(graph: MachineGraph, state: string): string[] {
  const steps = graph.model.steps;
  const at = state === 'done' ? steps.length : steps.findIndex((s) => s.name === state);
  return steps.slice(0, Math.max(0, at)).map((s) => s.name);
}

/**
 * The next step to undo from the end of `trail` (steps without a back handler have nothing to
 * undo and are passed over), or `compensated` when none is left. Returns what remains below it.
 */
export function undoNext(graph: MachineGraph, trail: readonly string[]): { state: string; rest: string[] } {
  const rest = [...trail];
  while (rest.length > 0) {
    const name = rest.pop()!;
    if (graph.steps.get(name)?.back !== undefined) return { state: name, rest: [...rest, name] };
  }
  return { state: 'compensated', rest };
}

/** Statuses from which each call may drive an instance (a `running` one only when its drive died). */
export const DRIVABLE: Record<'run' | 'work' | 'resume' | 'back' | 'transition', ReadonlySet<InstanceStatus>> = {
  run: new Set(['ready', 'waiting', 'idle', 'running']),
  /** A worker continues only what waits for it: never an instance someone stepped or rests. */
  work: new Set(['ready', 'waiting', 'running']),
  resume: new Set(['ready', 'waiting', 'idle', 'paused', 'failed', 'running']),
  back: new Set(['ready', 'waiting', 'idle', 'paused', 'failed', 'done', 'running']),
  transition: new Set(['ready', 'waiting', 'idle', 'paused', 'failed', 'running']),
};
