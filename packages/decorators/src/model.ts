/**
 * The machine model: the plain, versioned description of a machine that every part of fsmkit
 * shares. The decorators record it at run time, `defineMachine()` builds it by hand, and the
 * generator extracts it from source without running user code. All three must agree.
 */

/** Bumped when the model's shape changes; stored in generated files and snapshots. */
export const MODEL_VERSION = 1 as const;

export type LockScope = 'none' | 'global' | 'local';
export type LocalLockBy = 'user' | 'type';
export type OnError = 'fail' | 'compensate';

export interface LockModel {
  scope: LockScope;
  /** Only for `local` locks: one instance at a time per user/account, or per machine type. */
  by?: LocalLockBy;
}

/**
 * Which errors a `retry` or `catch` rule applies to: an `FsmError` code (`'FSM_STEP_TIMEOUT'`),
 * an error `name`, or the name of the error's class or of any class it extends; `'*'` matches
 * every error (ASL's `States.ALL`). The decorators also take a class and record its name.
 */
export type ErrorMatcher = string;

/** The match-all error matcher. */
export const ANY_ERROR = '*';

export interface RetryPolicy {
  /** Total attempts including the first one. 1 means no retry. */
  maxAttempts: number;
  /** Only errors matching one of these are retried; absent: every error. */
  on?: ErrorMatcher[];
  /** Delay before the second attempt. */
  backoffMs?: number;
  /** Multiplier applied to the delay after each failed attempt. */
  factor?: number;
  /** Upper bound for a single delay. */
  maxBackoffMs?: number;
}

export interface StepModel {
  /** Position in the forward run: a positive integer, unique per machine. */
  order: number;
  /** State name of the step: `name` option, or the method name. */
  name: string;
  /** Method that runs the step. */
  method: string;
  /** Method that undoes the step when the machine moves backward. */
  back?: string;
  /** Overrides the machine's `immediate` for what happens after this step. */
  immediate?: boolean;
  retry?: RetryPolicy;
  timeoutMs?: number;
  /**
   * States this step may go to, chosen by the handler with `ctx.goto(name)`; the first is
   * where it goes when the handler picks none. Absent: the next step by order (or `done`).
   */
  next?: string[];
  /** The instance is `done` once this step completes. */
  end?: boolean;
  /** Where the step's final error goes (after retries), by the first rule that matches it. */
  catch?: CatchRule[];
  /** What the instance waits for once the step completes (ASL's Wait, a message wait). */
  wait?: WaitModel;
  /** Once the step completes, the instance waits for the children it spawned (see `JoinModel`). */
  join?: JoinModel;
}

/**
 * A join declared on a step: what `ctx.join(options)` does, for every visit of the step that
 * spawned children and called no `ctx.join` itself. `into` is the data key that receives the
 * results (absent: the instance only waits), `field` projects each child's final data,
 * `onChildError` is `fail` (default) or `collect`.
 */
export interface JoinModel {
  into?: string;
  field?: string;
  onChildError?: 'fail' | 'collect';
}

/**
 * A wait declared on a step: a timer (`ms`), or a named message correlated by a key. The key is
 * read from the data field `key` when the step completes, unless the handler gives one with
 * `ctx.waitFor`. `onTimeout` is the state the instance goes to when no message came within
 * `timeoutMs` (without it, the instance fails with FSM_WAIT_TIMEOUT); `payload` is the JSON
 * Schema `deliver` checks the message against (the generator derives it from the payload type).
 */
export type WaitModel =
  | { kind: 'timer'; ms: number }
  | { kind: 'message'; message: string; key?: string; timeoutMs?: number; onTimeout?: string; payload?: JsonSchema };

/** Routes a step's final error to a state, where the handler reads it as `ctx.error`. */
export interface CatchRule {
  on: ErrorMatcher[];
  goto: string;
}

/** `from: ['*']`: any state that is not final. */
export const ANY_STATE = '*';

/**
 * A named transition: a method run only when called (`runner.transition(id, name, input)`),
 * allowed from the `from` states, moving the instance to `to`. `guard` names a method that
 * may refuse it; `input` is the JSON Schema its input must satisfy.
 */
export interface TransitionModel {
  name: string;
  method: string;
  from: string[];
  to: string;
  guard?: string;
  input?: JsonSchema;
}

/** A JSON Schema (2020-12) document, as plain JSON. */
export type JsonSchema = { [key: string]: unknown };

export interface MachineModel {
  modelVersion: typeof MODEL_VERSION;
  /** Machine type name; reaches SQL table names and Kafka, so it is validated. */
  name: string;
  /** Name of the class (or of the definition) the machine came from. */
  className: string;
  /** Kafka topic for state-change events; absent means no events. */
  topic?: string;
  /** Write the store after every step (true) or only at pause, wait, finish and failure. */
  saveAfterStep: boolean;
  /** Go straight on after a step (true) or stop in `waiting` until `next(id)`. */
  immediate: boolean;
  /** User-chosen definition version, stored with every instance. */
  version: number;
  onError: OnError;
  lock: LockModel;
  /** Sorted by `order`. */
  steps: StepModel[];
  /** Where instances start; absent: the step of lowest order. */
  initial?: string;
  /** Named transitions, in declaration order; absent when the machine has none. */
  transitions?: TransitionModel[];
}

/** Options of `@Machine(...)` and of `defineMachine(...)`. */
export interface MachineOptions {
  name: string;
  topic?: string;
  saveAfterStep?: boolean;
  immediate?: boolean;
  version?: number;
  onError?: OnError;
  /** The state new instances start at (a step, or a state only transitions leave). */
  initial?: string;
}

/** A class of errors, matched by its name (and the names of classes extending it). */
export type ErrorClass = abstract new (...args: never[]) => Error;

/** An error matcher as the decorators take it: a code or name, or an error class. */
export type ErrorMatch = ErrorMatcher | ErrorClass;

/** Options of `@Step(order, ...)`. */
export interface StepOptions {
  name?: string;
  back?: string;
  immediate?: boolean;
  retry?: Omit<RetryPolicy, 'on'> & { on?: ErrorMatch[] };
  timeoutMs?: number;
  /** Declared successors: one state, or the states `ctx.goto` may pick (the first is the default). */
  next?: string | string[];
  end?: boolean;
  catch?: Array<{ on: ErrorMatch | ErrorMatch[]; goto: string }>;
  /** Once the step completes, the instance waits this long (ms) before the next step: a durable timer. */
  sleep?: number;
  /** Once the step completes, the instance waits for this message (see `WaitModel`). */
  waitFor?: MessageWaitOptions;
  /** Once the step completes, the instance waits for the children it spawned: `true`, or the options of `ctx.join`. */
  join?: JoinModel | true;
}

/**
 * A message wait as `@Step`'s `waitFor` takes it. Its payload's type is `@Step`'s type argument,
 * `@Step<Payment>(n, { waitFor })`: the generator derives `payload`'s JSON Schema from it.
 */
export interface MessageWaitOptions {
  message: string;
  /** The data field holding the correlation key (absent: the handler calls `ctx.waitFor`). */
  key?: string;
  timeoutMs?: number;
  onTimeout?: string;
  payload?: JsonSchema;
}

/** Options of `@Transition(name, ...)`. */
export interface TransitionOptions {
  /** The states it may be taken from: one, several, or `'*'` for any state that is not final. */
  from: string | string[];
  to: string;
  /** A method of the machine that may refuse the transition (returns false, or a reason). */
  guard?: string;
  /** JSON Schema of the input; the generator derives it from the method's input type. */
  input?: JsonSchema;
}

export interface LockOptions {
  by?: LocalLockBy;
}

export const MACHINE_DEFAULTS = {
  saveAfterStep: true,
  immediate: true,
  version: 1,
  onError: 'fail',
} as const satisfies Partial<MachineModel>;

/** Names that reach SQL identifiers and Kafka topics must match this after normalisation. */
export const NAME_PATTERN = /^[a-z][a-z0-9_]{0,47}$/;

/** State names the runtime uses for terminal states; no step may take them. */
export const RESERVED_STATES = ['done', 'compensated'] as const;
export type TerminalState = (typeof RESERVED_STATES)[number];

/**
 * Normalises a machine name the way SQL and Kafka see it: camelCase and kebab-case become
 * snake_case, letters become lower case. Validation happens on the result.
 */
export function normalizeName(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[-\s]+/g, '_')
    .toLowerCase();
}

/**
 * Builds a complete model from the pieces the decorators or `defineMachine` collect:
 * defaults filled in, steps sorted by order. It does not validate; see `validateModel`.
 */
export function buildModel(input: {
  className: string;
  options: MachineOptions;
  lock?: LockModel;
  steps: Array<{ order: number; method: string; options?: StepOptions }>;
  transitions?: Array<{ name: string; method: string; options: TransitionOptions }>;
}): MachineModel {
  const { options } = input;
  const model: MachineModel = {
    modelVersion: MODEL_VERSION,
    name: normalizeName(options.name),
    className: input.className,
    saveAfterStep: options.saveAfterStep ?? MACHINE_DEFAULTS.saveAfterStep,
    immediate: options.immediate ?? MACHINE_DEFAULTS.immediate,
    version: options.version ?? MACHINE_DEFAULTS.version,
    onError: options.onError ?? MACHINE_DEFAULTS.onError,
    lock: input.lock ?? { scope: 'none' },
    steps: input.steps
      .map((s) => stepModel(s.order, s.method, s.options))
      .sort((a, b) => a.order - b.order),
  };
  if (options.topic !== undefined) model.topic = options.topic;
  if (options.initial !== undefined) model.initial = options.initial;
  const transitions = input.transitions ?? [];
  if (transitions.length > 0) model.transitions = transitions.map((t) => transitionModel(t.name, t.method, t.options));
  return model;
}

function stepModel(order: number, method: string, options: StepOptions = {}): StepModel {
  const step: StepModel = { order, name: options.name ?? method, method };
  if (options.back !== undefined) step.back = options.back;
  if (options.immediate !== undefined) step.immediate = options.immediate;
  if (options.retry !== undefined) {
    const { on, ...retry } = options.retry;
    step.retry = on === undefined ? { ...retry } : { ...retry, on: matcherNames(on) };
  }
  if (options.timeoutMs !== undefined) step.timeoutMs = options.timeoutMs;
  if (options.next !== undefined) step.next = Array.isArray(options.next) ? [...options.next] : [options.next];
  if (options.end !== undefined) step.end = options.end;
  if (options.catch !== undefined) {
    step.catch = options.catch.map((rule) => ({ on: matcherNames(Array.isArray(rule.on) ? rule.on : [rule.on]), goto: rule.goto }));
  }
  if (options.sleep !== undefined) step.wait = { kind: 'timer', ms: options.sleep };
  if (options.waitFor !== undefined) step.wait = { kind: 'message', ...options.waitFor };
  if (options.join !== undefined) step.join = options.join === true ? {} : { ...options.join };
  return step;
}

function transitionModel(name: string, method: string, options: TransitionOptions): TransitionModel {
  const from = options.from === ANY_STATE ? [ANY_STATE] : Array.isArray(options.from) ? [...options.from] : [options.from];
  const t: TransitionModel = { name, method, from, to: options.to };
  if (options.guard !== undefined) t.guard = options.guard;
  if (options.input !== undefined) t.input = options.input;
  return t;
}

/** Error matchers as the model keeps them: names, classes replaced by theirs. */
export function matcherNames(matchers: readonly ErrorMatch[]): ErrorMatcher[] {
  return matchers.map((m) => (typeof m === 'function' ? m.name : m));
}

/** Lock model for `@Lock(scope, options)`: `local` defaults to `by: 'user'`. */
export function lockModel(scope: LockScope, options: LockOptions = {}): LockModel {
  if (scope === 'local') return { scope, by: options.by ?? 'user' };
  return { scope };
}
