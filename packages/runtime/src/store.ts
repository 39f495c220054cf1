import type { LockModel } from '@fsmkit/decorators';
import type { InboxMessage } from './engine/waits.js';
import type { Locker } from './locker.js';
import type { Direction, FsmEvent, HistoryRecord, InstanceRecord, InstanceStatus } from './records.js';

/** What one commit writes, atomically: the instance, its new history rows and its events. */
export interface Commit {
  record: InstanceRecord;
  /** The version the writer read; the commit fails with FSM_STALE_VERSION if the stored one differs. */
  expectedVersion: number;
  history: HistoryRecord[];
  events: FsmEvent[];
  /**
   * The record as stored at `expectedVersion`, as the writer read or last wrote it. A store may
   * then write only the fields that differ from it; without it, every field is written.
   */
  previous?: InstanceRecord;
  /**
   * The store keeps `pauseRequested` as it is (another process may have set it) unless this is
   * true, in which case it clears it.
   */
  clearPauseRequest?: boolean;
  /** Lease tokens the writer holds; a store that supports fencing refuses a stale one. */
  fence?: Array<{ key: string; token: number }>;
  /**
   * The writer is done with the locks in `fence` after this commit: a store that keeps the
   * locks may end their leases in the same transaction, and says so with `locksReleased`.
   */
  releaseLocks?: boolean;
  /**
   * The commit begins a wait for a message: in the same transaction, serialized with `deliver`
   * on the same message and key, the store looks in its inbox; when a message waits there, it
   * takes it and writes `take(record, message)` instead of `record` (see `received`).
   */
  wait?: MessageTake;
  /** Child instances stored in the same transaction, with their first events; one whose id exists already is left as it is. */
  spawn?: Array<{ record: InstanceRecord; events: FsmEvent[] }>;
  /**
   * The instance, a child, ended: in the same transaction the store starts the queued sibling
   * `next` (status `waiting` with `waitingFor` QUEUED_CHILD becomes `ready`) and, unless it
   * started one (the sibling's own end will), makes the parent due when it waits for children
   * and is not due yet. `wake`: make it due in any case (a child that failed). With `lease`,
   * the sibling starts `running`, leased to that owner (who drives it next, as `start` does).
   * `siblings` (a map child): the prefix of the ids of every child of its spawn visit; a store
   * may then make the parent due only when none of them is left that has not ended, as long as
   * the last such end sees every earlier one (the MySQL store locks the parent's row first), so
   * that a map's parent wakes once, not at each chain's end.
   */
  childEnded?: {
    parentMachine: string;
    parentId: string;
    next: string | null;
    wake: boolean;
    lease?: { owner: string; leaseMs: number };
    siblings?: string;
  };
  /**
   * The instance starts waiting for its children, having seen `ended` of its children in
   * `machines` ended: after writing it, the store counts them again and makes it due now when
   * more ended meanwhile, so no child's end is missed.
   */
  joinCheck?: { machines: string[]; ended: number };
}

/** How a store hands a message to a waiting instance; `take` returns null when the record does not wait for it after all. */
export interface MessageTake {
  message: string;
  key: string;
  take(record: InstanceRecord, message: InboxMessage): InstanceRecord | null;
}

/** A message for `Store.deliver`. */
export interface Delivery extends MessageTake {
  /** JSON text of the payload. */
  payload: string;
  /** The sender's id for it: a second delivery with the same id has no effect. */
  messageId: string | null;
  /** How long it stays in the inbox when nobody waits for it now. */
  inboxTtlMs: number;
}

export type DeliveryOutcome =
  /** The waiting instance took it; `record` is what the store wrote. */
  | { kind: 'taken'; record: InstanceRecord }
  /** Nobody waited: kept in the inbox for a wait that begins before it expires. */
  | { kind: 'inboxed' }
  /** A message with this id was delivered before (to `instanceId`, or to the inbox). */
  | { kind: 'duplicate'; instanceId: string | null };

export interface CommitResult {
  /** The stored flag after the commit, so a runner learns of `pause(id)` from elsewhere. */
  pauseRequested: boolean;
  pauseReason: string | null;
  /** True when the commit also ended the leases in `fence` (see `releaseLocks`): no release is needed. */
  locksReleased?: boolean;
  /** The commit began a message wait (`wait`) and took a message from the inbox at once. */
  received?: boolean;
  /** The sibling `childEnded` started leased to the writer, as stored (optional: the writer reads it otherwise). */
  started?: InstanceRecord;
}

export interface ListFilter {
  userId?: string;
  /** Only children of this instance (any parent machine). */
  parentId?: string;
  status?: InstanceStatus | InstanceStatus[];
  currentState?: string | string[];
  createdAfter?: Date;
  createdBefore?: Date;
  updatedAfter?: Date;
  updatedBefore?: Date;
  /** Default `id` (time of creation), ascending. */
  orderBy?: 'id' | 'createdAt' | 'updatedAt';
  order?: 'asc' | 'desc';
  limit?: number;
  offset?: number;
}

/**
 * Where instances live. The memory store is the embedded default; @fsmkit/mysql provides the
 * production one. Every method is scoped to one machine type, since stores keep a table each.
 */
export interface Store {
  /** Stores a new instance with its first events (and, restoring an exported one, its history), atomically. */
  insert(record: InstanceRecord, events: FsmEvent[], history?: HistoryRecord[]): Promise<void>;
  commit(commit: Commit): Promise<CommitResult>;
  get(machine: string, id: string): Promise<InstanceRecord | undefined>;
  list(machine: string, filter?: ListFilter): Promise<InstanceRecord[]>;
  /** History rows of one instance, oldest first unless `order: 'desc'`. */
  history(machine: string, id: string, options?: HistoryOptions): Promise<HistoryRecord[]>;
  /** Sets the pause flag without touching the version; false when no such instance. */
  requestPause(machine: string, id: string, reason: string | null): Promise<boolean>;
  /** Current state of many instances in one call; unknown ids are absent from the map. */
  currentStates(machine: string, ids: string[]): Promise<Map<string, string>>;
  /**
   * Claims up to `limit` instances a worker may run now (ready; waiting and due; running with
   * an expired lease), leasing them to `owner` for `leaseMs`. Concurrent callers never get
   * the same instance. Order: `oldest` of them due the longest, then the rest by `claimOrder`
   * (highest priority first, then the earliest due). Optional: stores without it cannot feed
   * workers.
   */
  claim?(machine: string, options: ClaimOptions): Promise<string[]>;
  /**
   * Extends the lease of a running instance while `owner` still holds it at `version`, so that
   * no worker takes over a step that is still running; false when the lease is not the
   * caller's any more (the instance moved on, or another worker claimed it). Optional: without
   * it, a step that outlasts the lease may be run again by a worker (it still commits once).
   */
  renewLease?(machine: string, id: string, lease: LeaseRenewal): Promise<boolean>;
  /**
   * Gives back claimed instances a worker will not drive after all (it is stopping), so other
   * workers need not wait for the claim to expire. Only the owner's claims are cleared.
   */
  unclaim?(machine: string, ids: string[], owner: string): Promise<void>;
  /**
   * The locker whose leases this store's commits check (a store that keeps locks in its own
   * tables). A runner on this store uses it unless given another. Optional: the in-process
   * locker is the default otherwise.
   */
  locker?(): Locker;
  /**
   * Deletes finished instances (done, failed, compensated by default) last updated before
   * `olderThan`, with their history, in batches of `batchSize`. Optional.
   */
  prune?(machine: string, options: PruneOptions): Promise<PruneResult>;
  close?(): Promise<void>;
  /**
   * Hands a message to the instance waiting for it (`waitMessage` and `waitKey`, looked up by
   * index), in one transaction that also cancels its timer; or, nobody waiting, keeps it in the
   * inbox. Serialized with commits that begin a wait for the same message and key, so a message
   * is never lost between the two. Optional: stores without it cannot take messages.
   */
  deliver?(machine: string, delivery: Delivery): Promise<DeliveryOutcome>;
  /**
   * Every child of `parentId` stored in `machine`'s table, with its status (an indexed lookup).
   * Optional: without it (and the `Commit` fields `spawn`, `childEnded`, `joinCheck`), a
   * store cannot keep child machines.
   */
  children?(machine: string, parentId: string): Promise<Array<{ id: string; status: InstanceStatus }>>;
  /**
   * Counts by status and by state, and step durations (average, p50, p95, p99) per step, over a
   * time range, computed where the rows are (in SQL for a database store). Optional.
   */
  stats?(machine: string, options?: StatsOptions): Promise<MachineStats>;
}

export interface StatsOptions {
  /** Instances created, and history rows started, at or after this time. */
  from?: Date;
  /** ... and before this time. */
  to?: Date;
  /** Width of the timeline's buckets of finished instances, in seconds. Default 3600. */
  bucketSeconds?: number;
  /** Upper bounds (seconds) of a cumulative step duration histogram per step; absent: none. */
  buckets?: number[];
  /** False: p50/p95/p99 are not computed (they come back 0). */
  percentiles?: boolean;
}

export interface StepStats {
  step: string;
  direction: Direction;
  /** Executed handlers (every attempt counts). */
  count: number;
  /** Of them, the ones that ended with an error. */
  failures: number;
  avgMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** Sum of durations, for rates. */
  sumMs: number;
  /** With `buckets`: how many took at most each bound, in the order of `buckets`. */
  histogram?: number[];
}

export interface StatsBucket {
  /** Start of the bucket. */
  at: Date;
  done: number;
  failed: number;
  compensated: number;
}

export interface MachineStats {
  machine: string;
  total: number;
  byStatus: Partial<Record<InstanceStatus, number>>;
  byState: Record<string, number>;
  /** By step and direction, in step name order. */
  steps: StepStats[];
  /** Instances that ended (done, failed, compensated), by the bucket of their last update. */
  timeline: StatsBucket[];
}

export interface HistoryOptions {
  /** At most this many rows. */
  limit?: number;
  /** Only rows with a larger `seq` (paging). */
  afterSeq?: number;
  /** Only rows started at or after this time. */
  since?: Date;
  /** By `seq`; default ascending. */
  order?: 'asc' | 'desc';
  /** False: `dataBefore` and `dataAfter` come back as empty strings (cheaper). Default true. */
  withData?: boolean;
}

export interface PruneOptions {
  olderThan: Date;
  statuses?: InstanceStatus[];
  /** Instances per batch (each batch its own short transaction). Default 500. */
  batchSize?: number;
}

export interface PruneResult {
  instances: number;
  historyRows: number;
  /**
   * Inbox messages of the machine deleted with them: expired ones nobody took, and those taken
   * (or kept for their message id) before `olderThan`. A message id is known as a duplicate
   * until then.
   */
  inboxRows: number;
}

export interface LeaseRenewal {
  owner: string;
  /** The version the owner last committed. */
  version: number;
  /** The new lease, from now. */
  leaseMs: number;
}

export interface ClaimOptions {
  owner: string;
  limit: number;
  leaseMs: number;
  /**
   * The machine's lock. A store that keeps the locks may pass over instances whose lock is
   * held right now, and claim one instance per lock key, so that workers do not fill their
   * slots with instances that would only wait.
   */
  lock?: LockModel;
  /**
   * Of `limit`, how many go to the instances due the longest, whatever their priority (the
   * aging lane that keeps low priorities from starving); the rest go by priority. Default 0.
   */
  oldest?: number;
}
