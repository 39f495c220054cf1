import type { CaughtError, Goto, ReceivedMessage, StepContext } from '@fsmkit/decorators';
import { FsmError } from './errors.js';
import { checkKey, type Wait } from './engine/waits.js';
import type { Direction } from './records.js';

/** The context one handler attempt sees; the engine reads back data, pause and metadata. */
export class RunningStepContext<TData> implements StepContext<TData> {
  data: TData;
  pauseReason: string | null = null;
  paused = false;
  metadata: Record<string, unknown> = {};
  /** The successor the handler chose with `goto`, if any. */
  chosen: string | null = null;
  /** `succeed()` or `fail()` was called. */
  ended: { kind: 'succeed' } | { kind: 'fail'; code: string; message: string } | null = null;
  error: CaughtError | null = null;
  message: ReceivedMessage | null = null;
  /** The wait `sleep` or `waitFor` asked for, if any. */
  wait: Wait | null = null;
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

  sleep(time: number | { until: Date }): void {
    const delayMs = typeof time === 'number' ? time : time?.until instanceof Date ? time.until.getTime() - Date.now() : Number.NaN;
    if (!Number.isFinite(delayMs)) {
      throw new FsmError('FSM_WAIT_INVALID', `ctx.sleep needs milliseconds or { until: Date }, got ${String(time)}`, { context: { step: this.step } });
    }
    // A time already past: due at once (a worker continues it at its next claim).
    this.wait = { kind: 'timer', delayMs: Math.max(0, delayMs) };
  }

  waitFor(name: string, options: { key: string; timeoutMs?: number; onTimeout?: string }): void {
    const context = { step: this.step, message: name };
    if (typeof name !== 'string' || name.length === 0 || name.length > 64) {
      throw new FsmError('FSM_WAIT_INVALID', `ctx.waitFor needs a message name of 1 to 64 characters, got ${JSON.stringify(name)}`, { context });
    }
    const key = checkKey(options?.key, 'FSM_WAIT_INVALID', context);
    const timeoutMs = options.timeoutMs ?? null;
    if (timeoutMs !== null && !(timeoutMs > 0)) {
      throw new FsmError('FSM_WAIT_INVALID', `ctx.waitFor("${name}") timeoutMs must be positive, got ${String(timeoutMs)}`, { context });
    }
    if (options.onTimeout !== undefined && timeoutMs === null) {
      throw new FsmError('FSM_WAIT_INVALID', `ctx.waitFor("${name}") names onTimeout "${options.onTimeout}" but no timeoutMs`, { context });
    }
    this.wait = { kind: 'message', name, key, timeoutMs, onTimeout: options.onTimeout ?? null };
  }

  abort(reason: unknown): void {
    this.controller ??= new AbortController();
    this.controller.abort(reason);
  }
}
