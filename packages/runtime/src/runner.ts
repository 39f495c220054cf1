import { hostname } from 'node:os';
import {
  checkModel,
  RESERVED_STATES,
  type StepContext,
  type TransitionContext,
  type LockModel,
  type MachineDefinition,
  type MachineModel,
  type StepModel,
} from '@fsmkit/decorators';
import { definitionHash } from './definition-hash.js';
import { errorInfo, FsmError } from './errors.js';
import { uuidv7 } from './ids.js';
import { toInstance, type HistoryEntry, type Instance } from './instance.js';
import { decodeTransfer, encodeTransfer } from './instance-transfer.js';
import { invokeHandler, retryDelay } from './invoke-handler.js';
import { toJsonSafe } from './json-safe.js';
import type { AcquireMode, Lease, Locker } from './locker.js';
import { noopLogger, type Logger } from './logger.js';
import { MemoryStore } from './memory-store.js';
import { processLocker } from './memory-locker.js';
import type { Direction, FsmEvent, FsmEventType, HistoryRecord, InstanceRecord, InstanceStatus } from './records.js';
import { deserialize, serialize, superjsonSerializer, type Serializer } from './serializer.js';
import { RunningStepContext } from './step-context.js';
import type { ListFilter, Store } from './store.js';
import { Worker, type WorkOptions } from './worker.js';

export const EVENT_SCHEMA_VERSION = 1;

export interface RunnerOptions {
  /** Where instances live. Default: a new in-memory store. */
  store?: Store;
  /**
   * Default: the store's own locker when it has one (`MysqlStore`: locks in MySQL, checked by
   * its commits), else one in-process locker shared by every runner of the process.
   */
  locker?: Locker;
  serializer?: Serializer;
  logger?: Logger;
  /** Overrides the machine's topic; `null` turns events off. */
  topic?: string | null;
  /** Overrides the machine's `@Lock`. */
  lock?: LockModel;
  /** How long a lock lease lasts without renewal. Default 30 s; renewed while steps run. */
  lockLeaseMs?: number;
  /** What to do when a lock is held: wait (default, up to `lockTimeoutMs`), fail at once, or skip. */
  lockMode?: AcquireMode;
  lockTimeoutMs?: number;
  /** Identifies this process in leases. Default: host, pid and a random suffix. */
  owner?: string;
  /** Record one history entry per executed handler. Default true. */
  history?: boolean;
  saveAfterStep?: boolean;
  immediate?: boolean;
  /** Waits between retry attempts. Default: a timer. */
  sleep?: (ms: number) => Promise<void>;
  /**
   * Retry backoff as a durable timer: a failed attempt leaves the instance `waiting` with
   * `nextRunAt` set, for a worker to pick up, instead of sleeping in this process. Always on
   * for instances a worker drives.
   */
  durableTimers?: boolean;
  /**
   * How long a running instance's lease lasts without renewal; it is renewed while the drive
   * runs, so a worker takes over only an instance whose process died. Default 30 s.
   */
  instanceLeaseMs?: number;
}

export interface CreateOptions {
  /** The user or account the instance belongs to; required by `@Lock('local', { by: 'user' })`. */
  userId?: string | null;
  /** Defaults to a new UUIDv7. */
  id?: string;
  /** Earliest time a worker may start it. */
  runAt?: Date;
  /** The state to start at instead of the machine's initial state (any state that is not final). */
  at?: string;
}

/** Options of `runner.transition(...)`. */
export interface TransitionCallOptions {
  /** Who executes the transition (a user id, a service name); recorded in history and events. */
  actor?: string | null;
}

/** Input types of a machine's transitions, by name: the generated runner gives the precise map. */
export type TransitionInputs = Record<string, unknown>;

/** What hooks see: the step's or the transition's context, and for `after`, how it ended. */
export type HookEvent<TData = unknown> =
  | { kind: 'step'; name: string; ctx: StepContext<TData>; error?: unknown }
  | { kind: 'transition'; name: string; ctx: TransitionContext<TData>; error?: unknown; result?: unknown };

export type Hook<TData = unknown> = (event: HookEvent<TData>) => void | Promise<void>;

/** The typed API a generated runner exposes. */
export interface MachineRunner<TData = unknown, TState extends string = string, TInputs extends TransitionInputs = TransitionInputs> {
  readonly model: MachineModel;
  readonly store: Store;
  /**
   * Runs the named transition on an instance resting at one of its `from` states: validates
   * the input, asks the guard, runs the method, moves the instance to `to` and, when `to` is a
   * step, runs on from there as `run` does. Refused (FSM_INSTANCE_BUSY) while a drive holds it.
   */
  transition<N extends keyof TInputs & string>(
    id: string,
    name: N,
    input: TInputs[N],
    options?: TransitionCallOptions,
  ): Promise<Instance<TData, TState>>;
  /** Calls `fn` before (or after) every step handler and transition method; returns a function that removes it. */
  on(hook: 'before' | 'after', fn: Hook<TData>): () => void;
  /** Stores a new instance in `ready`, at the first step. */
  create(data: TData, options?: CreateOptions): Promise<Instance<TData, TState>>;
  /** `create` then `run`. */
  start(data: TData, options?: CreateOptions): Promise<Instance<TData, TState>>;
  /** Runs steps in the current direction until the instance waits, pauses, fails or ends. */
  run(id: string): Promise<Instance<TData, TState>>;
  /** Runs exactly one step in the current direction, then waits. */
  next(id: string): Promise<Instance<TData, TState>>;
  /** Undoes the last completed step (its `back` handler), then waits. */
  back(id: string): Promise<Instance<TData, TState>>;
  /** Undoes every completed step, newest first. */
  compensate(id: string): Promise<Instance<TData, TState>>;
  /** Pauses now if idle, else at the next step boundary (also when running in another process). */
  pause(id: string, reason?: string): Promise<Instance<TData, TState>>;
  /** Merges `patch` into the data and continues a paused, waiting or failed instance. */
  resume(id: string, patch?: Partial<TData>): Promise<Instance<TData, TState>>;
  get(id: string): Promise<Instance<TData, TState>>;
  find(id: string): Promise<Instance<TData, TState> | undefined>;
  history(id: string): Promise<Array<HistoryEntry<TData>>>;
  list(filter?: ListFilter): Promise<Array<Instance<TData, TState>>>;
  /** Current state of many instances in one store call. */
  currentStates(ids: string[]): Promise<Map<string, TState>>;
  /** The instance and its history as text, to restore elsewhere with `importInstance`. */
  exportInstance(id: string): Promise<string>;
  /** Stores an exported instance (in this runner's store) as it was; run or resume it next. */
  importInstance(text: string): Promise<Instance<TData, TState>>;
  /** Starts a worker that claims and runs this machine's runnable instances from the store. */
  work(options?: WorkOptions): Worker;
}

type HandlerFn = (ctx: RunningStepContext<unknown>) => unknown;

/** What a drive does: how many steps at most, which way, and what to merge first. */
interface DriveIntent {
  maxSteps: number;
  /** The instance was stored already marked running (see `start`): no commit to mark it. */
  marked?: boolean;
  /** Driven by a worker: durable timers, and stop at the next boundary when the worker stops. */
  worker?: Worker;
  direction?: Direction;
  resume?: { patch: Record<string, unknown> | undefined };
}

/** What a drive last committed, while the instance is `running` under its lease: kept alive by renewal. */
interface InstanceLease {
  version: number;
  running: boolean;
}

/** The locks a drive holds; `released` once a store ended them within the drive's last commit, `over` once the drive ended. */
interface HeldLocks {
  leases: Lease[];
  released: boolean;
  over: boolean;
}

const RUNNABLE: ReadonlySet<InstanceStatus> = new Set(['ready', 'waiting', 'running']);
const RESUMABLE: ReadonlySet<InstanceStatus> = new Set(['ready', 'waiting', 'paused', 'failed', 'running']);
const BACKABLE: ReadonlySet<InstanceStatus> = new Set(['ready', 'waiting', 'paused', 'failed', 'done', 'running']);

export function createRunner<TData = unknown, TState extends string = string>(
  definition: MachineDefinition<TData>,
  options: RunnerOptions = {},
): MachineRunner<TData, TState> {
  return new Runner<TData, TState>(definition, options);
}

class Runner<TData, TState extends string> implements MachineRunner<TData, TState> {
  readonly model: MachineModel;
  readonly store: Store;
  private readonly handlers: object;
  private readonly locker: Locker;
  private readonly serializer: Serializer;
  private readonly logger: Logger;
  private readonly hash: string;
  private readonly topic: string | null;
  private readonly lock: LockModel;
  private readonly owner: string;
  private readonly keepHistory: boolean;
  private readonly saveAfterStep: boolean;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly stepIndex = new Map<string, number>();
  /** `pause(id)` calls for instances this runner is driving right now. */
  private readonly localPauses = new Map<string, string | null>();
  private readonly driving = new Set<string>();

  constructor(
    definition: MachineDefinition<TData>,
    private readonly options: RunnerOptions,
  ) {
    this.model = definition.model;
    this.handlers = definition.create();
    const methods = new Set<string>();
    for (let o: object | null = this.handlers; o && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
      for (const k of Object.getOwnPropertyNames(o)) {
        if (typeof (this.handlers as Record<string, unknown>)[k] === 'function') methods.add(k);
      }
    }
    const problems = checkModel(this.model, methods);
    for (const s of this.model.steps) {
      if (!methods.has(s.method)) problems.push({ code: 'FSM_E_BACK_MISSING', message: `step method "${s.method}" does not exist`, path: ['steps'] });
    }
    if (problems.length > 0) {
      throw new FsmError(
        'FSM_INVALID_MODEL',
        `machine "${this.model.name}" is invalid:\n${problems.map((p) => `  ${p.code}: ${p.message}`).join('\n')}`,
        { context: { machine: this.model.name, problems } },
      );
    }
    this.model.steps.forEach((s, i) => this.stepIndex.set(s.name, i));
    this.store = options.store ?? new MemoryStore();
    this.locker = options.locker ?? this.store.locker?.() ?? processLocker;
    this.serializer = options.serializer ?? superjsonSerializer;
    this.logger = options.logger ?? noopLogger;
    this.hash = definitionHash(this.model);
    this.topic = options.topic === undefined ? (this.model.topic ?? null) : options.topic;
    this.lock = options.lock ?? this.model.lock;
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${uuidv7().slice(-8)}`;
    this.keepHistory = options.history ?? true;
    this.saveAfterStep = options.saveAfterStep ?? this.model.saveAfterStep;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  // ---- public API -------------------------------------------------------------------------

  transition(): Promise<Instance<TData, TState>> {
    throw new FsmError('FSM_TRANSITION_NOT_ALLOWED', 'transitions are being built');
  }

  on(): () => void {
    return () => undefined;
  }

  async create(data: TData, options: CreateOptions = {}): Promise<Instance<TData, TState>> {
    return toInstance(await this.insertNew(data, options), data);
  }

  async start(data: TData, options?: CreateOptions): Promise<Instance<TData, TState>> {
    // Without a lock to wait for, the run marks the instance running at once: it is stored so,
    // as `create` and that first commit would leave it (same version, events and lease), in
    // one write instead of two.
    const marked = this.lock.scope === 'none';
    const rec = await this.insertNew(data, options, marked);
    // What a read right after the insert would return: the run starts from it, one round trip sooner.
    return this.drive(rec.id, { maxSteps: Number.POSITIVE_INFINITY, marked }, { ...rec });
  }

  private async insertNew(data: TData, options: CreateOptions = {}, running = false): Promise<InstanceRecord> {
    const userId = options.userId ?? null;
    if (this.lock.scope === 'local' && this.lock.by === 'user' && userId === null) {
      throw new FsmError(
        'FSM_INVALID_STATE',
        `machine "${this.model.name}" locks per user: pass create(data, { userId })`,
        { context: { machine: this.model.name } },
      );
    }
    const now = new Date();
    const first = this.model.steps[0]!;
    const id = options.id ?? uuidv7(now.getTime());
    const rec: InstanceRecord = {
      id,
      machine: this.model.name,
      userId,
      currentState: first.name,
      status: 'ready',
      direction: 'forward',
      resumeFromStep: first.order,
      saveAfterStep: this.saveAfterStep,
      kafkaEventTopic: this.topic,
      serializedState: await serialize(this.serializer, data, { machine: this.model.name, id }),
      version: 1,
      definitionHash: this.hash,
      definitionVersion: this.model.version,
      isGlobalLock: this.lock.scope === 'global',
      isLocalLock: this.lock.scope === 'local',
      pauseRequested: false,
      pauseReason: null,
      lastError: null,
      attempts: 0,
      nextRunAt: options.runAt ?? null,
      leaseOwner: null,
      leaseExpiresAt: null,
      takeovers: 0,
      historySeq: 0,
      eventSeq: 0,
      createdAt: now,
      updatedAt: now,
    };
    const events: FsmEvent[] = [];
    this.event(events, rec, 'instance.created', '', first.name, null, data, now);
    if (running) {
      rec.status = 'running';
      rec.version = 2;
      rec.leaseOwner = this.owner;
      rec.leaseExpiresAt = new Date(now.getTime() + (this.options.instanceLeaseMs ?? 30_000));
    }
    await this.store.insert(rec, events);
    return rec;
  }

  run(id: string) {
    return this.drive(id, { maxSteps: Number.POSITIVE_INFINITY });
  }

  next(id: string) {
    return this.drive(id, { maxSteps: 1 });
  }

  back(id: string) {
    return this.drive(id, { maxSteps: 1, direction: 'backward' });
  }

  compensate(id: string) {
    return this.drive(id, { maxSteps: Number.POSITIVE_INFINITY, direction: 'backward' });
  }

  resume(id: string, patch?: Partial<TData>) {
    return this.drive(id, { maxSteps: Number.POSITIVE_INFINITY, resume: { patch: patch as Record<string, unknown> | undefined } });
  }

  async pause(id: string, reason?: string): Promise<Instance<TData, TState>> {
    const why = reason ?? null;
    if (this.driving.has(id)) this.localPauses.set(id, why);
    for (let tries = 0; ; tries++) {
      const rec = await this.load(id);
      if (rec.status === 'paused') return this.instance(rec);
      if (rec.status === 'done' || rec.status === 'compensated' || rec.status === 'failed') {
        throw this.badState(rec, 'pause');
      }
      if (rec.status === 'running') {
        // Someone (here or in another process) is driving it: they honour the flag at the next step boundary.
        await this.store.requestPause(rec.machine, id, why);
        return this.instance({ ...rec, pauseRequested: true, pauseReason: why });
      }
      const next: InstanceRecord = { ...rec, status: 'paused', pauseReason: why, updatedAt: new Date() };
      const events: FsmEvent[] = [];
      const data = await this.readData(rec);
      this.event(events, next, 'instance.paused', rec.currentState, rec.currentState, null, data, next.updatedAt);
      try {
        await this.store.commit({ record: next, expectedVersion: rec.version, history: [], events, clearPauseRequest: true });
        return toInstance({ ...next, version: rec.version + 1, pauseRequested: false }, data as TData);
      } catch (error) {
        // It started running between our read and write: go round once more to request the pause.
        if (tries < 3 && error instanceof FsmError && error.code === 'FSM_STALE_VERSION') continue;
        throw error;
      }
    }
  }

  async get(id: string): Promise<Instance<TData, TState>> {
    return this.instance(await this.load(id));
  }

  async find(id: string): Promise<Instance<TData, TState> | undefined> {
    const rec = await this.store.get(this.model.name, id);
    return rec && this.instance(rec);
  }

  async history(id: string): Promise<Array<HistoryEntry<TData>>> {
    const rows = await this.store.history(this.model.name, id);
    const ctx = { machine: this.model.name, id };
    return Promise.all(
      rows.map(async (h) => ({
        ...h,
        dataBefore: (await deserialize(this.serializer, h.dataBefore, ctx)) as TData,
        dataAfter: (await deserialize(this.serializer, h.dataAfter, ctx)) as TData,
      })),
    );
  }

  async list(filter?: ListFilter): Promise<Array<Instance<TData, TState>>> {
    const rows = await this.store.list(this.model.name, filter);
    return Promise.all(
      rows.map(async (rec) => {
        try {
          return await this.instance(rec);
        } catch (error) {
          // One unreadable row must not hide the others: return it with the reason.
          if (!(error instanceof FsmError)) throw error;
          return { ...toInstance<TData, TState>(rec, undefined as TData), dataError: error };
        }
      }),
    );
  }

  async currentStates(ids: string[]): Promise<Map<string, TState>> {
    return (await this.store.currentStates(this.model.name, ids)) as Map<string, TState>;
  }

  async exportInstance(id: string): Promise<string> {
    const rec = await this.load(id);
    return encodeTransfer(rec, await this.store.history(rec.machine, id));
  }

  async importInstance(text: string): Promise<Instance<TData, TState>> {
    const { record, history } = decodeTransfer(text, this.model.name);
    await this.store.insert({ ...record, version: record.version - 1 }, []);
    await this.store.commit({ record, expectedVersion: record.version - 1, history, events: [] });
    return this.instance(record);
  }

  work(options: WorkOptions = {}): Worker {
    const store = this.store;
    if (!store.claim) {
      throw new FsmError('FSM_INVALID_STATE', `the store of machine "${this.model.name}" cannot feed workers (it has no claim())`, {
        context: { machine: this.model.name },
      });
    }
    const claim = store.claim.bind(store);
    return new Worker(
      {
        claim: (limit, leaseMs) => claim(this.model.name, { owner: this.owner, limit, leaseMs, lock: this.lock }),
        drive: (id, worker) => this.drive(id, { maxSteps: Number.POSITIVE_INFINITY, worker }),
        owner: this.owner,
        logger: this.logger,
      },
      options,
    );
  }

  // ---- the engine ---------------------------------------------------------------------------

  private async drive(id: string, intent: DriveIntent, loaded?: InstanceRecord): Promise<Instance<TData, TState>> {
    const first = loaded ?? (await this.load(id));
    if (this.driving.has(id) && this.lockKeys(first).length === 0) {
      throw new FsmError('FSM_INVALID_STATE', `${first.machine} instance ${id} is already running in this process`, {
        context: { machine: first.machine, id },
      });
    }
    const leases = await this.acquireLocks(first, intent.worker?.signal);
    if (leases === null || intent.worker?.stopping) {
      // Lock busy in `skip` mode: left for later. A stopping worker gives back what it has not started.
      if (leases) await Promise.all(leases.map((l) => this.locker.release(l)));
      if (intent.worker?.stopping) await this.store.unclaim?.(this.model.name, [id], this.owner);
      return this.instance(first);
    }
    const held: HeldLocks = { leases, released: false, over: false };
    const renewal = this.renewWhileRunning(held);
    const lease: InstanceLease = { version: 0, running: false };
    const leaseRenewal = this.renewInstanceLease(id, lease);
    this.driving.add(id);
    try {
      // Another holder may have moved it while we waited for the lock.
      const rec = leases.length > 0 ? await this.load(id) : first;
      return await this.steps(rec, intent, held, lease);
    } finally {
      lease.running = false;
      clearInterval(leaseRenewal);
      this.driving.delete(id);
      this.localPauses.delete(id);
      clearInterval(renewal);
      held.over = true;
      if (!held.released) await Promise.all(leases.map((l) => this.locker.release(l)));
    }
  }

  private async steps(rec: InstanceRecord, intent: DriveIntent, held: HeldLocks, lease: InstanceLease): Promise<Instance<TData, TState>> {
    /** The record as stored, taken before anything changes it, so that a commit may write only what changed. */
    let stored: InstanceRecord = { ...rec };
    const allowed = intent.resume ? RESUMABLE : intent.direction === 'backward' ? BACKABLE : RUNNABLE;
    if (!allowed.has(rec.status)) throw this.badState(rec, intent.resume ? 'resume' : intent.direction === 'backward' ? 'move back' : 'run');
    await this.checkDefinition(rec);

    const ctxInfo = { machine: rec.machine, id: rec.id };
    let data = (await deserialize(this.serializer, rec.serializedState, ctxInfo)) as TData;
    let serialized = rec.serializedState;
    let version = rec.version;
    let history: HistoryRecord[] = [];
    let events: FsmEvent[] = [];
    let clearPause = false;
    const fence = held.leases.map((l) => ({ key: l.key, token: l.token }));
    /** `last`: the drive ends with this commit, so the store may release the locks in the same transaction. */
    const save = async (status: InstanceStatus, last = false) => {
      rec.status = status;
      rec.updatedAt = new Date();
      // A running instance is leased to this process; a worker takes over if the lease runs out.
      rec.leaseOwner = status === 'running' ? this.owner : null;
      rec.leaseExpiresAt = status === 'running' ? new Date(rec.updatedAt.getTime() + (this.options.instanceLeaseMs ?? 30_000)) : null;
      rec.serializedState = serialized;
      rec.version = version + 1;
      const releaseLocks = last && fence.length > 0;
      const result = await this.store.commit({
        record: rec,
        previous: stored,
        expectedVersion: version,
        history,
        events,
        clearPauseRequest: clearPause,
        fence,
        releaseLocks,
      });
      if (releaseLocks && result.locksReleased) held.released = true;
      stored = { ...rec };
      version = rec.version;
      lease.version = version;
      lease.running = status === 'running';
      history = [];
      events = [];
      clearPause = false;
      return result;
    };

    let pauseWanted: { reason: string | null } | null = rec.pauseRequested ? { reason: rec.pauseReason } : null;
    if (intent.resume) {
      if (intent.resume.patch) data = { ...data, ...intent.resume.patch } as TData;
      serialized = await serialize(this.serializer, data, ctxInfo);
      pauseWanted = null;
      clearPause = true;
      rec.pauseReason = null;
      rec.lastError = null;
      rec.attempts = 0;
      rec.nextRunAt = null;
      this.event(events, rec, 'instance.resumed', rec.currentState, rec.currentState, null, data, new Date());
    }
    if (intent.direction === 'backward' && rec.direction === 'forward') this.turnBack(rec);
    if (rec.status === 'failed' || rec.status === 'paused' || rec.status === 'done') rec.lastError = null;

    // Mark it running, so that `pause(id)` from anywhere knows to ask rather than write.
    if (intent.marked) Object.assign(lease, { version: rec.version, running: true });
    const marked = intent.marked ? null : await save('running');
    if (marked?.pauseRequested && !intent.resume) pauseWanted = { reason: marked.pauseReason };

    let ran = 0;
    for (;;) {
      const local = this.localPauses.get(rec.id);
      if (local !== undefined) pauseWanted = { reason: local };
      const stop =
        this.terminal(rec) ?? (pauseWanted ? 'paused' : ran >= intent.maxSteps || intent.worker?.stopping ? 'waiting' : null);
      if (stop) {
        if (stop === 'paused') {
          rec.pauseReason = pauseWanted?.reason ?? null;
          clearPause = true;
          this.localPauses.delete(rec.id);
        }
        rec.resumeFromStep = stop === 'done' || stop === 'compensated' ? null : this.stepAt(rec).order;
        if (stop !== 'waiting') rec.nextRunAt = null;
        const type: FsmEventType = stop === 'paused' ? 'instance.paused' : stop === 'waiting' ? 'instance.waiting' : stop === 'done' ? 'instance.done' : 'instance.compensated';
        this.event(events, rec, type, rec.currentState, rec.currentState, null, data, new Date());
        await save(stop, true);
        return toInstance(rec, data);
      }

      const step = this.stepAt(rec);
      const direction = rec.direction;
      const method = direction === 'forward' ? step.method : step.back;
      const before = rec.currentState;
      const after = this.following(rec);
      let ctx: RunningStepContext<TData> | null = null;
      if (method !== undefined) {
        const durable = intent.worker !== undefined || (this.options.durableTimers ?? false);
        const outcome = await this.attempt(rec, step, method, data, serialized, history, durable);
        if (outcome.ok === 'later') {
          // The retry is a durable timer: whoever claims the instance when it is due runs it.
          data = outcome.data;
          rec.nextRunAt = new Date(Date.now() + outcome.delayMs);
          rec.resumeFromStep = step.order;
          await save('waiting', true);
          return toInstance(rec, data);
        }
        if (!outcome.ok) {
          data = outcome.data;
          if (direction === 'forward' && this.model.onError === 'compensate') {
            // Saga: a failed step undoes the ones before it instead of stopping.
            this.turnBack(rec);
            rec.attempts = 0;
            this.event(events, rec, 'step.failed', before, rec.currentState, step.name, data, new Date());
            if (this.terminal(rec) === null && this.saveAfterStep) await save('running');
            continue;
          }
          rec.lastError = errorInfo(outcome.error);
          rec.resumeFromStep = step.order;
          this.event(events, rec, 'instance.failed', before, before, step.name, data, new Date());
          await save('failed', true);
          return toInstance(rec, data);
        }
        ctx = outcome.ctx;
        data = ctx.data;
        const afterText = await serialize(this.serializer, data, ctxInfo);
        if (this.keepHistory) history.push(this.historyRow(rec, step, method, before, after, serialized, afterText, ctx, outcome.startedAt, null));
        serialized = afterText;
      }
      rec.currentState = after;
      rec.attempts = 0;
      ran++;
      this.event(events, rec, direction === 'forward' ? 'step.completed' : 'step.compensated', before, after, step.name, data, new Date());
      if (ctx?.paused && this.terminal(rec) === null) pauseWanted = { reason: ctx.pauseReason };
      const immediate = step.immediate ?? this.options.immediate ?? this.model.immediate;
      if (!immediate && direction === 'forward' && ran < intent.maxSteps) intent = { ...intent, maxSteps: ran };
      const stopsNext = this.terminal(rec) !== null || pauseWanted !== null || ran >= intent.maxSteps;
      if (this.saveAfterStep && !stopsNext) {
        rec.resumeFromStep = this.stepAt(rec).order;
        const result = await save('running');
        if (result.pauseRequested) pauseWanted = { reason: result.pauseReason };
      }
    }
  }

  /** Runs one handler with its retry policy; failed attempts go to history. */
  private async attempt(
    rec: InstanceRecord,
    step: StepModel,
    method: string,
    data: TData,
    serialized: string,
    history: HistoryRecord[],
    durable: boolean,
  ): Promise<
    | { ok: true; ctx: RunningStepContext<TData>; startedAt: Date }
    | { ok: false; error: unknown; data: TData }
    | { ok: 'later'; delayMs: number; data: TData }
  > {
    const fn = (this.handlers as Record<string, HandlerFn>)[method]!;
    const maxAttempts = step.retry?.maxAttempts ?? 1;
    let current = data;
    // Attempts already made (before a durable retry timer) count against the policy.
    for (let attempt = rec.attempts + 1; ; attempt++) {
      const ctx = new RunningStepContext<TData>(rec.id, rec.machine, rec.userId, step.name, rec.direction, attempt, current);
      const startedAt = new Date();
      try {
        await invokeHandler(fn as never, this.handlers, ctx as RunningStepContext<unknown>, step.timeoutMs);
        return { ok: true, ctx, startedAt };
      } catch (error) {
        rec.attempts = attempt;
        if (this.keepHistory) {
          history.push(this.historyRow(rec, step, method, rec.currentState, rec.currentState, serialized, serialized, ctx, startedAt, error));
        }
        // The failed attempt may have changed data in place: start again from what was saved.
        current = (await deserialize(this.serializer, serialized, { machine: rec.machine, id: rec.id })) as TData;
        if (attempt >= maxAttempts) return { ok: false, error, data: current };
        const delayMs = retryDelay(step.retry!, attempt);
        if (durable) return { ok: 'later', delayMs, data: current };
        await this.sleep(delayMs);
      }
    }
  }

  private historyRow(
    rec: InstanceRecord,
    step: StepModel,
    handler: string,
    stateBefore: string,
    stateAfter: string,
    dataBefore: string,
    dataAfter: string,
    ctx: RunningStepContext<TData>,
    startedAt: Date,
    error: unknown,
  ): HistoryRecord {
    return {
      id: uuidv7(),
      instanceId: rec.id,
      machine: rec.machine,
      seq: ++rec.historySeq,
      handler,
      step: step.name,
      direction: rec.direction,
      stateBefore,
      stateAfter,
      dataBefore,
      dataAfter,
      metadata: ctx.metadata,
      error: error === null ? null : errorInfo(error),
      attempt: ctx.attempt,
      startedAt,
      finishedAt: new Date(),
      transition: null,
      actor: null,
      result: null,
    };
  }

  private event(
    events: FsmEvent[],
    rec: InstanceRecord,
    type: FsmEventType,
    from: string,
    to: string,
    step: string | null,
    data: unknown,
    time: Date,
  ): void {
    if (rec.kafkaEventTopic === null) return;
    events.push({
      eventId: uuidv7(time.getTime()),
      type,
      schemaVersion: EVENT_SCHEMA_VERSION,
      machine: rec.machine,
      topic: rec.kafkaEventTopic,
      instanceId: rec.id,
      userId: rec.userId,
      from,
      to,
      status: statusOf(type, rec.status),
      direction: rec.direction,
      step,
      sequence: ++rec.eventSeq,
      time: time.toISOString(),
      data: toJsonSafe(data),
    });
  }

  // ---- positions -----------------------------------------------------------------------------

  /** The step the instance is at (to run forward, or to undo backward). */
  private stepAt(rec: InstanceRecord): StepModel {
    const i = this.stepIndex.get(rec.currentState);
    if (i === undefined) throw this.replayMismatch(rec);
    return this.model.steps[i]!;
  }

  /** State after the current step runs in the current direction. */
  private following(rec: InstanceRecord): string {
    const i = this.stepIndex.get(rec.currentState)!;
    if (rec.direction === 'forward') return this.model.steps[i + 1]?.name ?? 'done';
    return this.model.steps[i - 1]?.name ?? 'compensated';
  }

  private terminal(rec: InstanceRecord): 'done' | 'compensated' | null {
    if (rec.currentState === 'done' && rec.direction === 'forward') return 'done';
    if (rec.currentState === 'compensated') return 'compensated';
    return null;
  }

  /** Switches to backward: the next handler to run undoes the last completed step. */
  private turnBack(rec: InstanceRecord): void {
    const steps = this.model.steps;
    const at = rec.currentState === 'done' ? steps.length : this.stepIndex.get(rec.currentState);
    if (at === undefined) throw this.replayMismatch(rec);
    rec.direction = 'backward';
    rec.currentState = steps[at - 1]?.name ?? 'compensated';
  }

  // ---- checks --------------------------------------------------------------------------------

  private async checkDefinition(rec: InstanceRecord): Promise<void> {
    if (rec.definitionHash === this.hash) return;
    const isTerminal = (RESERVED_STATES as readonly string[]).includes(rec.currentState);
    const missing: string[] = [];
    if (!isTerminal && !this.stepIndex.has(rec.currentState)) missing.push(rec.currentState);
    // Steps it completed must still exist, in the same order, so that compensation can undo them.
    const done: string[] = [];
    if (this.keepHistory) {
      for (const h of await this.store.history(rec.machine, rec.id)) {
        if (h.error !== null) continue;
        if (h.direction === 'forward') done.push(h.step);
        else done.splice(done.lastIndexOf(h.step), 1);
      }
    }
    const backward = rec.direction === 'backward';
    // Moving backward, the steps completed after the one under the cursor were passed over (they
    // have nothing to undo): only the cursor's step and those before it still matter.
    const cursor = backward ? done.lastIndexOf(rec.currentState) : -1;
    const pending = cursor >= 0 ? done.slice(0, cursor + 1) : done;
    for (const name of done.slice(pending.length)) if (!this.stepIndex.has(name)) missing.push(name);
    let last = -1;
    let reordered = false;
    for (const name of pending) {
      const i = this.stepIndex.get(name);
      if (i === undefined) missing.push(name);
      else if (i < last) reordered = true;
      else last = i;
    }
    const here = this.stepIndex.get(rec.currentState) ?? (rec.currentState === 'done' ? this.model.steps.length : -1);
    // Moving backward, the step under the cursor is itself completed (it is the next to undo).
    const lastAllowed = backward ? here : here - 1;
    if (missing.length === 0 && !reordered && (isTerminal || last <= lastAllowed)) {
      rec.definitionHash = this.hash;
      rec.definitionVersion = this.model.version;
      return;
    }
    throw new FsmError(
      'FSM_DEFINITION_CHANGED',
      `${rec.machine} instance ${rec.id} was started on definition ${rec.definitionHash} (version ${rec.definitionVersion}), ` +
        `and the current definition ${this.hash} (version ${this.model.version}) ` +
        (missing.length > 0 ? `no longer has step(s) ${missing.map((m) => `"${m}"`).join(', ')}` : 'reorders steps it has completed') +
        '. Ways forward: finish it with a deployment of the old definition, move it to a step of the new one, or compensate it with the old code.',
      { context: { machine: rec.machine, id: rec.id, stored: rec.definitionHash, current: this.hash, missing } },
    );
  }

  private replayMismatch(rec: InstanceRecord): FsmError {
    return new FsmError(
      'FSM_DEFINITION_CHANGED',
      `${rec.machine} instance ${rec.id} is at step "${rec.currentState}", which machine "${this.model.name}" (${this.hash}) does not have; known steps: ${this.model.steps.map((s) => s.name).join(', ')}`,
      { context: { machine: rec.machine, id: rec.id, state: rec.currentState } },
    );
  }

  private badState(rec: InstanceRecord, action: string): FsmError {
    const hint =
      rec.status === 'paused' ? 'resume it first' : rec.status === 'failed' ? 'resume it to retry, or compensate it' : 'it has finished';
    return new FsmError('FSM_INVALID_STATE', `cannot ${action} ${rec.machine} instance ${rec.id}: it is ${rec.status}; ${hint}`, {
      context: { machine: rec.machine, id: rec.id, status: rec.status, action },
    });
  }

  // ---- locks ---------------------------------------------------------------------------------

  private lockKeys(rec: InstanceRecord): string[] {
    if (this.lock.scope === 'global') return ['global'];
    if (this.lock.scope === 'local') return [this.lock.by === 'type' ? `type:${rec.machine}` : `user:${rec.userId ?? ''}`];
    return [];
  }

  private async acquireLocks(rec: InstanceRecord, signal: AbortSignal | undefined): Promise<Lease[] | null> {
    const keys = this.lockKeys(rec);
    const leases: Lease[] = [];
    for (const key of keys) {
      const lease = await this.locker.acquire(key, this.owner, {
        instanceId: rec.id,
        machine: rec.machine,
        leaseMs: this.options.lockLeaseMs ?? 30_000,
        mode: this.options.lockMode ?? 'wait',
        timeoutMs: this.options.lockTimeoutMs ?? 30_000,
        ...(signal ? { signal } : {}),
      });
      if (lease === null) {
        await Promise.all(leases.map((l) => this.locker.release(l)));
        return null;
      }
      leases.push(lease);
    }
    return leases;
  }

  /**
   * Keeps a running instance's lease alive while its drive lasts, however long a step takes, so
   * that workers take over only the instances of a process that died.
   */
  private renewInstanceLease(id: string, lease: InstanceLease): NodeJS.Timeout | undefined {
    const store = this.store;
    if (!store.renewLease) return undefined;
    const renew = store.renewLease.bind(store);
    const machine = this.model.name;
    const leaseMs = this.options.instanceLeaseMs ?? 30_000;
    const timer = setInterval(() => {
      if (!lease.running) return;
      const version = lease.version;
      renew(machine, id, { owner: this.owner, version, leaseMs }).then(
        // A renewal that crossed a commit of this drive is no loss.
        (ok) =>
          ok ||
          !lease.running ||
          lease.version !== version ||
          this.logger.warn('instance lease lost while running; a worker may run this step too, and only one of them will commit', { machine, id }),
        (error: unknown) => this.logger.warn('instance lease renewal failed', { machine, id, error }),
      );
    }, Math.max(50, Math.floor(leaseMs / 3)));
    timer.unref();
    return timer;
  }

  private renewWhileRunning(held: HeldLocks): NodeJS.Timeout | undefined {
    if (held.leases.length === 0) return undefined;
    const leaseMs = this.options.lockLeaseMs ?? 30_000;
    const timer = setInterval(() => {
      for (const lease of held.leases) {
        this.locker.renew(lease, leaseMs).then(
          // A renewal that crossed the drive's release is no loss.
          (ok) => ok || held.over || held.released || this.logger.warn('lock lease lost while running; the next write will be refused', { key: lease.key }),
          (error: unknown) => this.logger.warn('lock renewal failed', { key: lease.key, error }),
        );
      }
    }, Math.max(50, Math.floor(leaseMs / 3)));
    timer.unref();
    return timer;
  }

  // ---- reading -------------------------------------------------------------------------------

  private async load(id: string): Promise<InstanceRecord> {
    const rec = await this.store.get(this.model.name, id);
    if (!rec) {
      throw new FsmError('FSM_NOT_FOUND', `no ${this.model.name} instance with id ${id}`, {
        context: { machine: this.model.name, id },
      });
    }
    return rec;
  }

  private readData(rec: InstanceRecord): Promise<unknown> {
    return deserialize(this.serializer, rec.serializedState, { machine: rec.machine, id: rec.id });
  }

  private async instance(rec: InstanceRecord): Promise<Instance<TData, TState>> {
    return toInstance(rec, (await this.readData(rec)) as TData);
  }
}

function statusOf(type: FsmEventType, current: InstanceStatus): InstanceStatus {
  switch (type) {
    case 'instance.created':
      return 'ready';
    case 'instance.waiting':
      return 'waiting';
    case 'instance.paused':
      return 'paused';
    case 'instance.failed':
      return 'failed';
    case 'instance.done':
      return 'done';
    case 'instance.compensated':
      return 'compensated';
    default:
      return current === 'ready' || current === 'waiting' || current === 'paused' ? 'running' : current;
  }
}
