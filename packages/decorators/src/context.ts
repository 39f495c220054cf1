import type { MachineModel } from './model.js';

/**
 * What a step or back handler receives. The runtime implements it; it is declared here so
 * that machine classes and `defineMachine` can be typed without depending on the runtime.
 */
export interface StepContext<TData = unknown> {
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
  /** Pauses the instance once this handler returns; `resume(id, patch)` continues with the next step. */
  pause(reason?: string): void;
  /** Attaches metadata to this handler's history entry. */
  annotate(metadata: Record<string, unknown>): void;
  /** Aborted when the step's `timeoutMs` passes. */
  readonly signal: AbortSignal;
}

/** A step or back handler. */
export type Handler<TData = unknown> = (ctx: StepContext<TData>) => unknown;

/**
 * What the runtime runs: the model plus a factory for the object whose methods are the
 * handlers (a class instance, or the `methods` of `defineMachine`).
 */
export interface MachineDefinition<TData = unknown> {
  readonly model: MachineModel;
  create(): object;
  /** Phantom field carrying the data type; never set. */
  readonly __data?: TData;
}
