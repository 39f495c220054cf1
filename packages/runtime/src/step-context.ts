import type { CaughtError, Goto, JoinOptions, MapOptions, ReceivedMessage, SpawnOptions, StepContext } from '@fsmkit/decorators';
import { childId, MAX_CHILDREN } from './engine/children.js';
import { checkKey, type Wait } from './engine/waits.js';
import { FsmError } from './errors.js';
import type { Direction } from './records.js';

/** A child the handler asked for; stored with the step's commit. */
export interface SpawnRequest {
  machine: string;
  id: string;
  data: unknown;
  userId: string | null;
  /** Started later by a sibling that ends (`map` beyond its concurrency). */
  queued: boolean;
  /** The map's concurrency; 0 outside a map. */
  stride: number;
}

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
  message: ReceivedMessage | null = null;
  /** The wait `sleep` or `waitFor` asked for, if any. */
  wait: Wait | null = null;
  /** Children asked for by `spawn` and `map`, in order. */
  spawns: SpawnRequest[] = [];
  joinRequest: JoinOptions<TData> | null = null;
  /** Set by the engine for forward steps: the machines this handler may spawn; null: it cannot spawn. */
  spawnable: ReadonlySet<string> | null = null;
  /**
   * The drive's version and how many forward handlers it ran before this one: they name this step
   * visit (`visit`), and with the parent id and the index, its children. Numbers, so that a step
   * that spawns nothing makes no string.
   */
  visitVersion = 0;
  visitIndex = 0;
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

  /** Identifies this step visit: with the parent id and the index, it makes the child ids. */
  get visit(): string {
    return `${this.visitVersion}.${this.visitIndex}`;
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

  spawn(machine: string, data: unknown, options: SpawnOptions = {}): string {
    if (this.spawns.length >= MAX_CHILDREN) {
      throw new FsmError('FSM_INVALID_STATE', `a step spawns at most ${MAX_CHILDREN} children`, {
        context: { machine: this.machine, id: this.instanceId, step: this.step },
      });
    }
    return this.addChild(machine, data, options, false);
  }

  map(machine: string, items: readonly unknown[], options: MapOptions = {}): string[] {
    const concurrency = options.concurrency ?? 10;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new FsmError('FSM_INVALID_STATE', `map concurrency must be a positive integer, got ${String(concurrency)}`, {
        context: { machine: this.machine, id: this.instanceId, step: this.step, concurrency },
      });
    }
    if (this.spawns.length + items.length > MAX_CHILDREN) {
      throw new FsmError('FSM_INVALID_STATE', `a step spawns at most ${MAX_CHILDREN} children`, {
        context: { machine: this.machine, id: this.instanceId, step: this.step, items: items.length },
      });
    }
    // Item i waits for item i - concurrency: each child that ends starts the one queued behind it.
    return items.map((item, i) => this.addChild(machine, item, options, i >= concurrency, concurrency));
  }

  join(options: JoinOptions<TData> = {}): void {
    this.joinRequest = options;
  }

  private addChild(machine: string, data: unknown, options: SpawnOptions, queued: boolean, stride = 0): string {
    const machines = this.spawnable;
    if (machines === null || !machines.has(machine)) {
      const known = machines === null ? [] : [...machines];
      throw new FsmError(
        'FSM_CHILD_MACHINE_UNKNOWN',
        machines === null
          ? `step "${this.step}" of ${this.machine} cannot spawn children here (only a forward step can)`
          : `step "${this.step}" of ${this.machine} spawned machine "${machine}", which its runner does not know; pass its runner in createRunner(..., { machines: [...] }) (known: ${known.join(', ') || 'none'})`,
        { context: { machine: this.machine, id: this.instanceId, step: this.step, child: machine, known } },
      );
    }
    const id = childId(this.instanceId, this.visit, this.spawns.length, stride);
    this.spawns.push({ machine, id, data, userId: options.userId === undefined ? this.userId : options.userId, queued, stride });
    return id;
  }

  abort(reason: unknown): void {
    this.controller ??= new AbortController();
    this.controller.abort(reason);
  }
}
