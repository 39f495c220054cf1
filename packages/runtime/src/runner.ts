import { hostname } from 'node:os';
import { checkModel, machineGraph, type LockModel, type MachineDefinition, type MachineGraph, type MachineModel } from '@fsmkit/decorators';
import { InstanceClient } from './client.js';
import { definitionHash } from './definition-hash.js';
import { restingStatus } from './engine/decide.js';
import { Drive, type ChildMachine, type DriveIntent, type DriveState, type Engine, type Hook } from './engine/drive.js';
import { QUEUED_CHILD } from './engine/waits.js';
import { pushEvent } from './engine/factories.js';
import { InputValidator } from './engine/input.js';
import { checkKey, receivedRecord } from './engine/waits.js';
import { inSpan } from './engine/tracing.js';
import { trace } from '@opentelemetry/api';
import { acquireAll, lockKeys, releaseAll, runHolding } from './engine/locks.js';
import { FsmError, isFsmError } from './errors.js';
import { uuidv7 } from './ids.js';
import { toInstance, type HistoryEntry, type Instance } from './instance.js';
import { decodeTransfer } from './instance-transfer.js';
import type { AcquireMode, Locker } from './locker.js';
import { noopLogger, safeLogger, type Logger } from './logger.js';
import { watchRunnable } from './runnable-signal.js';
import { processLocker } from './memory-locker.js';
import { MemoryStore } from './memory-store.js';
import type { FsmEvent, InstanceRecord } from './records.js';
import { serializeNow, superjsonSerializer, type Serializer } from './serializer.js';
import type { HistoryOptions, ListFilter, MachineStats, StatsOptions, Store } from './store.js';
import { Worker, type WorkOptions } from './worker.js';
import { chainSource, type ChainFrom } from './chain.js';
import { startEach, type StartManyOptions, type StartManyResult } from './start-many.js';

export { EVENT_SCHEMA_VERSION } from './engine/factories.js';
export type { Hook, HookEvent } from './engine/drive.js';

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
  /**
   * How long a message delivered while nobody waits for it stays in the inbox, to be taken by a
   * wait that begins meanwhile. Default 24 hours.
   */
  inboxTtlMs?: number;
  /**
   * The runners of the machines this machine's steps may spawn as children (`ctx.spawn`,
   * `ctx.map`), on this runner's store: a child is stored in its parent's commit, with its own
   * runner's serializer, topic and definition. Workers of each machine run them.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  machines?: ReadonlyArray<MachineRunner<any, any, any>>;
}

/** Options of `runner.deliver(...)`. */
export interface DeliverOptions {
  /** The sender's id for the message: delivering the same id again has no effect (`duplicate`). */
  messageId?: string;
  /** Overrides the runner's `inboxTtlMs` for this message. */
  inboxTtlMs?: number;
}

/** What became of a delivered message. */
export type DeliveryResult<TData = unknown, TState extends string = string> =
  /**
   * The instance waiting for it took it and ran on until it rested, waited or ended (`instance`);
   * `instance` is null when continuing it here failed after the message was taken (logged): the
   * message stays with the instance and a worker continues it.
   */
  | { outcome: 'delivered'; instanceId: string; instance: Instance<TData, TState> | null }
  /** Nobody waited for it: it is kept in the inbox until a wait for it begins or it expires. */
  | { outcome: 'inboxed' }
  /** A message with the same `messageId` was delivered before (to `instanceId`, or to the inbox: null). */
  | { outcome: 'duplicate'; instanceId: string | null };

export interface CreateOptions<TData = unknown> {

  /** The user or account the instance belongs to; required by `@Lock('local', { by: 'user' })`. */
  userId?: string | null;
  /** Defaults to a new UUIDv7. */
  id?: string;
  /** Earliest time a worker may start it. */
  runAt?: Date;
  /** The state to start at instead of the machine's initial state (any state that is not final). */
  at?: string;
  /** Workers claim higher priorities first (an integer; default 0); waiting long counts too (see `WorkOptions.agingEvery`). */
  priority?: number;
  /**
   * Start from another instance's final data (or its data after a step), through an optional
   * transform; `data`, when not undefined, is merged over it. The link is kept (`chainedFrom`).
   */
  from?: ChainFrom<TData>;
}

/** Items of `startMany`: data to start instances with, or source instances to chain from. */
export type StartManyItems<TData> =
  | readonly TData[]
  | {
      /** Every instance of `machine` (default: this one) that `filter` lists is a source, in list order. */
      from: { machine?: string; filter?: ListFilter; step?: string; transform?: ChainFrom<TData>['transform'] };
    };

export interface StartManyCallOptions<TData> extends StartManyOptions {
  /** Options of each item's `start` (the same for all, or by item). */
  create?: Omit<CreateOptions<TData>, 'from' | 'id'> | ((data: TData | undefined, index: number) => Omit<CreateOptions<TData>, 'from'>);
}

/** Options of `runner.transition(...)`. */
export interface TransitionCallOptions {
  /** Who executes the transition (a user id, a service name); recorded in history and events. */
  actor?: string | null;
}

/** Input types of a machine's transitions, by name: the generated runner gives the precise map. */
export type TransitionInputs = Record<string, unknown>;

/** The typed API a generated runner exposes. */
export interface MachineRunner<TData = unknown, TState extends string = string, TInputs extends TransitionInputs = TransitionInputs> {
  readonly model: MachineModel;
  readonly store: Store;
  /** Reads and administration without handlers (the same the runner uses). */
  readonly client: InstanceClient<TData, TState>;
  /** Stores a new instance at the initial state (or `at`): `ready` at a step, `idle` at a state only transitions leave. */
  create(data: TData, options?: CreateOptions<TData>): Promise<Instance<TData, TState>>;
  /** Chained: the data comes from `options.from`; `data` (may be undefined) is merged over it. */
  create(data: Partial<TData> | undefined, options: CreateOptions<TData> & { from: ChainFrom<TData> }): Promise<Instance<TData, TState>>;
  /** `create` then `run`; when a lock is busy, nothing is stored. */
  start(data: TData, options?: CreateOptions<TData>): Promise<Instance<TData, TState>>;
  start(data: Partial<TData> | undefined, options: CreateOptions<TData> & { from: ChainFrom<TData> }): Promise<Instance<TData, TState>>;
  /**
   * Starts one instance per item, at most `concurrency` at once, and returns one result per
   * item in item order (started, failed, or skipped after a stop on error).
   */
  startMany(items: StartManyItems<TData>, options?: StartManyCallOptions<TData>): Promise<Array<StartManyResult<TData, TState>>>;
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
  /**
   * Delivers the message `name` with correlation key `key`: the instance waiting for it (an
   * indexed lookup) takes it, its timer cancelled in the same commit, and runs on, its next
   * step reading the payload as `ctx.message`. The payload is checked against the message's
   * schema first (FSM_INPUT_INVALID). Nobody waiting: the message waits in the inbox.
   */
  deliver(name: string, key: string, payload: unknown, options?: DeliverOptions): Promise<DeliveryResult<TData, TState>>;
  /** Calls `fn` before (or after) every step handler and transition method; returns a function that removes it. */
  on(hook: 'before' | 'after', fn: Hook<TData>): () => void;
  get(id: string): Promise<Instance<TData, TState>>;
  find(id: string): Promise<Instance<TData, TState> | undefined>;
  history(id: string, options?: HistoryOptions): Promise<Array<HistoryEntry<TData>>>;
  list(filter?: ListFilter): Promise<Array<Instance<TData, TState>>>;
  /** Current state of many instances in one store call. */
  currentStates(ids: string[]): Promise<Map<string, TState>>;
  /**
   * Counts by status and state, step durations (average, p50, p95, p99) per step and per
   * machine, over a time range: computed by the store (in SQL on MySQL).
   */
  stats(options?: StatsOptions): Promise<MachineStats>;
  /** The instance and its history as text, to restore elsewhere with `importInstance`. */
  exportInstance(id: string): Promise<string>;
  /** Stores an exported instance (in this runner's store) as it was; run or resume it next. */
  importInstance(text: string): Promise<Instance<TData, TState>>;
  /** Starts a worker that claims and runs this machine's runnable instances from the store. */
  work(options?: WorkOptions): Worker;
}

type Fn = (ctx: unknown) => unknown;

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
  private readonly locker: Locker;
  private readonly serializer: Serializer;
  private readonly logger: Logger;
  private readonly topic: string | null;
  private readonly lock: LockModel;
  private readonly owner: string;
  private readonly saveAfterStep: boolean;
  /** The machine or the runner locks per user: every instance needs a user id. */
  private readonly perUser: boolean;
  private readonly inputs: InputValidator;
  /** What every drive of this runner shares. */
  private readonly engine: Engine<TData>;
  /** This runner's drives, by instance id: one at a time per instance. */
  private readonly active = new Map<string, DriveState>();
  /** This runner is in its period's set of `keepers` (it has drives under way). */
  private kept = false;
  /** Siblings a child's end started leased to this runner, as the store returned them: driven next without a read. */
  private readonly adoptable = new Map<string, InstanceRecord>();
  private readonly spanName: string;

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
    const handlers = definition.create() as Record<string, Fn>;
    const methods = new Set<string>();
    for (let o: object | null = handlers; o && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
      for (const k of Object.getOwnPropertyNames(o)) if (typeof handlers[k] === 'function') methods.add(k);
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
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${uuidv7().slice(-8)}`;
    this.saveAfterStep = options.saveAfterStep ?? this.model.saveAfterStep;
    this.perUser = [this.model.lock, this.lock].some((l) => l.scope === 'local' && l.by !== 'type');
    this.inputs = new InputValidator(this.model, definition.validators);
    this.spanName = `fsm.drive ${this.model.name}`;
    const children = this.childMachines(options.machines ?? []);
    this.engine = {
      model: this.model,
      graph: this.graph,
      store: this.store,
      client: this.client as InstanceClient<TData, string>,
      serializer: this.serializer,
      logger: this.logger,
      handlers,
      hash: definitionHash(this.model),
      owner: this.owner,
      keepHistory: options.history ?? true,
      saveAfterStep: this.saveAfterStep,
      immediate: options.immediate,
      durableTimers: options.durableTimers ?? false,
      instanceLeaseMs: options.instanceLeaseMs ?? 30_000,
      maxTakeovers: options.maxTakeovers ?? 5,
      maxHistory: options.maxHistory ?? 25_000,
      sleep: options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
      hooks: { before: [], after: [] },
      localPauses: new Map(),
      received: new Set(),
      children,
      childNames: new Set(children.keys()),
    };
  }

  /** The machines given in `machines`, checked: runners of this package, on this store. */
  private childMachines(runners: ReadonlyArray<MachineRunner<unknown, string, TransitionInputs>>): Map<string, ChildMachine> {
    const children = new Map<string, ChildMachine>();
    for (const runner of runners) {
      const problem = !(runner instanceof Runner)
        ? 'is not a runner made by createRunner'
        : runner.store !== this.store
          ? "is on another store: a child is stored in its parent's commit, so both runners need the same store"
          : this.store.children === undefined
            ? 'cannot be spawned: this store keeps no child machines (it has no children())'
            : null;
      if (problem !== null) {
        const name = (runner as { model?: { name?: string } } | null)?.model?.name ?? null;
        throw new FsmError('FSM_INVALID_STATE', `machine ${JSON.stringify(name)} given in machines of "${this.model.name}" ${problem}`, {
          context: { machine: this.model.name, child: name },
        });
      }
      children.set(runner.model.name, (runner as Runner<unknown, string, TransitionInputs>).asChild());
    }
    return children;
  }

  /** How a parent's drive makes and undoes this machine's instances as its children. */
  asChild(): ChildMachine {
    return {
      serializer: this.serializer,
      record: async (request, parent) => {
        const made = await this.newRecord(request.data as TData, { id: request.id, userId: request.userId });
        made.record.parentMachine = parent.machine;
        made.record.parentId = parent.id;
        if (request.queued && made.record.status === 'ready') {
          // Not claimable until a sibling that ends starts it (see Commit.childEnded).
          made.record.status = 'waiting';
          made.record.waitingFor = QUEUED_CHILD;
        }
        return made;
      },
      compensate: async (id) => {
        const undone = await this.compensate(id);
        return { status: undone.status, lastError: undone.error };
      },
    };
  }

  // ---- creating ------------------------------------------------------------------------------

  async create(data: TData | Partial<TData> | undefined, options: CreateOptions<TData> = {}): Promise<Instance<TData, TState>> {
    const rec = await this.newRecord(data, options);
    await this.store.insert(rec.record, rec.events);
    return toInstance(rec.record, rec.data);
  }

  start(data: TData | Partial<TData> | undefined, options: CreateOptions<TData> = {}): Promise<Instance<TData, TState>> {
    // One span from the instance's creation to the end of its first drive.
    return inSpan(this.spanName, () => ({ 'fsm.machine': this.model.name, 'fsm.action': 'start' }), (span) => {
      // Without a recording span, no async frame of its own around the start.
      if (!span.isRecording()) return this.startTraced(data, options);
      return this.startTraced(data, options).then((ended) => {
        span.setAttributes({ 'fsm.instance_id': ended.id, 'fsm.outcome': ended.status, 'fsm.state': ended.state, 'fsm.direction': ended.direction });
        return ended;
      });
    });
  }

  async startMany(items: StartManyItems<TData>, options: StartManyCallOptions<TData> = {}): Promise<Array<StartManyResult<TData, TState>>> {
    const each = (data: TData | undefined, index: number) => (typeof options.create === 'function' ? options.create(data, index) : (options.create ?? {}));
    if (Array.isArray(items)) {
      return startEach(items as readonly TData[], (data, index) => this.start(data, each(data, index)), options);
    }
    const { from } = items as Exclude<StartManyItems<TData>, readonly TData[]>;
    const machine = from.machine ?? this.model.name;
    const sources = await this.store.list(machine, from.filter);
    return startEach(
      sources.map((r) => r.id),
      (instanceId, index) => this.start(undefined, { ...each(undefined, index), from: { instanceId, machine, step: from.step, transform: from.transform } }),
      options,
      (id) => id,
    );
  }

  private async startTraced(data: TData | Partial<TData> | undefined, options: CreateOptions<TData>): Promise<Instance<TData, TState>> {
    const made = await this.newRecord(data, options);
    const rec = made.record;
    if (rec.status === 'idle') {
      await this.store.insert(rec, made.events);
      return toInstance(rec, made.data);
    }
    // Locks first: when one is busy, nothing is stored, so a caller that retries makes no duplicate.
    const keys = this.keysOf(rec);
    const leases = keys.length === 0 ? [] : await acquireAll(this.locker, keys, rec, this.acquireSettings(undefined));
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
    rec.leaseExpiresAt = new Date(Date.now() + this.engine.instanceLeaseMs);
    try {
      await this.store.insert(rec, made.events);
    } catch (error) {
      await releaseAll(this.locker, leases);
      throw error;
    }
    // The store copied what it stored: the drive may change `rec`.
    // Awaited: an async function that returns a promise takes two more turns of the queue to settle.
    return await this.drive(rec.id, { maxSteps: Number.POSITIVE_INFINITY, action: 'run', marked: true, leases }, rec);
  }

  private async newRecord(given: TData | Partial<TData> | undefined, options: CreateOptions<TData>): Promise<{ record: InstanceRecord; events: FsmEvent[]; data: TData }> {
    const userId = options.userId ?? null;
    const priority = options.priority ?? 0;
    if (!Number.isInteger(priority) || priority < -2_147_483_648 || priority > 2_147_483_647) {
      throw new FsmError('FSM_INPUT_INVALID', `create option priority is ${String(priority)}; expected a 32-bit integer`, {
        context: { machine: this.model.name, option: 'priority', value: priority },
      });
    }
    if (this.perUser && (userId === null || userId.trim() === '')) {
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
    let data = given as TData;
    let chainedFrom: string | null = null;
    if (options.from !== undefined) {
      const source = await chainSource(this.store, this.serializer, options.from as ChainFrom<unknown>, this.model.name);
      data = mergeOver(source.data, given) as TData;
      chainedFrom = JSON.stringify(source.link);
    }
    const now = new Date();
    const id = options.id ?? uuidv7(now.getTime());
    const text = serializeNow(this.serializer, data, { machine: this.model.name, id });
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
      serializedState: typeof text === 'string' ? text : await text,
      version: 1,
      definitionHash: this.engine.hash,
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
      priority,
      waitMessage: null,
      waitKey: null,
      waitingFor: null,
      parentMachine: null,
      parentId: null,
      chainedFrom,
      historySeq: 0,
      eventSeq: 0,
      createdAt: now,
      updatedAt: now,
    };
    const events: FsmEvent[] = [];
    pushEvent(events, record, { type: 'instance.created', from: '', to: at, step: null, data, time: now });
    return { record, events, data };
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

  async deliver(name: string, key: string, payload: unknown, options: DeliverOptions = {}): Promise<DeliveryResult<TData, TState>> {
    const machine = this.model.name;
    if (!this.store.deliver) {
      throw new FsmError('FSM_INVALID_STATE', `the store of machine "${machine}" cannot take messages (it has no deliver())`, { context: { machine } });
    }
    const context = { machine, message: name, key };
    if (typeof name !== 'string' || name.length === 0 || name.length > 64) {
      throw new FsmError('FSM_INPUT_INVALID', `a message name must be a string of 1 to 64 characters, got ${JSON.stringify(name)}`, { context });
    }
    checkKey(key, 'FSM_INPUT_INVALID', context);
    const messageId = options.messageId ?? null;
    if (messageId !== null && (typeof messageId !== 'string' || messageId.length === 0 || messageId.length > 191)) {
      throw new FsmError('FSM_INPUT_INVALID', `a messageId must be a string of 1 to 191 characters, got ${JSON.stringify(messageId)}`, { context });
    }
    const checked = await this.inputs.checkMessage(name, payload);
    const text = JSON.stringify(checked) ?? 'null';
    const lease = { owner: this.owner, leaseMs: this.engine.instanceLeaseMs };
    const outcome = await this.store.deliver(machine, {
      message: name,
      key,
      payload: text,
      messageId,
      inboxTtlMs: options.inboxTtlMs ?? this.options.inboxTtlMs ?? 24 * 3_600_000,
      take: (rec, m) => receivedRecord(rec, m, lease),
    });
    if (outcome.kind === 'inboxed') return { outcome: 'inboxed' };
    if (outcome.kind === 'duplicate') return { outcome: 'duplicate', instanceId: outcome.instanceId };
    const id = outcome.record.id;
    try {
      // Taken already marked running under this runner's lease: the drive owns it from here.
      const instance = await this.drive(id, { maxSteps: Number.POSITIVE_INFINITY, action: 'run', marked: true }, outcome.record);
      return { outcome: 'delivered', instanceId: id, instance };
    } catch (error) {
      this.logger.error('a delivered message was taken, but continuing the instance failed; a worker continues it', { machine, id, error });
      return { outcome: 'delivered', instanceId: id, instance: null };
    }
  }

  on(hook: 'before' | 'after', fn: Hook<TData>): () => void {
    const list = this.engine.hooks[hook];
    list.push(fn);
    return () => {
      const at = list.indexOf(fn);
      if (at >= 0) list.splice(at, 1);
    };
  }

  // ---- reading and administration ------------------------------------------------------------

  async pause(id: string, reason?: string): Promise<Instance<TData, TState>> {
    if (this.active.has(id)) this.engine.localPauses.set(id, reason ?? null);
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

  stats(options?: StatsOptions): Promise<MachineStats> {
    if (!this.store.stats) {
      throw new FsmError('FSM_INVALID_STATE', `the store of machine "${this.model.name}" computes no statistics (it has no stats())`, {
        context: { machine: this.model.name },
      });
    }
    return this.store.stats(this.model.name, options);
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
        claim: (limit, leaseMs, oldest) => claim(this.model.name, { owner: this.owner, limit, leaseMs, lock: this.lock, oldest }),
        drive: async (id, worker) => {
          const intent: DriveIntent = { maxSteps: Number.POSITIVE_INFINITY, action: 'work', worker };
          await this.drive(id, intent);
          if (intent.siblingRecord !== undefined) this.adoptable.set(intent.siblingRecord.id, intent.siblingRecord);
          return intent.sibling ?? null;
        },
        adopt: (id, worker) => this.adopt(id, worker),
        watch: (wake) => watchRunnable(store, this.model.name, wake),
        owner: this.owner,
        logger: this.logger,
      },
      options,
    );
  }

  /**
   * Drives a child a sibling's end started `running` under this runner's lease (see
   * `Commit.childEnded`), as `start` drives what it stored marked: the commit that started it
   * made this runner its owner. Returns the next sibling to drive, if any.
   */
  private async adopt(id: string, worker: Worker): Promise<string | null> {
    const known = this.adoptable.get(id);
    this.adoptable.delete(id);
    const rec = known ?? (await this.store.get(this.model.name, id));
    if (rec === undefined || rec.status !== 'running' || rec.leaseOwner !== this.owner) return null;
    const intent: DriveIntent = { maxSteps: Number.POSITIVE_INFINITY, action: 'work', worker, marked: true };
    await this.drive(id, intent, rec);
    if (intent.siblingRecord !== undefined) this.adoptable.set(intent.siblingRecord.id, intent.siblingRecord);
    return intent.sibling ?? null;
  }

  // ---- the engine ---------------------------------------------------------------------------

  private keysOf(rec: InstanceRecord): readonly string[] {
    // Most machines lock nothing: no set or array per drive.
    if (!rec.isGlobalLock && !rec.isLocalLock && this.model.lock.scope === 'none' && this.lock.scope === 'none') return NO_KEYS;
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
   * lease is live and another runner's. This runner's own drives are kept apart by `active`.
   */
  private assertFree(rec: InstanceRecord, intent: DriveIntent): void {
    if (intent.marked) return;
    const live = rec.status === 'running' && rec.leaseExpiresAt != null && rec.leaseExpiresAt.getTime() > Date.now();
    // Leased to this runner but driven by none of its drives (`active` says): a worker's claim,
    // or a drive of ours that failed on the way (a lost connection): this runner may go on.
    const mine = rec.leaseOwner === this.owner;
    if (live && !mine) throw this.busy(rec.id, rec.leaseOwner);
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
    const ended = await this.driveOnce(id, intent, loaded);
    // A wait that began with its message already in the inbox: the instance is ready to go on.
    if (this.engine.received.delete(id) && !intent.worker?.stopping) return this.drive(id, { maxSteps: Number.POSITIVE_INFINITY, action: intent.worker ? 'work' : 'run', ...(intent.worker ? { worker: intent.worker } : {}) });
    return ended;
  }

  private async driveOnce(id: string, intent: DriveIntent, loaded?: InstanceRecord): Promise<Instance<TData, TState>> {
    // Claimed before anything is awaited, so that two calls on this runner never both drive it.
    if (this.active.has(id)) {
      if (intent.leases) await releaseAll(this.locker, intent.leases);
      throw this.busy(id, null);
    }
    const state: DriveState = { id, version: 0, running: false, leases: [], over: false, pauseRequest: null, lost: null, current: null, traced: false };
    this.active.set(id, state);
    try {
      // `start` has its span already.
      if (intent.marked) {
        state.traced = trace.getActiveSpan()?.isRecording() ?? false;
        return await this.driveOwned(state, intent, loaded);
      }
      const attributes = () => ({ 'fsm.machine': this.model.name, 'fsm.instance_id': id, 'fsm.action': intent.action, 'fsm.worker': intent.worker !== undefined });
      return await inSpan(this.spanName, attributes, async (span) => {
        state.traced = span.isRecording();
        const ended = await this.driveOwned(state, intent, loaded);
        if (span.isRecording()) span.setAttributes({ 'fsm.outcome': ended.status, 'fsm.state': ended.state, 'fsm.direction': ended.direction });
        return ended;
      });
    } finally {
      this.active.delete(id);
      this.engine.localPauses.delete(id);
      // Held by the timer only while it drives something, so that a dropped runner (and its store) can be collected.
      if (this.active.size === 0 && this.kept) {
        keepers.get(this.renewEvery())?.runners.delete(this);
        this.kept = false;
      }
    }
  }

  private async driveOwned(state: DriveState, intent: DriveIntent, loaded?: InstanceRecord): Promise<Instance<TData, TState>> {
    const id = state.id;
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
    state.leases = leases;
    this.keepAlive();
    try {
      if (leases.length === 0) return await this.take(state, intent, loaded);
      return await runHolding(
        leases.map((l) => l.key),
        () => this.take(state, intent, loaded),
      );
    } finally {
      state.running = false;
      const over = state.over;
      state.over = true;
      if (!over && leases.length > 0) await releaseAll(this.locker, leases);
    }
  }

  /** Loads the instance (again, after a wait for locks) and drives it; once more when another call won the race to it. */
  private async take(state: DriveState, intent: DriveIntent, loaded: InstanceRecord | undefined, tries = 0): Promise<Instance<TData, TState>> {
    const rec = loaded !== undefined && (intent.marked || state.leases.length === 0) ? loaded : await this.client.load(state.id);
    this.assertFree(rec, intent);
    const drive = new Drive<TData>(this.engine, rec, intent, state);
    const prepared = drive.prepare();
    if ((typeof prepared === 'string' ? prepared : await prepared) === 'nothing') return this.client.instance(rec);
    try {
      return (await drive.run()) as Instance<TData, TState>;
    } catch (error) {
      // Another call changed it between our read and the commit that marks it running: look again.
      if (isFsmError(error, 'FSM_STALE_VERSION') && state.version === 0 && tries < 3) return this.take(state, intent, undefined, tries + 1);
      throw error;
    }
  }

  /**
   * One timer for every drive of this runner keeps their leases alive (the instance's and its
   * locks') however long a step takes, so that others take over only what a dead process
   * held. Without commits after each step, it also reads the pause flag now and then, so that
   * a pause asked elsewhere is not lost.
   */
  private keepAlive(): void {
    if (this.kept) return;
    this.kept = true;
    keeperFor(this.renewEvery()).runners.add(this);
  }

  /** How often the leases of this runner's drives are renewed: a third of the shortest. */
  private renewEvery(): number {
    return Math.max(25, Math.floor(Math.min(this.engine.instanceLeaseMs, this.options.lockLeaseMs ?? 30_000) / 3));
  }

  /** Called by the timer: renews the leases of every drive under way. */
  renewAll(): void {
    const lockLeaseMs = this.options.lockLeaseMs ?? 30_000;
    for (const state of this.active.values()) this.renew(state, this.engine.instanceLeaseMs, lockLeaseMs);
  }

  private renew(state: DriveState, instanceLeaseMs: number, lockLeaseMs: number): void {
    const machine = this.model.name;
    const { id } = state;
    if (state.running) {
      const version = state.version;
      this.store.renewLease?.(machine, id, { owner: this.owner, version, leaseMs: instanceLeaseMs }).then(
        // A renewal that crossed a commit of this drive is no loss.
        (ok) =>
          ok ||
          !state.running ||
          state.version !== version ||
          this.logger.warn('instance lease lost while running; a worker may run this step too, and only one of them will commit', { machine, id }),
        (error: unknown) => this.logger.warn('instance lease renewal failed', { machine, id, error }),
      );
      if (!this.saveAfterStep) {
        this.store.get(machine, id).then(
          (rec) => {
            if (rec?.pauseRequested && state.running) state.pauseRequest = { reason: rec.pauseReason };
          },
          (error: unknown) => this.logger.warn('reading the pause flag failed', { machine, id, error }),
        );
      }
    }
    if (state.over) return;
    for (const lease of state.leases) {
      this.locker.renew(lease, lockLeaseMs).then(
        (ok) => {
          if (ok || state.over) return;
          // Another holder may take the lock now: tell the handler to stop; the next commit is refused.
          state.lost = new FsmError('FSM_LOCK_LOST', `lock "${lease.key}" was lost while a step ran`, { context: { key: lease.key } });
          state.current?.abort(state.lost);
          this.logger.warn('lock lease lost while running; the next write will be refused', { key: lease.key });
        },
        (error: unknown) => this.logger.warn('lock renewal failed', { key: lease.key, error }),
      );
    }
  }
}

const NO_KEYS: readonly string[] = Object.freeze([]);

/**
 * The runners with drives under way, by how often their leases are renewed: one timer per
 * period renews them all. A runner is in it only while it drives something, and adding it costs
 * less than a timer per drive.
 */
const keepers = new Map<number, { runners: Set<{ renewAll(): void }> }>();

function keeperFor(every: number): { runners: Set<{ renewAll(): void }> } {
  let keeper = keepers.get(every);
  if (keeper !== undefined) return keeper;
  const runners = new Set<{ renewAll(): void }>();
  const timer = setInterval(() => {
    // Stopped at a tick with nothing to renew; the next drive starts another.
    if (runners.size === 0) {
      clearInterval(timer);
      keepers.delete(every);
    }
    for (const runner of runners) runner.renewAll();
  }, every);
  timer.unref();
  keepers.set(every, (keeper = { runners }));
  return keeper;
}

/** A chained instance's data: the source's, with the caller's object merged over it key by key. */
function mergeOver(source: unknown, given: unknown): unknown {
  if (given === undefined) return source;
  const plain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  return plain(source) && plain(given) ? { ...source, ...given } : given;
}
