import { hostname } from 'node:os';
import {
  checkModel,
  machineGraph,
  transitionAllowedFrom,
  type LockModel,
  type MachineDefinition,
  type MachineGraph,
  type MachineModel,
  type StepContext,
  type StepModel,
  type TransitionContext,
  type TransitionModel,
} from '@fsmkit/decorators';
import { badState, InstanceClient } from './client.js';
import { definitionHash } from './definition-hash.js';
import { incompatibility } from './engine/compatibility.js';
import {
  boundaryStop,
  decide,
  DRIVABLE,
  restingStatus,
  trailByOrder,
  trailFromHistory,
  undoNext,
  type Cursor,
  type Outcome,
} from './engine/decide.js';
import { historyRow, pushEvent } from './engine/factories.js';
import { InputValidator } from './engine/input.js';
import { keepAlive } from './engine/keep-alive.js';
import { acquireAll, lockKeys, releaseAll, runHolding } from './engine/locks.js';
import { errorInfo, FsmError, isFsmError } from './errors.js';
import { uuidv7 } from './ids.js';
import { toInstance, type HistoryEntry, type Instance } from './instance.js';
import { decodeTransfer } from './instance-transfer.js';
import { invokeHandler } from './invoke-handler.js';
import { toJsonSafe } from './json-safe.js';
import type { AcquireMode, Lease, Locker } from './locker.js';
import { noopLogger, safeLogger, type Logger } from './logger.js';
import { processLocker } from './memory-locker.js';
import { MemoryStore } from './memory-store.js';
import type { FsmEvent, FsmEventType, HistoryRecord, InstanceRecord, InstanceStatus } from './records.js';
import { deserialize, serialize, superjsonSerializer, type Serializer } from './serializer.js';
import { RunningStepContext } from './step-context.js';
import type { CommitResult, HistoryOptions, ListFilter, Store } from './store.js';
import { RunningTransitionContext } from './transition-context.js';
import { Worker, type WorkOptions } from './worker.js';

export { EVENT_SCHEMA_VERSION } from './engine/factories.js';

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
  /** Overrides the machine's topic; `null` turns events off. Validated like the machine's. */
  topic?: string | null;
  /**
   * A lock this runner takes in addition to the machine's `@Lock` (which always applies), for
   * the instances it drives. An instance also keeps the locks it was created with, so runners
   * configured differently still exclude each other.
   */
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
  /**
   * An instance whose drive died (its lease ran out while running) this many times is not run
   * again: it ends `failed` with FSM_TAKEOVER_LIMIT, for a person to look at. Default 5.
   */
  maxTakeovers?: number;
  /** Most history rows one instance may have; past it, the instance ends `failed` with FSM_HISTORY_LIMIT. Default 25 000. */
  maxHistory?: number;
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
  /** Reads and administration without handlers (the same the runner uses). */
  readonly client: InstanceClient<TData, TState>;
  /** Stores a new instance at the initial state (or `at`): `ready` at a step, `idle` at a state only transitions leave. */
  create(data: TData, options?: CreateOptions): Promise<Instance<TData, TState>>;
  /** `create` then `run`; when a lock is busy, nothing is stored. */
  start(data: TData, options?: CreateOptions): Promise<Instance<TData, TState>>;
  /** Runs steps until the instance rests, waits, pauses, fails or ends. */
  run(id: string): Promise<Instance<TData, TState>>;
  /** Runs exactly one step in the current direction; the instance then stays `idle` until the next call. */
  next(id: string): Promise<Instance<TData, TState>>;
  /** Undoes the last completed step (its `back` handler); the instance then stays `idle`. */
  back(id: string): Promise<Instance<TData, TState>>;
  /** Undoes every completed step, newest first, as history records them. */
  compensate(id: string): Promise<Instance<TData, TState>>;
  /** Pauses now if idle, else at the next step boundary (also when running in another process). */
  pause(id: string, reason?: string): Promise<Instance<TData, TState>>;
  /** Merges `patch` into the data and continues a paused, waiting, idle or failed instance. */
  resume(id: string, patch?: Partial<TData>): Promise<Instance<TData, TState>>;
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
  get(id: string): Promise<Instance<TData, TState>>;
  find(id: string): Promise<Instance<TData, TState> | undefined>;
  history(id: string, options?: HistoryOptions): Promise<Array<HistoryEntry<TData>>>;
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

type Fn = (ctx: unknown) => unknown;

/** What a drive does: how many steps at most, which way, and what happens first. */
interface DriveIntent {
  maxSteps: number;
  action: 'run' | 'work' | 'resume' | 'back' | 'transition';
  /** The instance was stored already marked running by this runner (see `start`): no commit to mark it. */
  marked?: boolean;
  /** Locks `start` took before storing the instance. */
  leases?: Lease[];
  /** Driven by a worker: durable timers, and stop at the next boundary when the worker stops. */
  worker?: Worker;
  backward?: boolean;
  resume?: { patch: Record<string, unknown> | undefined };
  transition?: { model: TransitionModel; input: unknown; actor: string | null };
}

/** What a drive shares with its keep-alive timer. */
interface DriveState {
  /** The version this drive last committed while the instance is `running` under its lease; 0 before. */
  version: number;
  running: boolean;
  leases: Lease[];
  /** The leases ended within the drive's last commit, or the drive is over: no renewal warnings. */
  over: boolean;
  /** A pause requested from elsewhere, learnt between commits (see `watchPause`). */
  pauseRequest: { reason: string | null } | null;
  /** Aborted when a lock's lease is lost: the running handler should stop. */
  lost: AbortController;
}

const FINISHED: ReadonlySet<InstanceStatus> = new Set(['done', 'compensated']);
/** Commit refusals that repeating the step cannot cure. */
const PERMANENT: ReadonlySet<string> = new Set(['FSM_DATA_TOO_LARGE', 'FSM_SERIALIZE', 'FSM_HISTORY_LIMIT']);

export function createRunner<TData = unknown, TState extends string = string, TInputs extends TransitionInputs = TransitionInputs>(
  definition: MachineDefinition<TData>,
  options: RunnerOptions = {},
): MachineRunner<TData, TState, TInputs> {
  return new Runner<TData, TState, TInputs>(definition, options);
}

class Runner<TData, TState extends string, TInputs extends TransitionInputs> implements MachineRunner<TData, TState, TInputs> {
  readonly model: MachineModel;
  readonly store: Store;
  readonly client: InstanceClient<TData, TState>;
  private readonly graph: MachineGraph;
  private readonly handlers: Record<string, Fn>;
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
  private readonly inputs: InputValidator;
  private readonly hooks = { before: [] as Array<Hook<TData>>, after: [] as Array<Hook<TData>> };
  /** `pause(id)` calls for instances this runner is driving right now. */
  private readonly localPauses = new Map<string, string | null>();
  private readonly driving = new Set<string>();

  constructor(
    definition: MachineDefinition<TData>,
    private readonly options: RunnerOptions,
  ) {
    this.topic = options.topic === undefined ? (definition.model.topic ?? null) : options.topic;
    this.lock = options.lock ?? definition.model.lock;
    // The overrides are checked as the model is: a bad topic or lock is refused here, not at the broker.
    const effective: MachineModel = { ...definition.model, lock: this.lock };
    if (this.topic === null) delete effective.topic;
    else effective.topic = this.topic;
    this.model = definition.model;
    this.handlers = definition.create() as Record<string, Fn>;
    const methods = new Set<string>();
    for (let o: object | null = this.handlers; o && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
      for (const k of Object.getOwnPropertyNames(o)) if (typeof this.handlers[k] === 'function') methods.add(k);
    }
    const problems = checkModel(effective, methods);
    for (const s of this.model.steps) {
      if (!methods.has(s.method)) problems.push({ code: 'FSM_E_METHOD_MISSING', message: `step method "${s.method}" does not exist`, path: ['steps'] });
    }
    if (problems.length > 0) {
      const topicBad = problems.some((p) => p.code === 'FSM_E_TOPIC_INVALID');
      throw new FsmError(
        topicBad && options.topic !== undefined ? 'FSM_TOPIC_INVALID' : 'FSM_INVALID_MODEL',
        `machine "${this.model.name}" is invalid:\n${problems.map((p) => `  ${p.code}: ${p.message}`).join('\n')}`,
        { context: { machine: this.model.name, problems } },
      );
    }
    this.graph = machineGraph(this.model);
    this.store = options.store ?? new MemoryStore();
    this.locker = options.locker ?? this.store.locker?.() ?? processLocker;
    this.serializer = options.serializer ?? superjsonSerializer;
    this.logger = safeLogger(options.logger ?? noopLogger);
    this.client = new InstanceClient<TData, TState>({ machine: this.model.name, store: this.store, serializer: this.serializer });
    this.hash = definitionHash(this.model);
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${uuidv7().slice(-8)}`;
    this.keepHistory = options.history ?? true;
    this.saveAfterStep = options.saveAfterStep ?? this.model.saveAfterStep;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.inputs = new InputValidator(this.model, definition.validators);
  }

  // ---- creating ------------------------------------------------------------------------------

  async create(data: TData, options: CreateOptions = {}): Promise<Instance<TData, TState>> {
    const rec = await this.newRecord(data, options);
    await this.store.insert(rec.record, rec.events);
    return toInstance(rec.record, data);
  }

  async start(data: TData, options: CreateOptions = {}): Promise<Instance<TData, TState>> {
    const made = await this.newRecord(data, options);
    const rec = made.record;
    if (rec.status === 'idle') {
      await this.store.insert(rec, made.events);
      return toInstance(rec, data);
    }
    // Locks first: when one is busy, nothing is stored, so a caller that retries makes no duplicate.
    const leases = await acquireAll(this.locker, this.keysOf(rec), rec, this.acquireSettings(undefined));
    if (leases === null) {
      throw new FsmError('FSM_LOCK_BUSY', `a lock of ${rec.machine} instance ${rec.id} is busy; nothing was stored`, {
        context: { machine: rec.machine, id: rec.id },
      });
    }
    // Stored already marked running under this drive's lease: the same version, events and
    // lease a separate first commit would leave, in one write instead of two.
    rec.status = 'running';
    rec.version = 2;
    rec.leaseOwner = this.owner;
    rec.leaseExpiresAt = new Date(Date.now() + this.instanceLeaseMs);
    try {
      await this.store.insert(rec, made.events);
    } catch (error) {
      await releaseAll(this.locker, leases);
      throw error;
    }
    return this.drive(rec.id, { maxSteps: Number.POSITIVE_INFINITY, action: 'run', marked: true, leases }, { ...rec });
  }

  private async newRecord(data: TData, options: CreateOptions): Promise<{ record: InstanceRecord; events: FsmEvent[] }> {
    const userId = options.userId ?? null;
    const perUser = [this.model.lock, this.lock].some((l) => l.scope === 'local' && l.by !== 'type');
    if (perUser && (userId === null || userId.trim() === '')) {
      throw new FsmError('FSM_INVALID_STATE', `machine "${this.model.name}" locks per user: pass create(data, { userId }) with a non-empty id`, {
        context: { machine: this.model.name, userId },
      });
    }
    const at = options.at ?? this.graph.initial;
    const status = restingStatus(this.graph, at);
    if (!this.graph.steps.has(at) && status !== 'idle') {
      throw new FsmError(
        'FSM_BAD_TARGET',
        `cannot start a ${this.model.name} instance at "${at}": ${status === null ? 'no such state' : 'it is final'}; states: ${this.graph.states.join(', ')}`,
        { context: { machine: this.model.name, at, states: this.graph.states } },
      );
    }
    const now = new Date();
    const id = options.id ?? uuidv7(now.getTime());
    const record: InstanceRecord = {
      id,
      machine: this.model.name,
      userId,
      currentState: at,
      status: status === 'idle' ? 'idle' : 'ready',
      direction: 'forward',
      resumeFromStep: this.graph.steps.get(at)?.order ?? null,
      saveAfterStep: this.saveAfterStep,
      kafkaEventTopic: this.topic,
      serializedState: await serialize(this.serializer, data, { machine: this.model.name, id }),
      version: 1,
      definitionHash: this.hash,
      definitionVersion: this.model.version,
      isGlobalLock: this.model.lock.scope === 'global' || this.lock.scope === 'global',
      isLocalLock: this.model.lock.scope === 'local' || this.lock.scope === 'local',
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
    pushEvent(events, record, { type: 'instance.created', from: '', to: at, step: null, data, time: now });
    return { record, events };
  }

  // ---- driving -------------------------------------------------------------------------------

  run(id: string) {
    return this.drive(id, { maxSteps: Number.POSITIVE_INFINITY, action: 'run' });
  }

  next(id: string) {
    return this.drive(id, { maxSteps: 1, action: 'run' });
  }

  back(id: string) {
    return this.drive(id, { maxSteps: 1, action: 'back', backward: true });
  }

  compensate(id: string) {
    return this.drive(id, { maxSteps: Number.POSITIVE_INFINITY, action: 'back', backward: true });
  }

  resume(id: string, patch?: Partial<TData>) {
    return this.drive(id, {
      maxSteps: Number.POSITIVE_INFINITY,
      action: 'resume',
      resume: { patch: patch as Record<string, unknown> | undefined },
    });
  }

  async transition<N extends keyof TInputs & string>(
    id: string,
    name: N,
    input: TInputs[N],
    options: TransitionCallOptions = {},
  ): Promise<Instance<TData, TState>> {
    const t = this.graph.transitions.get(name);
    if (t === undefined) {
      const known = [...this.graph.transitions.keys()];
      throw new FsmError('FSM_TRANSITION_NOT_ALLOWED', `${this.model.name} has no transition "${name}"; it has: ${known.join(', ') || 'none'}`, {
        context: { machine: this.model.name, id, transition: name, known },
      });
    }
    const checked = await this.inputs.check(t, input);
    return this.drive(id, {
      maxSteps: Number.POSITIVE_INFINITY,
      action: 'transition',
      transition: { model: t, input: checked, actor: options.actor ?? null },
    });
  }

  on(hook: 'before' | 'after', fn: Hook<TData>): () => void {
    const list = this.hooks[hook];
    list.push(fn);
    return () => {
      const at = list.indexOf(fn);
      if (at >= 0) list.splice(at, 1);
    };
  }

  // ---- reading and administration ------------------------------------------------------------

  async pause(id: string, reason?: string): Promise<Instance<TData, TState>> {
    if (this.driving.has(id)) this.localPauses.set(id, reason ?? null);
    return this.client.pause(id, reason);
  }

  get(id: string) {
    return this.client.get(id);
  }

  async find(id: string): Promise<Instance<TData, TState> | undefined> {
    const rec = await this.store.get(this.model.name, id);
    return rec && this.client.instance(rec);
  }

  history(id: string, options?: HistoryOptions) {
    return this.client.history(id, options);
  }

  list(filter?: ListFilter) {
    return this.client.list(filter);
  }

  currentStates(ids: string[]) {
    return this.client.currentStates(ids);
  }

  exportInstance(id: string) {
    return this.client.exportInstance(id);
  }

  async importInstance(text: string): Promise<Instance<TData, TState>> {
    const { record, history } = decodeTransfer(text, this.model.name);
    history.forEach((h, i) => {
      if (h.instanceId !== record.id || h.machine !== record.machine || h.seq !== i + 1) {
        throw new FsmError('FSM_DESERIALIZE', `exported history row ${i + 1} does not belong to ${record.machine} instance ${record.id} (or is out of order)`, {
          context: { machine: record.machine, id: record.id, row: i + 1 },
        });
      }
    });
    if (record.historySeq < history.length) {
      throw new FsmError('FSM_DESERIALIZE', `exported instance ${record.id} counts ${record.historySeq} history rows but carries ${history.length}`, {
        context: { machine: record.machine, id: record.id },
      });
    }
    await this.client.readData(record);
    await this.store.insert(record, [], history);
    return this.client.instance(record);
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
        drive: (id, worker) => this.drive(id, { maxSteps: Number.POSITIVE_INFINITY, action: 'work', worker }),
        owner: this.owner,
        logger: this.logger,
      },
      options,
    );
  }

  // ---- the engine ---------------------------------------------------------------------------

  private get instanceLeaseMs(): number {
    return this.options.instanceLeaseMs ?? 30_000;
  }

  private keysOf(rec: InstanceRecord): string[] {
    return lockKeys([this.model.lock, this.lock], this.model.lock, rec);
  }

  private acquireSettings(signal: AbortSignal | undefined) {
    return {
      owner: this.owner,
      leaseMs: this.options.lockLeaseMs ?? 30_000,
      mode: this.options.lockMode ?? 'wait',
      timeoutMs: this.options.lockTimeoutMs ?? 30_000,
      signal,
    };
  }

  /**
   * Refuses a call that would drive an instance another drive holds: a running instance whose
   * lease is live (a worker's own claim of it excepted). This runner's own drives are kept
   * apart by `driving`.
   */
  private assertFree(rec: InstanceRecord, intent: DriveIntent): void {
    if (intent.marked) return;
    const live = rec.status === 'running' && rec.leaseExpiresAt != null && rec.leaseExpiresAt.getTime() > Date.now();
    const claimedByMe = rec.leaseOwner === this.owner && intent.worker !== undefined;
    if (live && !claimedByMe) throw this.busy(rec.id, rec.leaseOwner);
  }

  private busy(id: string, owner: string | null | undefined): FsmError {
    return new FsmError(
      'FSM_INSTANCE_BUSY',
      `${this.model.name} instance ${id} is running (held by ${owner ?? 'this runner'}); ` +
        'wait until it stops, or pause(id): its drive pauses at the next step boundary',
      { context: { machine: this.model.name, id, owner: owner ?? this.owner } },
    );
  }

  private async drive(id: string, intent: DriveIntent, loaded?: InstanceRecord): Promise<Instance<TData, TState>> {
    // Claimed before anything is awaited, so that two calls on this runner never both drive it.
    if (this.driving.has(id)) {
      if (intent.leases) await releaseAll(this.locker, intent.leases);
      throw this.busy(id, null);
    }
    this.driving.add(id);
    try {
      return await this.driveOwned(id, intent, loaded);
    } finally {
      this.driving.delete(id);
      this.localPauses.delete(id);
    }
  }

  private async driveOwned(id: string, intent: DriveIntent, loaded?: InstanceRecord): Promise<Instance<TData, TState>> {
    let leases = intent.leases ?? null;
    try {
      const first = loaded ?? (await this.client.load(id));
      this.assertFree(first, intent);
      if (leases === null) leases = await acquireAll(this.locker, this.keysOf(first), first, this.acquireSettings(intent.worker?.signal));
      if (leases === null || intent.worker?.stopping) {
        // Lock busy in `skip` mode: left for later. A stopping worker gives back what it has not started.
        if (leases) await releaseAll(this.locker, leases);
        leases = [];
        if (intent.worker?.stopping) await this.store.unclaim?.(this.model.name, [id], this.owner);
        return await this.client.instance(first);
      }
    } catch (error) {
      if (leases) await releaseAll(this.locker, leases);
      throw error;
    }
    const state: DriveState = { version: 0, running: false, leases, over: false, pauseRequest: null, lost: new AbortController() };
    const stopKeepAlive = this.keepAlive(id, state);
    try {
      // Another holder may have moved it while we waited for the lock.
      const rec = leases.length > 0 && !intent.marked ? await this.client.load(id) : (loaded ?? (await this.client.load(id)));
      return await runHolding(
        leases.map((l) => l.key),
        () => this.steps(rec, intent, state),
      );
    } finally {
      state.running = false;
      stopKeepAlive();
      const over = state.over;
      state.over = true;
      if (!over) await releaseAll(this.locker, leases);
    }
  }

  /**
   * Keeps the drive's leases alive (the instance's and its locks') however long a step takes, so
   * that others take over only what a dead process held. Without commits after each step, it
   * also reads the pause flag now and then, so that a pause asked elsewhere is not lost.
   */
  private keepAlive(id: string, state: DriveState): () => void {
    const machine = this.model.name;
    const store = this.store;
    const instanceLeaseMs = this.instanceLeaseMs;
    const lockLeaseMs = this.options.lockLeaseMs ?? 30_000;
    const stopInstance = keepAlive(instanceLeaseMs, () => {
      if (!state.running) return;
      const version = state.version;
      store.renewLease?.(machine, id, { owner: this.owner, version, leaseMs: instanceLeaseMs }).then(
        // A renewal that crossed a commit of this drive is no loss.
        (ok) =>
          ok ||
          !state.running ||
          state.version !== version ||
          this.logger.warn('instance lease lost while running; a worker may run this step too, and only one of them will commit', { machine, id }),
        (error: unknown) => this.logger.warn('instance lease renewal failed', { machine, id, error }),
      );
      if (!this.saveAfterStep) {
        store.get(machine, id).then(
          (rec) => {
            if (rec?.pauseRequested && state.running) state.pauseRequest = { reason: rec.pauseReason };
          },
          (error: unknown) => this.logger.warn('reading the pause flag failed', { machine, id, error }),
        );
      }
    });
    const stopLocks =
      state.leases.length === 0
        ? () => undefined
        : keepAlive(lockLeaseMs, () => {
            for (const lease of state.leases) {
              this.locker.renew(lease, lockLeaseMs).then(
                (ok) => {
                  if (ok || state.over) return;
                  // Another holder may take the lock now: tell the handler to stop; the next commit is refused.
                  state.lost.abort(new FsmError('FSM_LOCK_LOST', `lock "${lease.key}" was lost while a step ran`, { context: { key: lease.key } }));
                  this.logger.warn('lock lease lost while running; the next write will be refused', { key: lease.key });
                },
                (error: unknown) => this.logger.warn('lock renewal failed', { key: lease.key, error }),
              );
            }
          });
    return () => {
      stopInstance();
      stopLocks();
    };
  }

  private async steps(first: InstanceRecord, intent: DriveIntent, drive: DriveState, tries = 0): Promise<Instance<TData, TState>> {
    const rec = first;
    /** The record as stored, taken before anything changes it, so that a commit may write only what changed. */
    let stored: InstanceRecord = { ...rec };
    const startStatus = rec.status;
    this.assertFree(rec, intent);
    if (!DRIVABLE[intent.action].has(rec.status) || (intent.action === 'run' && rec.status === 'idle' && restingStatus(this.graph, rec.currentState) !== null)) {
      // A worker's claim that someone else moved on meanwhile (finished, paused, stepped): nothing to do.
      if (intent.worker) return this.client.instance(rec);
      throw badState(rec, intent.action === 'back' ? 'move back' : intent.action);
    }
    const ctxInfo = { machine: rec.machine, id: rec.id };
    let data = (await deserialize(this.serializer, rec.serializedState, ctxInfo)) as TData;
    let serialized = rec.serializedState;
    let version = rec.version;
    let history: HistoryRecord[] = [];
    let events: FsmEvent[] = [];
    let clearPause = false;
    /** Completed visits still to undo, once known (read from history only when needed). */
    let trail: string[] | null = null;
    const loadTrail = async (): Promise<string[]> => {
      if (!this.keepHistory) return trailByOrder(this.graph, rec.currentState);
      const rows = await this.store.history(rec.machine, rec.id, { withData: false });
      return trailFromHistory([...rows, ...history]);
    };
    await this.checkDefinition(rec, loadTrail);
    const fence = drive.leases.map((l) => ({ key: l.key, token: l.token }));

    /** Commits the record as it is now; `last`: the drive ends with it (the store may release the locks too). */
    const save = async (status: InstanceStatus, last = false): Promise<CommitResult> => {
      rec.status = status;
      rec.updatedAt = new Date();
      // A running instance is leased to this process; a worker takes over if the lease runs out.
      rec.leaseOwner = status === 'running' ? this.owner : null;
      rec.leaseExpiresAt = status === 'running' ? new Date(rec.updatedAt.getTime() + this.instanceLeaseMs) : null;
      rec.serializedState = serialized;
      rec.version = version + 1;
      if (FINISHED.has(status)) clearPause = true;
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
      if (releaseLocks && result.locksReleased) drive.over = true;
      stored = { ...rec };
      version = rec.version;
      drive.version = version;
      drive.running = status === 'running';
      history = [];
      events = [];
      clearPause = false;
      return result;
    };

    /**
     * A commit the store refuses for good (data or history too large, unserializable): the
     * instance ends `failed` with the reason, at its last stored data, rather than running
     * the step again forever.
     */
    const refused = async (error: FsmError): Promise<Instance<TData, TState>> => {
      const reason = errorInfo(error);
      delete reason.stack;
      Object.assign(rec, { ...stored, version: stored.version });
      history = [];
      events = [];
      serialized = stored.serializedState;
      rec.lastError = { ...reason, name: 'CommitRefused', message: `the step's results could not be stored: ${error.message}` };
      rec.resumeFromStep = this.graph.steps.get(rec.currentState)?.order ?? null;
      data = (await deserialize(this.serializer, serialized, ctxInfo)) as TData;
      pushEvent(events, rec, { type: 'instance.failed', from: rec.currentState, to: rec.currentState, step: null, data });
      await save('failed', true);
      return toInstance(rec, data);
    };

    const commit = async (status: InstanceStatus, last = false): Promise<CommitResult | Instance<TData, TState>> => {
      const limit = this.options.maxHistory ?? 25_000;
      if (rec.historySeq > limit) {
        return refused(
          new FsmError('FSM_HISTORY_LIMIT', `${rec.machine} instance ${rec.id} reached its limit of ${limit} history rows`, {
            context: { machine: rec.machine, id: rec.id, limit },
          }),
        );
      }
      try {
        return await save(status, last);
      } catch (error) {
        if (isFsmError(error) && PERMANENT.has(error.code)) return refused(error);
        throw error;
      }
    };

    // ---- taking the instance: one owner per running instance -------------------------------
    let pauseWanted: { reason: string | null } | null = rec.pauseRequested ? { reason: rec.pauseReason } : null;
    if (rec.status === 'running' && !intent.marked) {
      // Its drive died (the lease ran out): this is a takeover, counted so that an instance that
      // kills its process every time stops being retried.
      rec.takeovers += 1;
      const max = this.options.maxTakeovers ?? 5;
      if (rec.takeovers > max) {
        rec.lastError = {
          name: 'FsmError',
          code: 'FSM_TAKEOVER_LIMIT',
          message: `${rec.machine} instance ${rec.id} was taken over ${rec.takeovers - 1} times after its drive died at "${rec.currentState}"; not run again. Resume it after finding the cause.`,
        };
        pushEvent(events, rec, { type: 'instance.failed', from: rec.currentState, to: rec.currentState, step: null, data });
        await save('failed', true);
        return toInstance(rec, data);
      }
    }
    if (intent.resume) {
      if (intent.resume.patch) data = { ...data, ...intent.resume.patch } as TData;
      serialized = await serialize(this.serializer, data, ctxInfo);
      pauseWanted = null;
      clearPause = true;
      rec.pauseReason = null;
      rec.lastError = null;
      rec.attempts = 0;
      rec.nextRunAt = null;
      pushEvent(events, rec, { type: 'instance.resumed', from: rec.currentState, to: rec.currentState, step: null, data });
    }
    if (intent.transition) {
      const t = intent.transition.model;
      if (!transitionAllowedFrom(this.graph, t, rec.currentState)) {
        const allowed = t.from;
        throw new FsmError(
          'FSM_TRANSITION_NOT_ALLOWED',
          `transition "${t.name}" of ${rec.machine} instance ${rec.id} is not allowed from "${rec.currentState}"; it is allowed from: ${allowed.join(', ')}`,
          { context: { machine: rec.machine, id: rec.id, transition: t.name, state: rec.currentState, allowed } },
        );
      }
      await this.guard(rec, t, intent.transition, data);
    }
    if (intent.backward && rec.direction === 'forward') {
      trail = await loadTrail();
      rec.direction = 'backward';
      rec.currentState = undoNext(this.graph, trail).state;
      rec.attempts = 0;
    }
    if (rec.status === 'failed' || rec.status === 'paused' || rec.status === 'done') rec.lastError = intent.resume ? null : rec.lastError;

    // Mark it running under this drive's lease: the conditional commit that makes this drive the owner.
    if (intent.marked) Object.assign(drive, { version: rec.version, running: true });
    else {
      try {
        const marked = await commit('running');
        if ('data' in marked) return marked;
        if (marked.pauseRequested && !intent.resume) pauseWanted = { reason: marked.pauseReason };
      } catch (error) {
        // Another call changed it between our read and this write: look again (it may be running now).
        if (isFsmError(error, 'FSM_STALE_VERSION') && tries < 3) return this.steps(await this.client.load(rec.id), intent, drive, tries + 1);
        throw error;
      }
    }

    if (intent.transition) {
      const outcome = await this.runTransition(rec, intent.transition, data, serialized);
      history.push(outcome.row);
      if (outcome.error !== undefined) {
        // Nothing moves: the instance goes back to where it was, the failed attempt in history.
        await commit(startStatus === 'running' ? 'waiting' : startStatus, true);
        throw outcome.error;
      }
      data = outcome.data;
      serialized = outcome.serialized;
      const t = intent.transition.model;
      const from = rec.currentState;
      rec.currentState = t.to;
      rec.direction = 'forward';
      rec.attempts = 0;
      rec.lastError = null;
      pushEvent(events, rec, { type: 'transition.completed', from, to: t.to, step: null, data, transition: t.name, actor: intent.transition.actor });
    }

    let ran = 0;
    let stepAtATime = false;
    for (;;) {
      const local = this.localPauses.get(rec.id);
      if (local !== undefined) pauseWanted = { reason: local };
      if (drive.pauseRequest) pauseWanted = drive.pauseRequest;
      const rest = rec.direction === 'backward' ? (rec.currentState === 'compensated' ? 'compensated' : null) : restingStatus(this.graph, rec.currentState);
      const stop =
        rest ??
        boundaryStop({ ran, maxSteps: intent.maxSteps, stepAtATime, pauseWanted: pauseWanted !== null, workerStopping: intent.worker?.stopping ?? false });
      if (stop) {
        if (stop === 'paused') {
          rec.pauseReason = pauseWanted?.reason ?? null;
          clearPause = true;
          this.localPauses.delete(rec.id);
        }
        rec.resumeFromStep = this.graph.steps.get(rec.currentState)?.order ?? null;
        if (stop !== 'waiting') rec.nextRunAt = null;
        if (stop === 'done' || stop === 'compensated') rec.lastError = null;
        const type: FsmEventType =
          stop === 'paused' ? 'instance.paused' : stop === 'done' ? 'instance.done' : stop === 'compensated' ? 'instance.compensated' : 'instance.waiting';
        rec.status = stop;
        pushEvent(events, rec, { type, from: rec.currentState, to: rec.currentState, step: null, data });
        const saved = await commit(stop, true);
        return 'data' in saved ? saved : toInstance(rec, data);
      }

      const step = this.graph.steps.get(rec.currentState);
      if (step === undefined) throw this.replayMismatch(rec);
      const backward = rec.direction === 'backward';
      const method = backward ? step.back : step.method;
      if (method === undefined) {
        // A legacy cursor on a step with nothing to undo: pass over it.
        trail ??= await loadTrail();
        const at = trail.lastIndexOf(step.name);
        if (at >= 0) trail.splice(at, 1);
        rec.currentState = undoNext(this.graph, trail).state;
        continue;
      }
      const before = rec.currentState;
      const attempt = await this.attempt(rec, step, method, data, drive);
      const cursor: Cursor = { state: rec.currentState, direction: rec.direction, attempts: rec.attempts };
      let outcome: Outcome = attempt.outcome;
      let afterText = serialized;
      if (outcome.kind === 'completed') {
        try {
          afterText = await serialize(this.serializer, attempt.ctx.data, ctxInfo);
        } catch (error) {
          outcome = { kind: 'threw', error };
        }
      }
      // A failed attempt may have changed the data in place: go on from what was saved.
      if (outcome.kind === 'threw') data = (await deserialize(this.serializer, serialized, ctxInfo)) as TData;
      else if (attempt.ctx.rerun && !backward) {
        // "Not yet": the step stays where it is, its data kept, and runs again on resume.
        data = attempt.ctx.data;
        serialized = afterText;
        pauseWanted = { reason: attempt.ctx.pauseReason };
        continue;
      }
      const decision = decide(this.graph, step, cursor, outcome, {
        onError: this.model.onError,
        durableRetry: intent.worker !== undefined || (this.options.durableTimers ?? false),
      });
      const row = (stateAfter: string, error: unknown, dataAfter: string) =>
        this.keepHistory &&
        history.push(
          historyRow(rec, {
            handler: method,
            step: step.name,
            stateBefore: before,
            stateAfter,
            dataBefore: serialized,
            dataAfter,
            metadata: attempt.ctx.metadata,
            error,
            attempt: attempt.ctx.attempt,
            startedAt: attempt.startedAt,
          }),
        );
      const thrown = outcome.kind === 'threw' ? outcome.error : null;

      switch (decision.kind) {
        case 'retry': {
          row(before, thrown, serialized);
          rec.attempts = decision.cursor.attempts;
          if (decision.durable) {
            // The retry is a durable timer: whoever claims the instance when it is due runs it.
            rec.nextRunAt = new Date(Date.now() + decision.delayMs);
            rec.resumeFromStep = step.order;
            const saved = await commit('waiting', true);
            return 'data' in saved ? saved : toInstance(rec, data);
          }
          await this.sleep(decision.delayMs);
          continue;
        }
        case 'caught': {
          row(before, thrown, serialized);
          rec.currentState = decision.cursor.state;
          rec.attempts = 0;
          rec.lastError = decision.caught;
          pushEvent(events, rec, { type: 'step.caught', from: before, to: rec.currentState, step: step.name, data });
          break;
        }
        case 'turn-back': {
          row(before, thrown, serialized);
          // Saga: a failed step undoes the ones before it instead of stopping.
          trail = await loadTrail();
          rec.direction = 'backward';
          rec.currentState = undoNext(this.graph, trail).state;
          rec.attempts = 0;
          pushEvent(events, rec, { type: 'step.failed', from: before, to: rec.currentState, step: step.name, data });
          break;
        }
        case 'failed': {
          if (decision.keep) {
            row(before, null, afterText);
            data = attempt.ctx.data;
            serialized = afterText;
          } else {
            row(before, thrown ?? decision.error, serialized);
            data = (await deserialize(this.serializer, serialized, ctxInfo)) as TData;
          }
          rec.attempts = decision.keep ? 0 : decision.cursor.attempts;
          rec.lastError = decision.error;
          rec.resumeFromStep = step.order;
          pushEvent(events, rec, { type: 'instance.failed', from: before, to: before, step: step.name, data });
          const saved = await commit('failed', true);
          return 'data' in saved ? saved : toInstance(rec, data);
        }
        case 'moved': {
          data = attempt.ctx.data;
          if (backward) {
            trail ??= await loadTrail();
            const at = trail.lastIndexOf(step.name);
            if (at >= 0) trail.splice(at, 1);
            rec.currentState = undoNext(this.graph, trail).state;
          } else {
            rec.currentState = decision.cursor.state;
            trail?.push(step.name);
          }
          row(rec.currentState, null, afterText);
          serialized = afterText;
          rec.attempts = 0;
          if (!backward) rec.lastError = null;
          pushEvent(events, rec, { type: decision.event, from: before, to: rec.currentState, step: step.name, data });
          break;
        }
      }
      ran++;
      stepAtATime = !backward && !(step.immediate ?? this.options.immediate ?? this.model.immediate);
      // A pause the step asked for, or one asked meanwhile: no commit before stopping for it.
      if (drive.pauseRequest) pauseWanted = drive.pauseRequest;
      const asked = this.localPauses.get(rec.id);
      if (asked !== undefined) pauseWanted = { reason: asked };
      const going =
        (rec.direction === 'backward' ? rec.currentState !== 'compensated' : restingStatus(this.graph, rec.currentState) === null) &&
        !stepAtATime &&
        ran < intent.maxSteps &&
        pauseWanted === null;
      if (this.saveAfterStep && going) {
        rec.resumeFromStep = this.graph.steps.get(rec.currentState)?.order ?? null;
        const result = await commit('running');
        if ('data' in result) return result;
        if (result.pauseRequested) pauseWanted = { reason: result.pauseReason };
      }
    }
  }

  /** Runs one attempt of a step's (or back) handler, with hooks; never throws what the handler threw. */
  private async attempt(rec: InstanceRecord, step: StepModel, method: string, data: TData, drive: DriveState) {
    const ctx = new RunningStepContext<TData>(rec.id, rec.machine, rec.userId, step.name, rec.direction, rec.attempts + 1, data);
    if (rec.lastError && 'step' in rec.lastError) ctx.error = rec.lastError as never;
    if (drive.lost.signal.aborted) ctx.abort(drive.lost.signal.reason);
    else drive.lost.signal.addEventListener('abort', () => ctx.abort(drive.lost.signal.reason), { once: true });
    const startedAt = new Date();
    let outcome: Outcome;
    try {
      await this.callHooks('before', { kind: 'step', name: step.name, ctx });
      const returned = await invokeHandler(this.handlers[method] as never, this.handlers, ctx as RunningStepContext<unknown>, step.timeoutMs);
      const chosen = ctx.chosen ?? gotoOf(returned);
      outcome = { kind: 'completed', goto: chosen, end: ctx.ended };
      if (ctx.paused && !ctx.rerun) drive.pauseRequest ??= { reason: ctx.pauseReason };
      await this.callHooks('after', { kind: 'step', name: step.name, ctx }, true);
    } catch (error) {
      outcome = { kind: 'threw', error };
      await this.callHooks('after', { kind: 'step', name: step.name, ctx, error }, true);
    }
    return { ctx, outcome, startedAt };
  }

  private async guard(rec: InstanceRecord, t: TransitionModel, call: NonNullable<DriveIntent['transition']>, data: TData): Promise<void> {
    if (t.guard === undefined) return;
    const ctx = new RunningTransitionContext<TData>(rec.id, rec.machine, rec.userId, t.name, rec.currentState, t.to, call.input, call.actor, data);
    const verdict = await this.handlers[t.guard]!.call(this.handlers, ctx);
    if (verdict === false || typeof verdict === 'string') {
      const reason = typeof verdict === 'string' ? verdict : null;
      throw new FsmError(
        'FSM_GUARD_REJECTED',
        `transition "${t.name}" of ${rec.machine} instance ${rec.id} was refused by its guard${reason ? `: ${reason}` : ''}`,
        { context: { machine: rec.machine, id: rec.id, transition: t.name, state: rec.currentState, reason } },
      );
    }
  }

  private async runTransition(rec: InstanceRecord, call: NonNullable<DriveIntent['transition']>, data: TData, serialized: string) {
    const t = call.model;
    const ctx = new RunningTransitionContext<TData>(rec.id, rec.machine, rec.userId, t.name, rec.currentState, t.to, call.input, call.actor, data);
    const startedAt = new Date();
    let error: unknown;
    let result: unknown;
    let after = serialized;
    try {
      await this.callHooks('before', { kind: 'transition', name: t.name, ctx });
      result = await this.handlers[t.method]!.call(this.handlers, ctx);
      after = await serialize(this.serializer, ctx.data, { machine: rec.machine, id: rec.id });
      await this.callHooks('after', { kind: 'transition', name: t.name, ctx, result }, true);
    } catch (e) {
      error = e;
      await this.callHooks('after', { kind: 'transition', name: t.name, ctx, error }, true);
    }
    const resultText = result === undefined || error !== undefined ? null : JSON.stringify(toJsonSafe(result) ?? null);
    const row = historyRow(rec, {
      handler: t.method,
      step: rec.currentState,
      stateBefore: rec.currentState,
      stateAfter: error === undefined ? t.to : rec.currentState,
      dataBefore: serialized,
      dataAfter: error === undefined ? after : serialized,
      metadata: ctx.metadata,
      error: error === undefined ? null : error,
      attempt: 1,
      startedAt,
      direction: 'forward',
      transition: t.name,
      actor: call.actor,
      result: resultText,
    });
    return { row, error, data: ctx.data, serialized: after };
  }

  /** Runs hooks in order; `after` hooks only log what they throw (the handler's work stands). */
  private async callHooks(which: 'before' | 'after', event: HookEvent<TData>, logOnly = false): Promise<void> {
    for (const hook of this.hooks[which]) {
      try {
        await hook(event);
      } catch (error) {
        if (!logOnly) throw error;
        this.logger.error(`an ${which} hook threw`, { machine: this.model.name, name: event.name, error });
      }
    }
  }

  // ---- checks --------------------------------------------------------------------------------

  private async checkDefinition(rec: InstanceRecord, loadTrail: () => Promise<string[]>): Promise<void> {
    if (rec.definitionHash === this.hash) return;
    const problem = incompatibility(this.graph, rec.currentState, rec.direction, await loadTrail());
    if (problem === null) {
      rec.definitionHash = this.hash;
      rec.definitionVersion = this.model.version;
      return;
    }
    const { missing } = problem;
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
}

/** The state in a handler's return value `{ goto }` (what `ctx.goto` returns), if any. */
function gotoOf(value: unknown): string | null {
  if (typeof value === 'object' && value !== null && typeof (value as { goto?: unknown }).goto === 'string') return (value as { goto: string }).goto;
  return null;
}
