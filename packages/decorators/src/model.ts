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

export interface RetryPolicy {
  /** Total attempts including the first one. 1 means no retry. */
  maxAttempts: number;
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
}

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
}

/** Options of `@Machine(...)` and of `defineMachine(...)`. */
export interface MachineOptions {
  name: string;
  topic?: string;
  saveAfterStep?: boolean;
  immediate?: boolean;
  version?: number;
  onError?: OnError;
}

/** Options of `@Step(order, ...)`. */
export interface StepOptions {
  name?: string;
  back?: string;
  immediate?: boolean;
  retry?: RetryPolicy;
  timeoutMs?: number;
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
  return model;
}

function stepModel(order: number, method: string, options: StepOptions = {}): StepModel {
  const step: StepModel = { order, name: options.name ?? method, method };
  if (options.back !== undefined) step.back = options.back;
  if (options.immediate !== undefined) step.immediate = options.immediate;
  if (options.retry !== undefined) step.retry = { ...options.retry };
  if (options.timeoutMs !== undefined) step.timeoutMs = options.timeoutMs;
  return step;
}

/** Lock model for `@Lock(scope, options)`: `local` defaults to `by: 'user'`. */
export function lockModel(scope: LockScope, options: LockOptions = {}): LockModel {
  if (scope === 'local') return { scope, by: options.by ?? 'user' };
  return { scope };
}
