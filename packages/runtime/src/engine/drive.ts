import { SpanStatusCode, type Span } from '@opentelemetry/api';
import {
  transitionAllowedFrom,
  type MachineGraph,
  type MachineModel,
  type StepContext,
  type StepModel,
  type TransitionContext,
  type TransitionModel,
} from '@fsmkit/decorators';
import { badState, type InstanceClient } from '../client.js';
import type { ErrorInfo } from '../errors.js';
import { errorInfo, FsmError, isFsmError } from '../errors.js';
import { toInstance, type Instance } from '../instance.js';
import { invokeHandler } from '../invoke-handler.js';
import { toJsonSafe } from '../json-safe.js';
import type { Lease } from '../locker.js';
import type { Logger } from '../logger.js';
import type { FsmEvent, FsmEventType, HistoryRecord, InstanceRecord, InstanceStatus } from '../records.js';
import { deserialize, deserializeNow, serialize, serializeNow, type Serializer } from '../serializer.js';
import { runnableCommitted } from '../runnable-signal.js';
import { RunningStepContext, type SpawnRequest } from '../step-context.js';
import type { Commit, CommitResult, Store } from '../store.js';
import { RunningTransitionContext } from '../transition-context.js';
import type { Worker } from '../worker.js';
import { incompatibility } from './compatibility.js';
import { childrenOf, ENDED, joinState, runsOf, siblingsPrefix, successorOf } from './children.js';
import { boundaryStop, decide, DRIVABLE, restingStatus, trailByOrder, trailFromHistory, undoNext, type Cursor, type DecideOptions, type Outcome } from './decide.js';
import { historyRow, pushEvent } from './factories.js';
import { inSpan } from './tracing.js';
import { decodeWait, encodeWait, receivedRecord, requestedWait, storedWait, type ChildrenWait, type InboxMessage, type SpawnRun, type Wait } from './waits.js';

/** A wait for a time or a message (children are joined apart). */
type StoredTimeWait = Exclude<Wait, ChildrenWait>;

type Fn = (ctx: unknown) => unknown;

/** What hooks see: the step's or the transition's context, and for `after`, how it ended. */
export type HookEvent<TData = unknown> =
  | { kind: 'step'; name: string; ctx: StepContext<TData>; error?: unknown }
  | { kind: 'transition'; name: string; ctx: TransitionContext<TData>; error?: unknown; result?: unknown };

export type Hook<TData = unknown> = (event: HookEvent<TData>) => void | Promise<void>;

/** A machine whose instances this runner's steps may spawn, as its own runner makes and undoes them. */
export interface ChildMachine {
  readonly serializer: Serializer;
  /** A new child, with its first events, as its runner's `create` would store it. */
  record(request: SpawnRequest, parent: { machine: string; id: string }): Promise<{ record: InstanceRecord; events: FsmEvent[] }>;
  /** Undoes a finished child (its runner's `compensate`). */
  compensate(id: string): Promise<{ status: InstanceStatus; lastError: ErrorInfo | null }>;
}

/** Key of the history metadata that names the children a step spawned: `{ visit, runs }`, their ids derive from it. */
export const CHILDREN_METADATA = 'fsm.children';

/** What a drive needs of its runner: the machine, where it is stored, and how it runs. */
export interface Engine<TData> {
  readonly model: MachineModel;
  readonly graph: MachineGraph;
  readonly store: Store;
  readonly client: InstanceClient<TData, string>;
  readonly serializer: Serializer;
  readonly logger: Logger;
  readonly handlers: Record<string, Fn>;
  readonly hash: string;
  readonly owner: string;
  readonly keepHistory: boolean;
  readonly saveAfterStep: boolean;
  readonly immediate: boolean | undefined;
  readonly durableTimers: boolean;
  readonly instanceLeaseMs: number;
  readonly maxTakeovers: number;
  readonly maxHistory: number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly hooks: { before: Array<Hook<TData>>; after: Array<Hook<TData>> };
  /** `pause(id)` calls for instances this runner is driving right now. */
  readonly localPauses: Map<string, string | null>;
  /** Instances whose drive ended beginning a wait that took its message from the inbox at once: to go on. */
  readonly received: Set<string>;
  /** Machines this runner's steps may spawn, by name. */
  readonly children: ReadonlyMap<string, ChildMachine>;
  readonly childNames: ReadonlySet<string>;
}

/** What a drive does: how many steps at most, which way, and what happens first. */
export interface DriveIntent {
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
  /** Set by the drive: the queued sibling its child's end started, leased to this runner, to drive next. */
  sibling?: string;
  /** ... and that sibling as stored, when the store said. */
  siblingRecord?: InstanceRecord;
}

/** What a drive shares with the runner's keep-alive timer. */
export interface DriveState {
  readonly id: string;
  /** The version this drive last committed while the instance is `running` under its lease; 0 before. */
  version: number;
  running: boolean;
  leases: Lease[];
  /** The leases ended within the drive's last commit, or the drive is over: no renewal warnings. */
  over: boolean;
  /** A pause requested from elsewhere, learnt between commits. */
  pauseRequest: { reason: string | null } | null;
  /** Set when a lock's lease is lost: the running handler is told through its signal. */
  lost: FsmError | null;
  /** The handler running now, if any. */
  current: RunningStepContext<unknown> | null;
  /** The drive's span records (the application traces): its handlers get spans too. */
  traced: boolean;
}

/** `step` ran an attempt that did not move the instance: run the loop again from the same place. */
const AGAIN = Symbol('again');

/** How a step ended: the drive ended (the instance), AGAIN, or null when the instance moved on. */
type StepEnd<TData> = Instance<TData, string> | typeof AGAIN | null;

/** What most attempts end with, made once. */
const COMPLETED: Outcome = Object.freeze({ kind: 'completed', goto: null, end: null });
const FINISHED: ReadonlySet<InstanceStatus> = new Set(['done', 'compensated']);
/** Commit refusals that repeating the step cannot cure. */
const PERMANENT: ReadonlySet<string> = new Set(['FSM_DATA_TOO_LARGE', 'FSM_SERIALIZE', 'FSM_HISTORY_LIMIT']);

/**
 * One drive of one instance, from the commit that makes it the owner to the commit that ends
 * it: runs handlers, asks `decide` what follows, and commits. The runner holds the locks and
 * keeps the leases alive around it.
 */
export class Drive<TData> {
  private rec: InstanceRecord;
  /** The record as stored, taken before anything changes it, so that a commit may write only what changed. */
  private stored: InstanceRecord;
  private readonly startStatus: InstanceStatus;
  private data!: TData;
  private serialized: string;
  private version: number;
  private history: HistoryRecord[] = [];
  private events: FsmEvent[] = [];
  private clearPause = false;
  /** Completed visits still to undo, once known (read from history only when needed). */
  private trail: string[] | null = null;
  private pauseWanted: { reason: string | null } | null;
  /** The wait the step that just completed asked for, begun at the next boundary. */
  private pendingWait: { wait: StoredTimeWait; step: string } | null = null;
  /** The message wait the next commit begins (the store may take a message from its inbox at once). */
  private messageWait: { message: string; key: string } | null = null;
  private readonly fence: Array<{ key: string; token: number }>;
  private readonly ctxInfo: { machine: string; id: string };
  /** Children of completed steps, stored with the next commit. */
  private spawns: Array<{ record: InstanceRecord; events: FsmEvent[] }> = [];
  /** Set when the next commit starts a wait for children. */
  private joinCheck: Commit['joinCheck'] | null = null;
  /** Forward handlers run by this drive: with the version it started from, names a step visit. */
  private visits = 0;
  private readonly decideOptions: DecideOptions;
  /** When the attempt running now started (one at a time per drive): its history row's start. */
  private startedAt!: Date;

  constructor(
    private readonly e: Engine<TData>,
    rec: InstanceRecord,
    private readonly intent: DriveIntent,
    private readonly state: DriveState,
  ) {
    this.rec = rec;
    this.stored = { ...rec };
    this.startStatus = rec.status;
    this.serialized = rec.serializedState;
    this.version = rec.version;
    this.pauseWanted = rec.pauseRequested ? { reason: rec.pauseReason } : null;
    this.fence = state.leases.map((l) => ({ key: l.key, token: l.token }));
    this.ctxInfo = { machine: rec.machine, id: rec.id };
    this.decideOptions = { onError: e.model.onError, durableRetry: intent.worker !== undefined || e.durableTimers };
  }

  /**
   * Checks that the call may drive the instance now; throws what refuses it, nothing written.
   * The common case (data parsed at once, the current definition) answers without a promise.
   */
  prepare(): 'go' | 'nothing' | Promise<'go'> {
    const { rec, intent, e } = this;
    if (!DRIVABLE[intent.action].has(rec.status) || (intent.action === 'run' && rec.status === 'idle' && restingStatus(e.graph, rec.currentState) !== null)) {
      // A worker's claim that someone else moved on meanwhile (finished, paused, stepped): nothing to do.
      if (intent.worker) return 'nothing';
      throw badState(rec, intent.action === 'back' ? 'move back' : intent.action);
    }
    // A stored wait is not ended early by `run` or `next` (they return it as it is): only when
    // due (a timer, or a message's timeout), by a message, or by resume, back or a transition.
    // A worker's claim was due by the store's clock.
    const wait = storedWait(rec.waitingFor);
    if (rec.status === 'waiting' && wait !== null && intent.action === 'run' && (rec.nextRunAt === null || rec.nextRunAt.getTime() > Date.now())) return 'nothing';
    const data = deserializeNow(e.serializer, rec.serializedState, this.ctxInfo);
    if (data instanceof Promise || rec.definitionHash !== e.hash) return this.prepareLater(data);
    this.data = data as TData;
    return 'go';
  }

  private async prepareLater(data: unknown): Promise<'go'> {
    this.data = (data instanceof Promise ? await data : data) as TData;
    if (this.rec.definitionHash !== this.e.hash) await this.checkDefinition();
    return 'go';
  }

  /** Takes the instance (the commit that makes this drive its owner), then runs it. */
  async run(): Promise<Instance<TData, string>> {
    const { rec, intent, e } = this;
    if (rec.status === 'running' && !intent.marked) {
      // A drive died (its lease ran out): a takeover, counted so that an instance that kills
      // its process every time stops being retried. A worker's claim counted it already (the
      // claim made the lease this runner's); a drive of this runner that failed on the way
      // (a lost connection) is not one.
      if (rec.leaseOwner !== e.owner) rec.takeovers += 1;
      if (rec.takeovers > e.maxTakeovers) {
        rec.lastError = {
          name: 'FsmError',
          code: 'FSM_TAKEOVER_LIMIT',
          message: `${rec.machine} instance ${rec.id} was taken over ${rec.takeovers - 1} times after its drive died at "${rec.currentState}"; not run again. Resume it after finding the cause.`,
        };
        return this.stop('failed', 'instance.failed');
      }
    }
    const wait = storedWait(rec.waitingFor);
    if (wait !== null && !(wait.kind === 'message' && wait.received !== undefined)) {
      // The wait ends now: it is due, or an outside call (resume, back, a transition) cancels it.
      rec.waitingFor = null;
      rec.waitMessage = null;
      rec.waitKey = null;
      rec.nextRunAt = null;
      if (wait.kind === 'message' && (intent.action === 'run' || intent.action === 'work')) {
        // Timed out. The data is as the waiting step left it (001 v1.2.1 lost it on timeouts).
        if (wait.onTimeout === null) {
          rec.lastError = {
            name: 'FsmError',
            code: 'FSM_WAIT_TIMEOUT',
            message: `${rec.machine} instance ${rec.id} waited for message "${wait.name}" with key "${wait.key}" after step "${wait.step}" and none came in time; it has no onTimeout state`,
          };
          return this.stop('failed', 'instance.failed', wait.step);
        }
        rec.currentState = wait.onTimeout;
        rec.attempts = 0;
      }
    }
    const children = decodeWait(rec.waitingFor, this.ctxInfo);
    if (children !== null) {
      // Going back or transitioning abandons the wait; anything else continues only once the children allow it.
      if (intent.backward || intent.transition) rec.waitingFor = null;
      else {
        const ended = await this.join(children, false);
        if (ended !== null) return ended;
      }
    }
    if (intent.resume) {
      if (intent.resume.patch) this.data = { ...this.data, ...intent.resume.patch } as TData;
      this.serialized = await serialize(e.serializer, this.data, this.ctxInfo);
      this.pauseWanted = null;
      this.clearPause = true;
      rec.pauseReason = null;
      rec.lastError = null;
      rec.attempts = 0;
      rec.nextRunAt = null;
      this.event('instance.resumed', rec.currentState, rec.currentState, null);
    }
    if (intent.transition) {
      const t = intent.transition.model;
      if (!transitionAllowedFrom(e.graph, t, rec.currentState)) {
        throw new FsmError(
          'FSM_TRANSITION_NOT_ALLOWED',
          `transition "${t.name}" of ${rec.machine} instance ${rec.id} is not allowed from "${rec.currentState}"; it is allowed from: ${t.from.join(', ')}`,
          { context: { machine: rec.machine, id: rec.id, transition: t.name, state: rec.currentState, allowed: t.from } },
        );
      }
      await this.guard(t, intent.transition);
    }
    if (intent.backward && rec.direction === 'forward') {
      this.trail = await this.loadTrail();
      rec.direction = 'backward';
      rec.currentState = undoNext(e.graph, this.trail).state;
      rec.attempts = 0;
    }

    // No handler runs before it rests (a joined parent whose join was its last step): the final
    // commit, conditional on the same version, is the only one.
    const resting = !intent.transition && !intent.backward && rec.waitingFor === null && restingStatus(e.graph, rec.currentState) !== null;
    // Mark it running under this drive's lease: the conditional commit that makes this drive the owner.
    if (intent.marked) {
      this.state.version = rec.version;
      this.state.running = true;
    } else if (!resting) {
      const marked = await this.commit('running');
      if ('data' in marked) return marked;
      if (marked.pauseRequested && !intent.resume) this.pauseWanted = { reason: marked.pauseReason };
    }

    if (intent.transition) {
      const moved = await this.transition(intent.transition);
      if (moved !== null) return moved;
    }
    // Awaited: an async function that returns a promise takes two more turns of the queue to settle.
    return await this.loop();
  }

  private async loop(): Promise<Instance<TData, string>> {
    const { rec, intent, e } = this;
    let ran = 0;
    let stepAtATime = false;
    for (;;) {
      this.learnPauses();
      const backward = rec.direction === 'backward';
      const rest = backward ? (rec.currentState === 'compensated' ? 'compensated' : null) : restingStatus(e.graph, rec.currentState);
      const stopping = intent.worker?.stopping ?? false;
      const mayStop = this.pauseWanted !== null || stopping || stepAtATime || ran >= intent.maxSteps;
      const stop = rest ?? (mayStop ? boundaryStop({ ran, maxSteps: intent.maxSteps, stepAtATime, pauseWanted: this.pauseWanted !== null, workerStopping: stopping }) : null);
      if (stop) {
        if (stop === 'paused') {
          rec.pauseReason = this.pauseWanted?.reason ?? null;
          this.clearPause = true;
          e.localPauses.delete(rec.id);
        }
        if (stop !== 'waiting') rec.nextRunAt = null;
        if (stop === 'done' || stop === 'compensated') rec.lastError = null;
        const type: FsmEventType =
          stop === 'paused' ? 'instance.paused' : stop === 'done' ? 'instance.done' : stop === 'compensated' ? 'instance.compensated' : 'instance.waiting';
        return await this.stop(stop, type);
      }

      const step = e.graph.steps.get(rec.currentState);
      if (step === undefined) throw this.replayMismatch();
      if (backward && e.children.size > 0) {
        const failed = await this.compensateChildren(step.name);
        if (failed !== null) return failed;
      }
      const method = backward ? step.back : step.method;
      if (method === undefined) {
        // A legacy cursor on a step with nothing to undo: pass over it.
        const trail = (this.trail ??= await this.loadTrail());
        const at = trail.lastIndexOf(step.name);
        if (at >= 0) trail.splice(at, 1);
        rec.currentState = undoNext(e.graph, trail).state;
        continue;
      }
      const stepped = this.step(step, method, backward);
      const done = stepped instanceof Promise ? await stepped : stepped;
      if (done === AGAIN) continue;
      if (done !== null) return done;
      ran++;
      if (this.pendingWait !== null) return this.beginWait(this.pendingWait);
      stepAtATime = !backward && !(step.immediate ?? e.immediate ?? e.model.immediate);
      // A pause the step asked for, or one asked meanwhile: no commit before stopping for it.
      this.learnPauses();
      const going =
        (rec.direction === 'backward' ? rec.currentState !== 'compensated' : restingStatus(e.graph, rec.currentState) === null) &&
        !stepAtATime &&
        ran < intent.maxSteps &&
        this.pauseWanted === null;
      if (e.saveAfterStep && going) {
        // The store's promise awaited here: no promise, reaction or closure of `commit`'s own per step.
        const limit = this.historyLimit();
        if (limit !== null) return this.refused(limit);
        const commit = this.staged('running', false);
        let result: CommitResult;
        try {
          result = await e.store.commit(commit);
        } catch (error) {
          if (isFsmError(error) && PERMANENT.has(error.code)) return this.refused(error);
          throw error;
        }
        this.committed(commit, result);
        if (result.pauseRequested) this.pauseWanted = { reason: result.pauseReason };
      }
    }
  }

  private learnPauses(): void {
    if (this.state.pauseRequest) this.pauseWanted = this.state.pauseRequest;
    // Twice a step: no lookup while nobody asked this runner for a pause.
    if (this.e.localPauses.size === 0) return;
    const asked = this.e.localPauses.get(this.rec.id);
    if (asked !== undefined) this.pauseWanted = { reason: asked };
  }

  /**
   * Runs one attempt of a step's (or back) handler and applies the decision: an Instance when
   * the drive ends, AGAIN when the same step runs again now (a retry, or a step that is not
   * done yet), null when the instance moved on. The common attempt (a synchronous handler that
   * completes forward, plain data, the instance moves on) is applied at once, without a promise.
   */
  private step(step: StepModel, method: string, backward: boolean): StepEnd<TData> | Promise<StepEnd<TData>> {
    const { rec, e } = this;
    const ctx = new RunningStepContext<TData>(rec.id, rec.machine, rec.userId, step.name, rec.direction, rec.attempts + 1, this.data);
    if (rec.lastError && 'step' in rec.lastError) ctx.error = rec.lastError as never;
    const stored = backward ? null : storedWait(rec.waitingFor);
    if (stored?.kind === 'message' && stored.received !== undefined) {
      ctx.message = { name: stored.name, key: stored.key, payload: stored.received.payload, messageId: stored.received.messageId };
    }
    if (!backward) {
      ctx.spawnable = e.childNames;
      ctx.visitVersion = this.version;
      ctx.visitIndex = this.visits++;
    }
    this.startedAt = new Date();
    const invoked = this.invoke(step, method, ctx);
    if (invoked instanceof Promise || invoked.kind !== 'completed' || backward || ctx.paused || waitsOrSpawns(step, ctx as RunningStepContext<unknown>)) return this.settle(step, method, ctx, invoked);
    let text: string | Promise<string>;
    try {
      text = serializeNow(e.serializer, ctx.data, this.ctxInfo);
    } catch (error) {
      return this.settle(step, method, ctx, { kind: 'threw', error });
    }
    if (typeof text !== 'string') return this.settle(step, method, ctx, invoked, text);
    const decision = decide(e.graph, step, this.cursor(), invoked, this.decideOptions);
    if (decision.kind !== 'moved') return this.settle(step, method, ctx, invoked, text);
    rec.currentState = decision.cursor.state;
    this.trail?.push(step.name);
    return this.advance(step, method, ctx, decision.event, text);
  }

  /** The rest of `step`, for every attempt that is not the common one. */
  private async settle(
    step: StepModel,
    method: string,
    ctx: RunningStepContext<TData>,
    invoked: Outcome | Promise<Outcome>,
    serialized?: string | Promise<string>,
  ): Promise<StepEnd<TData>> {
    const { rec, e } = this;
    const backward = ctx.direction === 'backward';
    const before = step.name;
    const startedAt = this.startedAt;
    let outcome = await invoked;
    let afterText = this.serialized;
    let spawned: Array<{ record: InstanceRecord; events: FsmEvent[] }> = [];
    if (outcome.kind === 'completed') {
      try {
        // A copy: the common outcome is one shared object.
        if (!backward) outcome = { ...outcome, wait: requestedWait(step, ctx.wait ?? childrenWait(step, ctx as RunningStepContext<unknown>), ctx.data) };
        afterText = await (serialized ?? serializeNow(e.serializer, ctx.data, this.ctxInfo));
        spawned = await this.childRecords(ctx.spawns);
      } catch (error) {
        outcome = { kind: 'threw', error };
      }
    }
    // A failed attempt may have changed the data in place: go on from what was saved.
    if (outcome.kind === 'threw') this.data = (await deserialize(e.serializer, this.serialized, this.ctxInfo)) as TData;
    else if (ctx.rerun && !backward) {
      // "Not yet": the step stays where it is, its data kept, and runs again on resume.
      this.data = ctx.data;
      this.serialized = afterText;
      this.pauseWanted = { reason: ctx.pauseReason };
      return AGAIN;
    } else if (ctx.paused) this.state.pauseRequest ??= { reason: ctx.pauseReason };

    const decision = decide(e.graph, step, this.cursor(), outcome, this.decideOptions);
    const thrown = outcome.kind === 'threw' ? outcome.error : null;
    // The message that ended a wait is read by the step after it until that step moves on (a
    // retry, or a resume after a failure, reads it again).
    if (ctx.message !== null && (decision.kind === 'moved' || decision.kind === 'caught' || decision.kind === 'turn-back')) rec.waitingFor = null;

    switch (decision.kind) {
      case 'retry': {
        this.row(method, step, before, ctx, startedAt, before, thrown, this.serialized);
        rec.attempts = decision.cursor.attempts;
        if (decision.durable) {
          // The retry is a durable timer: whoever claims the instance when it is due runs it.
          rec.nextRunAt = new Date(Date.now() + decision.delayMs);
          return this.stop('waiting', null);
        }
        await e.sleep(decision.delayMs);
        return AGAIN;
      }
      case 'caught': {
        this.row(method, step, before, ctx, startedAt, before, thrown, this.serialized);
        rec.currentState = decision.cursor.state;
        rec.attempts = 0;
        rec.lastError = decision.caught;
        this.event('step.caught', before, rec.currentState, step.name);
        return null;
      }
      case 'turn-back': {
        this.row(method, step, before, ctx, startedAt, before, thrown, this.serialized);
        // Saga: a failed step undoes the ones before it instead of stopping.
        this.trail = await this.loadTrail();
        rec.direction = 'backward';
        rec.currentState = undoNext(e.graph, this.trail).state;
        rec.attempts = 0;
        this.event('step.failed', before, rec.currentState, step.name);
        return null;
      }
      case 'failed': {
        if (decision.keep) {
          this.row(method, step, before, ctx, startedAt, before, null, afterText);
          this.data = ctx.data;
          this.serialized = afterText;
        } else {
          this.row(method, step, before, ctx, startedAt, before, thrown ?? decision.error, this.serialized);
          this.data = (await deserialize(e.serializer, this.serialized, this.ctxInfo)) as TData;
        }
        rec.attempts = decision.keep ? 0 : decision.cursor.attempts;
        rec.lastError = decision.error;
        return this.stop('failed', 'instance.failed', step.name);
      }
      case 'moved': {
        this.data = ctx.data;
        if (spawned.length > 0) {
          // The children are named in the step's history row: that links them, and compensation finds them there.
          ctx.annotate({ [CHILDREN_METADATA]: { visit: ctx.visit, runs: runsOf(ctx.spawns) } });
          this.spawns.push(...spawned);
        }
        if (backward) {
          const trail = (this.trail ??= await this.loadTrail());
          const at = trail.lastIndexOf(step.name);
          if (at >= 0) trail.splice(at, 1);
          rec.currentState = undoNext(e.graph, trail).state;
        } else {
          rec.currentState = decision.cursor.state;
          this.trail?.push(step.name);
          if (decision.wait && decision.wait.kind !== 'children') this.pendingWait = { wait: decision.wait, step: step.name };
        }
        this.advance(step, method, ctx, decision.event, afterText);
        if (decision.wait?.kind === 'children') {
          rec.waitingFor = encodeWait(decision.wait);
          return this.join(decision.wait, true);
        }
        return null;
      }
    }
  }

  /** The attempt's work stands and the instance is at its next state: its data, history row and event. */
  private advance(step: StepModel, method: string, ctx: RunningStepContext<TData>, event: FsmEventType, afterText: string): null {
    const { rec } = this;
    this.data = ctx.data;
    this.row(method, step, step.name, ctx, this.startedAt, rec.currentState, null, afterText);
    this.serialized = afterText;
    rec.attempts = 0;
    if (ctx.direction !== 'backward') rec.lastError = null;
    this.event(event, step.name, rec.currentState, step.name);
    return null;
  }

  private cursor(): Cursor {
    const { rec } = this;
    return { state: rec.currentState, direction: rec.direction, attempts: rec.attempts };
  }

  /** Calls the handler with hooks around it, in a span of its own; never throws what the handler threw. */
  private invoke(step: StepModel, method: string, ctx: RunningStepContext<TData>): Outcome | Promise<Outcome> {
    if (!this.state.traced) return this.call(step, method, ctx);
    const attributes = () => ({
      'fsm.machine': this.rec.machine,
      'fsm.instance_id': this.rec.id,
      'fsm.step': step.name,
      'fsm.handler': method,
      'fsm.attempt': ctx.attempt,
      'fsm.direction': ctx.direction,
    });
    return inSpan(spanName(step.name), attributes, (span) => (span.isRecording() ? this.callRecorded(span, step, method, ctx) : Promise.resolve(this.call(step, method, ctx))));
  }

  private async callRecorded(span: Span, step: StepModel, method: string, ctx: RunningStepContext<TData>): Promise<Outcome> {
    const outcome = await this.call(step, method, ctx);
    span.setAttribute('fsm.outcome', outcome.kind === 'threw' ? 'threw' : (outcome.end?.kind ?? (ctx.paused ? 'paused' : 'completed')));
    if (outcome.kind === 'threw') {
      span.recordException(outcome.error instanceof Error ? outcome.error : String(outcome.error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorInfo(outcome.error).message });
    }
    return outcome;
  }

  /** A synchronous handler without hooks is called without a promise: the common step costs none. */
  private call(step: StepModel, method: string, ctx: RunningStepContext<TData>): Outcome | Promise<Outcome> {
    const { e, state } = this;
    if (e.hooks.before.length > 0 || e.hooks.after.length > 0) return this.callHooked(step, method, ctx);
    if (state.lost) ctx.abort(state.lost);
    state.current = ctx as RunningStepContext<unknown>;
    let returned: unknown;
    try {
      returned = invokeHandler(e.handlers[method] as never, e.handlers, ctx as RunningStepContext<unknown>, step.timeoutMs);
    } catch (error) {
      state.current = null;
      return { kind: 'threw', error };
    }
    if (isThenable(returned)) return this.awaitHandler(returned, ctx);
    state.current = null;
    const goto = ctx.chosen ?? gotoOf(returned);
    return goto === null && ctx.ended === null ? COMPLETED : { kind: 'completed', goto, end: ctx.ended };
  }

  /** The outcome of a handler that returned a promise, once it settles. */
  private async awaitHandler(returned: PromiseLike<unknown>, ctx: RunningStepContext<TData>): Promise<Outcome> {
    try {
      const value = await returned;
      return { kind: 'completed', goto: ctx.chosen ?? gotoOf(value), end: ctx.ended };
    } catch (error) {
      return { kind: 'threw', error };
    } finally {
      this.state.current = null;
    }
  }

  private async callHooked(step: StepModel, method: string, ctx: RunningStepContext<TData>): Promise<Outcome> {
    const { e, state } = this;
    if (state.lost) ctx.abort(state.lost);
    state.current = ctx as RunningStepContext<unknown>;
    try {
      await this.callHooks('before', { kind: 'step', name: step.name, ctx });
      const returned = await invokeHandler(e.handlers[method] as never, e.handlers, ctx as RunningStepContext<unknown>, step.timeoutMs);
      await this.callHooks('after', { kind: 'step', name: step.name, ctx }, true);
      return { kind: 'completed', goto: ctx.chosen ?? gotoOf(returned), end: ctx.ended };
    } catch (error) {
      await this.callHooks('after', { kind: 'step', name: step.name, ctx, error }, true);
      return { kind: 'threw', error };
    } finally {
      state.current = null;
    }
  }

  /** Records an attempt in history, when history is kept. */
  private row(
    handler: string,
    step: StepModel,
    before: string,
    ctx: RunningStepContext<TData>,
    startedAt: Date,
    stateAfter: string,
    error: unknown,
    dataAfter: string,
  ): void {
    if (!this.e.keepHistory) return;
    this.history.push(
      historyRow(this.rec, {
        handler,
        step: step.name,
        stateBefore: before,
        stateAfter,
        dataBefore: this.serialized,
        dataAfter,
        metadata: ctx.metadata,
        error,
        attempt: ctx.attempt,
        startedAt,
      }),
    );
  }

  private event(type: FsmEventType, from: string, to: string, step: string | null, extra?: { transition?: string; actor?: string | null }): void {
    if (this.rec.kafkaEventTopic === null) return;
    pushEvent(this.events, this.rec, { type, from, to, step, data: this.data, ...extra });
  }

  /**
   * Ends the drive with the instance waiting, in the commit that holds the step's work: for a
   * timer, due after its delay; for a message, looked up by name and key, due at its timeout.
   */
  private beginWait({ wait, step }: { wait: StoredTimeWait; step: string }): Promise<Instance<TData, string>> {
    const { rec } = this;
    this.pendingWait = null;
    const now = Date.now();
    if (wait.kind === 'timer') {
      rec.waitingFor = JSON.stringify({ kind: 'timer', step });
      rec.nextRunAt = new Date(now + wait.delayMs);
    } else {
      rec.waitingFor = JSON.stringify({ kind: 'message', step, name: wait.name, key: wait.key, onTimeout: wait.onTimeout });
      rec.waitMessage = wait.name;
      rec.waitKey = wait.key;
      rec.nextRunAt = wait.timeoutMs === null ? null : new Date(now + wait.timeoutMs);
      this.messageWait = { message: wait.name, key: wait.key };
    }
    return this.stop('waiting', 'instance.waiting', step);
  }

  /** Ends the drive: the instance stops in `status`, with its event. */
  private async stop(status: InstanceStatus, type: FsmEventType | null, step: string | null = null): Promise<Instance<TData, string>> {
    const { rec } = this;
    rec.status = status;
    if (type !== null) this.event(type, rec.currentState, rec.currentState, step);
    const saved = await this.commit(status, true);
    return 'data' in saved ? saved : toInstance(rec, this.data);
  }

  /** Commits the record as it is now; `last`: the drive ends with it (the store may release the locks too). */
  private async save(status: InstanceStatus, last = false): Promise<CommitResult> {
    const commit = this.staged(status, last);
    const result = await this.e.store.commit(commit);
    this.committed(commit, result);
    return result;
  }

  /** `save`, except that a commit the store refuses for good ends the instance instead (see `refused`). */
  private commit(status: InstanceStatus, last = false): Promise<CommitResult | Instance<TData, string>> {
    const { e } = this;
    const limit = this.historyLimit();
    if (limit !== null) return this.refused(limit);
    // The store's promise and one reaction: no async frame of its own per commit.
    const commit = this.staged(status, last);
    let pending: Promise<CommitResult>;
    try {
      pending = e.store.commit(commit);
    } catch (error) {
      pending = Promise.reject(error as Error);
    }
    return pending.then(
      (result) => {
        this.committed(commit, result);
        return result;
      },
      (error: unknown) => {
        if (isFsmError(error) && PERMANENT.has(error.code)) return this.refused(error);
        throw error;
      },
    );
  }

  /** FSM_HISTORY_LIMIT when the instance has more history rows than the runner allows; null otherwise. */
  private historyLimit(): FsmError | null {
    const { rec, e } = this;
    if (rec.historySeq <= e.maxHistory) return null;
    return new FsmError('FSM_HISTORY_LIMIT', `${rec.machine} instance ${rec.id} reached its limit of ${e.maxHistory} history rows`, {
      context: { machine: rec.machine, id: rec.id, limit: e.maxHistory },
    });
  }

  /** The record as it is now, ready to commit in `status`. */
  private staged(status: InstanceStatus, last: boolean): Commit {
    const { rec, e } = this;
    rec.status = status;
    rec.updatedAt = new Date();
    rec.resumeFromStep = e.graph.steps.get(rec.currentState)?.order ?? null;
    // A running instance is leased to this process; a worker takes over if the lease runs out.
    rec.leaseOwner = status === 'running' ? e.owner : null;
    rec.leaseExpiresAt = status === 'running' ? new Date(rec.updatedAt.getTime() + e.instanceLeaseMs) : null;
    rec.serializedState = this.serialized;
    rec.version = this.version + 1;
    if (FINISHED.has(status)) this.clearPause = true;
    // Waiting on nothing stored (a step at a time, a stopping worker): due now, for next(id) or any worker.
    if (status === 'waiting' && rec.waitingFor === null && rec.nextRunAt === null) rec.nextRunAt = rec.updatedAt;
    const messageWait = status === 'waiting' ? this.messageWait : null;
    this.messageWait = null;
    const commit: Commit = {
      record: rec,
      previous: this.stored,
      expectedVersion: this.version,
      history: this.history,
      events: this.events,
      clearPauseRequest: this.clearPause,
      fence: this.fence,
      releaseLocks: last && this.fence.length > 0,
    };
    if (messageWait) commit.wait = { ...messageWait, take: (r: InstanceRecord, m: InboxMessage) => receivedRecord(r, m, null) };
    if (this.spawns.length > 0) commit.spawn = this.spawns;
    if (this.joinCheck !== null && status === 'waiting') commit.joinCheck = this.joinCheck;
    if (rec.parentId !== null && rec.parentMachine !== null && ENDED.has(status)) {
      const next = successorOf(rec.id);
      commit.childEnded = { parentMachine: rec.parentMachine, parentId: rec.parentId, next, wake: status !== 'done' };
      const siblings = siblingsPrefix(rec.id);
      if (siblings !== null) commit.childEnded.siblings = siblings;
      // A worker drives the sibling its child started next, in the same slot: no claim, no commit to mark it running.
      if (next !== null && this.intent.worker) {
        commit.childEnded.lease = { owner: e.owner, leaseMs: e.instanceLeaseMs };
        this.intent.sibling = next;
      }
    }
    return commit;
  }

  /** What a commit the store accepted leaves: the record as stored, nothing pending. */
  private committed(commit: Commit, result: CommitResult): void {
    const { rec, state, e } = this;
    if (commit.releaseLocks && result.locksReleased) state.over = true;
    if (result.started !== undefined) this.intent.siblingRecord = result.started;
    if (commit.spawn !== undefined) for (const machine of new Set(commit.spawn.map((s) => s.record.machine))) runnableCommitted(e.store, machine);
    // A child that started no sibling may have woken its parent.
    if (commit.childEnded !== undefined && result.started === undefined) runnableCommitted(e.store, commit.childEnded.parentMachine);
    this.spawns = [];
    this.joinCheck = null;
    if (result.received) {
      // The message was in the inbox already: the store wrote the instance ready to go on.
      e.received.add(rec.id);
      rec.status = 'ready';
      rec.waitMessage = null;
      rec.waitKey = null;
      rec.nextRunAt = null;
    }
    this.stored = { ...rec };
    this.version = rec.version;
    state.version = this.version;
    state.running = rec.status === 'running';
    // New arrays only when the store was handed some: it may keep them (a sink publishes later).
    if (this.history.length > 0) this.history = [];
    if (this.events.length > 0) this.events = [];
    this.clearPause = false;
  }

  /**
   * A commit the store refuses for good (data or history too large, unserializable): the
   * instance ends `failed` with the reason, at its last stored data, rather than running
   * the step again forever.
   */
  private async refused(error: FsmError): Promise<Instance<TData, string>> {
    const { rec } = this;
    const reason = errorInfo(error);
    delete reason.stack;
    Object.assign(rec, this.stored);
    this.history = [];
    this.events = [];
    this.spawns = [];
    this.joinCheck = null;
    this.serialized = this.stored.serializedState;
    rec.lastError = { ...reason, name: 'CommitRefused', message: `the step's results could not be stored: ${error.message}` };
    this.data = (await deserialize(this.e.serializer, this.serialized, this.ctxInfo)) as TData;
    rec.status = 'failed';
    this.event('instance.failed', rec.currentState, rec.currentState, null);
    await this.save('failed', true);
    return toInstance(rec, this.data);
  }

  private async loadTrail(): Promise<string[]> {
    const { rec, e } = this;
    if (!e.keepHistory) return trailByOrder(e.graph, rec.currentState);
    const rows = await e.store.history(rec.machine, rec.id, { withData: false });
    return trailFromHistory([...rows, ...this.history]);
  }

  // ---- children ------------------------------------------------------------------------------

  private async childRecords(requests: SpawnRequest[]): Promise<Array<{ record: InstanceRecord; events: FsmEvent[] }>> {
    const out: Array<{ record: InstanceRecord; events: FsmEvent[] }> = [];
    for (const request of requests) out.push(await this.e.children.get(request.machine)!.record(request, this.ctxInfo));
    return out;
  }

  /**
   * Where the wait for `wait`'s children stands, from their statuses: all ended, the results go
   * into the data and the drive goes on (null); still waiting, the instance waits (the commit
   * counts them again, see `Commit.joinCheck`); a child failed under `fail`, the others are
   * paused and the instance fails (or turns back, with `onError: 'compensate'`).
   */
  private async join(wait: ChildrenWait, first: boolean): Promise<Instance<TData, string> | null> {
    const { rec, e } = this;
    const children = childrenOf(rec.id, wait.visit, wait.runs);
    const machines = [...new Set(wait.runs.map((r) => r.machine))];
    const statuses = new Map<string, InstanceStatus>();
    let ended = 0;
    // Children this commit stores are not stored yet (or, run again after a crash, were stored
    // by the same commit before): none to read; the commit's join check counts those that ended.
    const stored = first && this.spawns.length > 0 ? [] : machines;
    // A map's parent is woken once its children all ended: read them whole at once, statuses
    // and results, rather than their statuses first and then again for the results.
    const whole = !first && wait.into !== null && wait.runs.every((r) => r.stride > 0) ? new Map<string, InstanceRecord>() : null;
    for (const machine of stored) {
      let rows: Array<{ id: string; status: InstanceStatus }>;
      if (whole !== null) {
        const records = await e.store.list(machine, { parentId: rec.id });
        for (const r of records) whole.set(r.id, r);
        rows = records;
      } else rows = await e.store.children!(machine, rec.id);
      for (const child of rows) {
        statuses.set(child.id, child.status);
        if (ENDED.has(child.status)) ended++;
      }
    }
    const state = joinState(children, wait.onChildError, statuses);
    if (state.kind === 'waiting') {
      rec.nextRunAt = null;
      this.joinCheck = { machines, ended };
      return this.stop('waiting', first ? 'instance.waiting' : null, first ? wait.step : null);
    }
    rec.waitingFor = null;
    if (state.kind === 'failed') {
      const { child } = state;
      const reason = `a sibling failed: ${child.machine} instance ${child.id}`;
      for (const other of state.unfinished) await e.store.requestPause(other.machine, other.id, reason);
      const error = new FsmError(
        'FSM_CHILD_FAILED',
        `child ${child.machine} instance ${child.id}, spawned by step "${wait.step}" of ${rec.machine} instance ${rec.id}, ended ${child.status}; ${state.unfinished.length} unfinished sibling(s) were asked to pause`,
        { context: { machine: rec.machine, id: rec.id, step: wait.step, child: child.id, childMachine: child.machine, status: child.status } },
      );
      const info = errorInfo(error);
      delete info.stack;
      rec.lastError = info;
      if (e.model.onError === 'compensate') {
        this.trail = await this.loadTrail();
        rec.direction = 'backward';
        rec.currentState = undoNext(e.graph, this.trail).state;
        rec.attempts = 0;
        this.event('step.failed', rec.currentState, rec.currentState, wait.step);
        return null;
      }
      return this.stop('failed', 'instance.failed', wait.step);
    }
    if (wait.into !== null) {
      const results = await this.results(wait, children, machines, whole);
      this.data = { ...this.data, [wait.into]: results } as TData;
      this.serialized = await serialize(e.serializer, this.data, this.ctxInfo);
    }
    return null;
  }

  /** The children's final data (or `field` of it), in spawn order; with `collect`, with each one's status or error. */
  private async results(
    wait: ChildrenWait,
    children: Array<{ machine: string; id: string }>,
    machines: string[],
    read: Map<string, InstanceRecord> | null,
  ): Promise<unknown[]> {
    const { rec, e } = this;
    let records = read;
    if (records === null) {
      records = new Map<string, InstanceRecord>();
      for (const machine of machines) for (const r of await e.store.list(machine, { parentId: rec.id })) records.set(r.id, r);
    }
    const out: unknown[] = [];
    for (const c of children) {
      const r = records.get(c.id)!;
      const data = await deserialize(e.children.get(c.machine)!.serializer, r.serializedState, { machine: c.machine, id: c.id });
      const value = wait.field === null ? data : (data as Record<string, unknown> | null)?.[wait.field];
      if (wait.onChildError === 'fail') out.push(value);
      else if (r.status === 'done') out.push({ id: c.id, status: r.status, data: value });
      else out.push({ id: c.id, status: r.status, error: r.lastError });
    }
    return out;
  }

  /**
   * Before undoing `step`, undoes the children its last completed visit spawned that finished
   * (`done`), newest first; an Instance when one of them could not be undone (the parent fails).
   */
  private async compensateChildren(step: string): Promise<Instance<TData, string> | null> {
    const { rec, e } = this;
    if (!e.keepHistory) return null;
    const rows = [...(await e.store.history(rec.machine, rec.id, { withData: false })), ...this.history];
    const row = rows.reverse().find((h) => h.step === step && h.direction === 'forward' && h.error === null && h.transition === null);
    const named = row?.metadata[CHILDREN_METADATA] as { visit?: unknown; runs?: unknown } | undefined;
    if (typeof named?.visit !== 'string' || !Array.isArray(named.runs)) return null;
    for (const c of childrenOf(rec.id, named.visit, named.runs as SpawnRun[]).reverse()) {
      const child = e.children.get(c.machine);
      const stored = await e.store.get(c.machine, c.id);
      if (child === undefined || stored?.status !== 'done') continue;
      const undone = await child.compensate(c.id);
      if (undone.status === 'compensated') continue;
      rec.lastError = {
        name: 'FsmError',
        code: 'FSM_CHILD_FAILED',
        message: `compensating child ${c.machine} instance ${c.id} of step "${step}" ended ${undone.status}${undone.lastError ? `: ${undone.lastError.message}` : ''}; resume or compensate it, then this instance`,
      };
      return this.stop('failed', 'instance.failed', step);
    }
    return null;
  }

  // ---- transitions ---------------------------------------------------------------------------

  private async guard(t: TransitionModel, call: NonNullable<DriveIntent['transition']>): Promise<void> {
    if (t.guard === undefined) return;
    const { rec, e } = this;
    const ctx = new RunningTransitionContext<TData>(rec.id, rec.machine, rec.userId, t.name, rec.currentState, t.to, call.input, call.actor, this.data);
    const verdict = await e.handlers[t.guard]!.call(e.handlers, ctx);
    if (verdict === false || typeof verdict === 'string') {
      const reason = typeof verdict === 'string' ? verdict : null;
      throw new FsmError(
        'FSM_GUARD_REJECTED',
        `transition "${t.name}" of ${rec.machine} instance ${rec.id} was refused by its guard${reason ? `: ${reason}` : ''}`,
        { context: { machine: rec.machine, id: rec.id, transition: t.name, state: rec.currentState, reason } },
      );
    }
  }

  /** Runs the transition's method and moves the instance; on an error, puts it back as it was and rethrows. */
  private async transition(call: NonNullable<DriveIntent['transition']>): Promise<Instance<TData, string> | null> {
    const { rec, e } = this;
    const t = call.model;
    const from = rec.currentState;
    const ctx = new RunningTransitionContext<TData>(rec.id, rec.machine, rec.userId, t.name, from, t.to, call.input, call.actor, this.data);
    const startedAt = new Date();
    let error: unknown;
    let result: unknown;
    let after = this.serialized;
    const attributes = () => ({ 'fsm.machine': rec.machine, 'fsm.instance_id': rec.id, 'fsm.transition': t.name, 'fsm.from': from, 'fsm.to': t.to });
    await inSpan(`fsm.transition ${t.name}`, attributes, async (span) => {
      try {
        await this.callHooks('before', { kind: 'transition', name: t.name, ctx });
        result = await e.handlers[t.method]!.call(e.handlers, ctx);
        after = await serialize(e.serializer, ctx.data, this.ctxInfo);
        await this.callHooks('after', { kind: 'transition', name: t.name, ctx, result }, true);
      } catch (thrown) {
        error = thrown;
        span.setStatus({ code: SpanStatusCode.ERROR, message: errorInfo(thrown).message });
        await this.callHooks('after', { kind: 'transition', name: t.name, ctx, error }, true);
      }
    });
    const failed = error !== undefined;
    this.history.push(
      historyRow(rec, {
        handler: t.method,
        step: from,
        stateBefore: from,
        stateAfter: failed ? from : t.to,
        dataBefore: this.serialized,
        dataAfter: failed ? this.serialized : after,
        metadata: ctx.metadata,
        error: failed ? error : null,
        attempt: 1,
        startedAt,
        direction: 'forward',
        transition: t.name,
        actor: call.actor,
        result: result === undefined || failed ? null : JSON.stringify(toJsonSafe(result) ?? null),
      }),
    );
    if (failed) {
      // Nothing moves: the instance goes back to where it was, the failed attempt in history.
      this.data = (await deserialize(e.serializer, this.serialized, this.ctxInfo)) as TData;
      await this.commit(this.startStatus === 'running' ? 'waiting' : this.startStatus, true);
      throw error;
    }
    this.data = ctx.data;
    this.serialized = after;
    rec.currentState = t.to;
    rec.direction = 'forward';
    rec.attempts = 0;
    rec.lastError = null;
    this.event('transition.completed', from, t.to, null, { transition: t.name, actor: call.actor });
    return null;
  }

  /** Runs hooks in order; `after` hooks only log what they throw (the handler's work stands). */
  private async callHooks(which: 'before' | 'after', event: HookEvent<TData>, logOnly = false): Promise<void> {
    for (const hook of this.e.hooks[which]) {
      try {
        await hook(event);
      } catch (error) {
        if (!logOnly) throw error;
        this.e.logger.error(`an ${which} hook threw`, { machine: this.e.model.name, name: event.name, error });
      }
    }
  }

  // ---- checks --------------------------------------------------------------------------------

  private async checkDefinition(): Promise<void> {
    const { rec, e } = this;
    if (rec.definitionHash === e.hash) return;
    const problem = incompatibility(e.graph, rec.currentState, rec.direction, await this.loadTrail());
    if (problem === null) {
      rec.definitionHash = e.hash;
      rec.definitionVersion = e.model.version;
      return;
    }
    const { missing } = problem;
    throw new FsmError(
      'FSM_DEFINITION_CHANGED',
      `${rec.machine} instance ${rec.id} was started on definition ${rec.definitionHash} (version ${rec.definitionVersion}), ` +
        `and the current definition ${e.hash} (version ${e.model.version}) ` +
        (missing.length > 0 ? `no longer has step(s) ${missing.map((m) => `"${m}"`).join(', ')}` : 'reorders steps it has completed') +
        '. Ways forward: finish it with a deployment of the old definition, move it to a step of the new one, or compensate it with the old code.',
      { context: { machine: rec.machine, id: rec.id, stored: rec.definitionHash, current: e.hash, missing } },
    );
  }

  private replayMismatch(): FsmError {
    const { rec, e } = this;
    return new FsmError(
      'FSM_DEFINITION_CHANGED',
      `${rec.machine} instance ${rec.id} is at step "${rec.currentState}", which machine "${e.model.name}" (${e.hash}) does not have; known steps: ${e.model.steps.map((s) => s.name).join(', ')}`,
      { context: { machine: rec.machine, id: rec.id, state: rec.currentState } },
    );
  }
}

const spanNames = new Map<string, string>();
/** `fsm.step <name>`, made once per step name. */
function spanName(step: string): string {
  let name = spanNames.get(step);
  if (name === undefined) spanNames.set(step, (name = `fsm.step ${step}`));
  return name;
}

/** The join the handler asked for with `ctx.join`, else the one its `@Step` declares; null without children. */
function childrenWait(step: StepModel, ctx: RunningStepContext<unknown>): ChildrenWait | null {
  const join = ctx.joinRequest ?? step.join ?? null;
  if (join === null || ctx.spawns.length === 0) return null;
  return {
    kind: 'children',
    step: step.name,
    visit: ctx.visit,
    runs: runsOf(ctx.spawns),
    into: join.into ?? null,
    field: join.field ?? null,
    onChildError: join.onChildError ?? 'fail',
  };
}

/** A step that waits or spawns takes the full path (`settle`), where waits and children are handled. */
function waitsOrSpawns(step: StepModel, ctx: RunningStepContext<unknown>): boolean {
  return ctx.wait !== null || ctx.spawns.length > 0 || ctx.joinRequest !== null || ctx.message !== null || step.wait !== undefined;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** The state in a handler's return value `{ goto }` (what `ctx.goto` returns), if any. */
function gotoOf(value: unknown): string | null {
  if (typeof value === 'object' && value !== null && typeof (value as { goto?: unknown }).goto === 'string') return (value as { goto: string }).goto;
  return null;
}
