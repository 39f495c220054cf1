import type { CaughtError, Goto, StepContext } from '@fsmkit/decorators';
import type { Direction } from './records.js';

const NO_METADATA: Record<string, unknown> = Object.freeze({});

/** The context one handler attempt sees; the engine reads back data, pause and metadata. */
export class RunningStepContext<TData> implements StepContext<TData> {
  data: TData;
  pauseReason: string | null = null;
  paused = false;
  /** One shared empty object until `annotate`: most attempts annotate nothing, and history keeps every attempt's. */
  metadata: Record<string, unknown> = NO_METADATA;
  /** The successor the handler chose with `goto`, if any. */
  chosen: string | null = null;
  /** `succeed()` or `fail()` was called. */
  ended: { kind: 'succeed' } | { kind: 'fail'; code: string; message: string } | null = null;
  error: CaughtError | null = null;
  /** Made when first asked for: most handlers never look at the signal, and each costs microseconds. */
  private controller: AbortController | undefined;

  constructor(
    readonly instanceId: string,
    readonly machine: string,
    readonly userId: string | null,
    readonly step: string,
    readonly direction: Direction,
    readonly attempt: number,
    data: TData,
  ) {
    this.data = data;
  }

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }

  set(patch: Partial<TData>): void {
    this.data = { ...this.data, ...patch };
  }

  /** `pause(reason, { rerun: true })`: the step did not complete and runs again on resume. */
  rerun = false;

  pause(reason?: string, options: { rerun?: boolean } = {}): void {
    this.paused = true;
    this.pauseReason = reason ?? null;
    this.rerun = options.rerun ?? false;
  }

  annotate(metadata: Record<string, unknown>): void {
    if (this.metadata === NO_METADATA) this.metadata = {};
    Object.assign(this.metadata, metadata);
  }

  goto(state: string): Goto {
    this.chosen = state;
    return { goto: state };
  }

  succeed(): void {
    this.ended = { kind: 'succeed' };
  }

  fail(code: string, message: string): void {
    this.ended = { kind: 'fail', code, message };
  }

  abort(reason: unknown): void {
    this.controller ??= new AbortController();
    this.controller.abort(reason);
  }
}
