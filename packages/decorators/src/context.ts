import type { MachineModel } from './model.js';

/** What `ctx.goto(state)` returns: a handler may return it, or just call `goto`. */
export interface Goto<TState extends string = string> {
  readonly goto: TState;
}

/** A caught error as the catch target's handler reads it (`ctx.error`). */
export interface CaughtError {
  name: string;
  message: string;
  code?: string;
  /** The step whose error was caught. */
  step: string;
}

/**
 * What a step or back handler receives. The runtime implements it; it is declared here so
 * that machine classes and `defineMachine` can be typed without depending on the runtime.
 * `TNext` is the states `goto` accepts: the generator emits a context type per step with its
 * declared successors.
 */
export interface StepContext<TData = unknown, TNext extends string = string> {
  readonly instanceId: string;
  readonly machine: string;
  readonly userId: string | null;
  /** Name of the step being run (or undone). */
  readonly step: string;
  readonly direction: 'forward' | 'backward';
  /** 1 for the first attempt, then 2, 3... under a retry policy. */
  readonly attempt: number;
  /** The instance's data: read it, change it in place or replace it. It is saved after the handler. */
  data: TData;
  /** Shallow-merges a patch into `data`. */
  set(patch: Partial<TData>): void;
  /**
   * Pauses the instance once this handler returns; `resume(id, patch)` continues with the next
   * step. With `{ rerun: true }` the step does not complete: the instance pauses at this step
   * (its data changes are kept) and `resume` runs it again ("not yet": wait for a confirmation).
   */
  pause(reason?: string, options?: { rerun?: boolean }): void;
  /** Attaches metadata to this handler's history entry. */
  annotate(metadata: Record<string, unknown>): void;
  /** Aborted when the step's `timeoutMs` passes. */
  readonly signal: AbortSignal;
  /** Goes to one of the step's declared successors (`next`) once this handler returns. */
  goto(state: TNext): Goto<TNext>;
  /** Ends the instance `done` once this handler returns (ASL's Succeed). */
  succeed(): void;
  /** Ends the instance `failed` with this error once this handler returns (ASL's Fail); no retry, no catch. */
  fail(code: string, message: string): void;
  /** The error a `catch` rule routed here, until this step completes; otherwise null. */
  readonly error: CaughtError | null;
  /**
   * Once this handler returns, the instance waits `ms` milliseconds (or until a time) before
   * the next step: a durable timer on the database clock that a worker honours. Nothing sleeps.
   */
  sleep(time: number | { until: Date }): void;
  /**
   * Once this handler returns, the instance waits for the message `name` with this correlation
   * key (`runner.deliver(name, key, payload)`); the next step reads it as `ctx.message`. With
   * `timeoutMs`, it goes to `onTimeout` when none came in time (without it, it fails).
   */
  waitFor(name: string, options: { key: string; timeoutMs?: number; onTimeout?: TNext | (string & {}) }): void;
  /** The message that ended the wait before this step, until this step completes; otherwise null. */
  readonly message: ReceivedMessage | null;
  /**
   * Starts a child instance of `machine` (a machine the runner was given in `machines`) once
   * this step completes, in the same commit; returns its id. Its user is this instance's
   * unless given.
   */
  spawn(machine: string, data: unknown, options?: SpawnOptions): string;
  /**
   * One child of `machine` per item, at most `concurrency` of them (default 10) unfinished at
   * once: each child that ends starts the next. Returns their ids, in item order.
   */
  map(machine: string, items: readonly unknown[], options?: MapOptions): string[];
  /**
   * Once this step completes, the instance waits until every child it spawned in this step
   * ended, puts their results (in spawn order) at `into`, and goes on.
   */
  join(options?: JoinOptions<TData>): void;
}

/** A message as the step after its wait reads it. */
export interface ReceivedMessage<TPayload = unknown> {
  name: string;
  key: string;
  payload: TPayload;
  /** The id the sender gave (`deliver(..., { messageId })`), if any. */
  messageId: string | null;
}

export interface SpawnOptions {
  userId?: string | null;
}

export interface MapOptions extends SpawnOptions {
  /** Children unfinished at once. Default 10. */
  concurrency?: number;
}

export interface JoinOptions<TData = unknown> {
  /** The data key that receives the results, in spawn order; absent: the instance only waits. */
  into?: keyof TData & string;
  /** Only this field of each child's final data goes into the results (a projection). */
  field?: string;
  /**
   * `fail` (default): the parent fails at the first child that fails, and the other children
   * are paused; results are each child's final data. `collect`: the parent waits for every
   * child; results are `{ id, status, data }` or `{ id, status, error }` per child.
   */
  onChildError?: 'fail' | 'collect';
}

/** What a transition method (and its guard) receives. */
export interface TransitionContext<TData = unknown, TInput = unknown> {
  readonly instanceId: string;
  readonly machine: string;
  readonly userId: string | null;
  /** The transition's name. */
  readonly transition: string;
  readonly from: string;
  readonly to: string;
  /** Validated input. */
  readonly input: TInput;
  /** Who executed it, as the caller said (`{ actor }`); recorded in history. */
  readonly actor: string | null;
  /** The instance's data: read it, change it in place or replace it. It is saved after the method. */
  data: TData;
  set(patch: Partial<TData>): void;
  annotate(metadata: Record<string, unknown>): void;
}

/** A step or back handler. */
export type Handler<TData = unknown> = (ctx: StepContext<TData>) => unknown;

/** A transition method. */
export type TransitionHandler<TData = unknown, TInput = unknown> = (ctx: TransitionContext<TData, TInput>) => unknown;

/** A guard: true (or nothing) allows, false refuses, a string refuses with that reason. */
export type Guard<TData = unknown, TInput = unknown> = (
  ctx: TransitionContext<TData, TInput>,
) => boolean | string | void | Promise<boolean | string | void>;

/**
 * What the runtime runs: the model plus a factory for the object whose methods are the
 * handlers (a class instance, or the `methods` of `defineMachine`).
 */
export interface MachineDefinition<TData = unknown> {
  readonly model: MachineModel;
  create(): object;
  /**
   * Validators of transition input that are not JSON Schema (any Standard Schema validator,
   * such as zod's), by transition name; they take precedence over the model's `input`.
   */
  readonly validators?: Readonly<Record<string, StandardSchemaV1>>;
  /** Phantom field carrying the data type; never set. */
  readonly __data?: TData;
}

/** The Standard Schema interface (standardschema.dev), as far as fsmkit uses it. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

export type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<{ readonly message: string; readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined }> };
