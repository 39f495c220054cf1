import { FsmError } from './errors.js';
import type { EventSink } from './event-sink.js';
import { noopLogger, safeLogger, type Logger } from './logger.js';
import type { FsmEvent, HistoryRecord, InstanceRecord } from './records.js';
import { computeStats } from './memory-stats.js';
import type {
  ClaimOptions,
  Commit,
  CommitResult,
  Delivery,
  DeliveryOutcome,
  MessageTake,
  HistoryOptions,
  LeaseRenewal,
  ListFilter,
  MachineStats,
  PruneOptions,
  PruneResult,
  StatsOptions,
  Store,
} from './store.js';
import { checkHistoryOptions, checkPruneOptions } from './store-options.js';
import { ENDED } from './engine/children.js';
import { CHILDREN_WAIT, QUEUED_CHILD } from './engine/waits.js';

export interface MemoryStoreOptions {
  /** Receives events after each commit, in order, best effort (failures are logged, not thrown). */
  sink?: EventSink;
  logger?: Logger;
  /** How many of the latest events `outbox` keeps; older ones are dropped from it first. Default 10 000. */
  outboxLimit?: number;
}

/**
 * The embedded default store: everything in process memory, with the same contract as the
 * MySQL store (copies in and out, optimistic versions, atomic commits). Records keep data in
 * serialized form, so what works here survives a real store's round trip too.
 */
export class MemoryStore implements Store {
  private readonly instances = new Map<string, Map<string, InstanceRecord>>();
  private readonly historyRows = new Map<string, StoredRow[]>();
  /**
   * The latest committed events, in commit order, at most `outboxLimit` of them: a window for
   * inspection and tests. The sink, not this array, is the delivery path.
   */
  readonly outbox: FsmEvent[] = [];
  private readonly outboxLimit: number;
  private readonly sink: EventSink | undefined;
  private readonly logger: Logger;
  private publishing: Promise<void> = Promise.resolve();
  /** Waiting instances by machine, then by message and key: the lookup `deliver` makes. */
  private readonly waits = new Map<string, Map<string, Set<string>>>();
  /** Messages delivered while nobody waited, and those delivered with an id (to refuse it twice). */
  private readonly inbox: InboxRow[] = [];
  private readonly messageIds = new Map<string, InboxRow>();

  constructor(options: MemoryStoreOptions = {}) {
    this.sink = options.sink;
    this.logger = safeLogger(options.logger ?? noopLogger);
    this.outboxLimit = options.outboxLimit ?? 10_000;
    if (!Number.isInteger(this.outboxLimit) || this.outboxLimit < 0) {
      throw new RangeError(`MemoryStore outboxLimit must be an integer of 0 or more, got ${this.outboxLimit}`);
    }
  }

  insert(record: InstanceRecord, events: FsmEvent[], history: HistoryRecord[] = []): Promise<void> {
    try {
      this.insertNow(record, events, history);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  private insertNow(record: InstanceRecord, events: FsmEvent[], history: HistoryRecord[]): void {
    const table = this.table(record.machine);
    if (table.has(record.id)) {
      throw new FsmError('FSM_STORE', `instance ${record.id} of ${record.machine} already exists`, {
        context: { machine: record.machine, id: record.id },
      });
    }
    table.set(record.id, copy(record));
    this.indexWait(undefined, record);
    if (history.length > 0) this.historyRows.set(record.id, history.map(toStored));
    this.emit(events);
  }

  commit(c: Commit): Promise<CommitResult> {
    // Done at once: a settled promise, without an async function's frame per commit.
    try {
      return Promise.resolve(this.commitNow(c));
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  private commitNow(c: Commit): CommitResult {
    const { record } = c;
    const table = this.table(record.machine);
    const stored = table.get(record.id);
    if (!stored) {
      throw new FsmError('FSM_NOT_FOUND', `no ${record.machine} instance ${record.id}`, {
        context: { machine: record.machine, id: record.id },
      });
    }
    if (stored.version !== c.expectedVersion) {
      throw new FsmError(
        'FSM_STALE_VERSION',
        `${record.machine} instance ${record.id} changed since it was read (version ${c.expectedVersion}, now ${stored.version}); reload it and try again`,
        { context: { machine: record.machine, id: record.id, expected: c.expectedVersion, actual: stored.version } },
      );
    }
    let next = copy(record);
    let received = false;
    if (c.wait) {
      const took = this.takeFromInbox(record.machine, c.wait, next);
      if (took) {
        next = took;
        received = true;
      }
    }
    next.version = c.expectedVersion + 1;
    if (c.clearPauseRequest) {
      next.pauseRequested = false;
    } else if (stored.pauseRequested) {
      next.pauseRequested = true;
      next.pauseReason = stored.pauseReason;
    }
    // Children first: their events come before the parent's waiting, as in a real store.
    for (const child of c.spawn ?? []) {
      const children = this.table(child.record.machine);
      if (children.has(child.record.id)) continue;
      children.set(child.record.id, copy(child.record));
      this.emit(child.events);
    }
    table.set(record.id, next);
    this.indexWait(stored, next);
    const started = c.childEnded ? this.childEnded(record, c.childEnded) : undefined;
    if (c.joinCheck) {
      let ended = 0;
      for (const m of c.joinCheck.machines) for (const r of this.instances.get(m)?.values() ?? []) if (r.parentId === record.id && ENDED.has(r.status)) ended++;
      if (ended !== c.joinCheck.ended) next.nextRunAt = new Date();
    }
    if (c.history.length > 0) {
      let rows = this.historyRows.get(record.id);
      if (!rows) this.historyRows.set(record.id, (rows = []));
      for (const h of c.history) rows.push(toStored(h));
    }
    this.emit(c.events);
    if (received) return { pauseRequested: next.pauseRequested, pauseReason: next.pauseReason, received };
    if (started !== undefined && c.childEnded?.lease) return { pauseRequested: next.pauseRequested, pauseReason: next.pauseReason, started: copy(started) };
    return next.pauseRequested || next.pauseReason !== null ? { pauseRequested: next.pauseRequested, pauseReason: next.pauseReason } : NOT_PAUSED;
  }

  /** Runs to completion without awaiting: nothing interleaves with a commit, as the MySQL store's lock on the message and key ensures. */
  async deliver(machine: string, d: Delivery): Promise<DeliveryOutcome> {
    if (d.messageId !== null) {
      const seen = this.messageIds.get(d.messageId);
      if (seen) return { kind: 'duplicate', instanceId: seen.takenBy };
    }
    const table = this.table(machine);
    const ids = [...(this.waits.get(machine)?.get(waitIndexKey(d.message, d.key)) ?? [])].sort();
    for (const id of ids) {
      const stored = table.get(id);
      if (!stored || stored.status !== 'waiting') continue;
      const next = d.take(copy(stored), { payload: d.payload, messageId: d.messageId });
      if (next === null) continue;
      next.version = stored.version + 1;
      next.pauseRequested = stored.pauseRequested;
      next.pauseReason = stored.pauseReason;
      table.set(id, copy(next));
      this.indexWait(stored, next);
      if (d.messageId !== null) this.keep(machine, d, id);
      return { kind: 'taken', record: copy(next) };
    }
    this.keep(machine, d, null);
    return { kind: 'inboxed' };
  }

  private keep(machine: string, d: Delivery, takenBy: string | null): void {
    const now = Date.now();
    const row: InboxRow = { machine, message: d.message, key: d.key, payload: d.payload, messageId: d.messageId, createdAt: now, expiresAt: now + d.inboxTtlMs, takenBy };
    if (takenBy === null) this.inbox.push(row);
    if (d.messageId !== null) this.messageIds.set(d.messageId, row);
  }

  /** The oldest unexpired inbox message for the wait, taken by `record`; null when none. */
  private takeFromInbox(machine: string, wait: MessageTake, record: InstanceRecord): InstanceRecord | null {
    const now = Date.now();
    for (let i = 0; i < this.inbox.length; i++) {
      const row = this.inbox[i]!;
      if (row.expiresAt <= now) {
        this.inbox.splice(i--, 1);
        continue;
      }
      if (row.machine !== machine || row.message !== wait.message || row.key !== wait.key) continue;
      const next = wait.take(record, { payload: row.payload, messageId: row.messageId });
      if (next === null) return null;
      this.inbox.splice(i, 1);
      row.takenBy = record.id;
      return next;
    }
    return null;
  }

  private indexWait(before: InstanceRecord | undefined, after: InstanceRecord): void {
    if (before?.waitMessage === after.waitMessage && before?.waitKey === after.waitKey && before !== undefined) return;
    let byKey = this.waits.get(after.machine);
    if (!byKey) this.waits.set(after.machine, (byKey = new Map()));
    if (before?.waitMessage != null && before.waitKey != null) {
      const k = waitIndexKey(before.waitMessage, before.waitKey);
      byKey.get(k)?.delete(after.id);
      if (byKey.get(k)?.size === 0) byKey.delete(k);
    }
    if (after.waitMessage != null && after.waitKey != null) {
      const k = waitIndexKey(after.waitMessage, after.waitKey);
      let ids = byKey.get(k);
      if (!ids) byKey.set(k, (ids = new Set()));
      ids.add(after.id);
    }
  }

  async children(machine: string, parentId: string): Promise<Array<{ id: string; status: InstanceRecord['status'] }>> {
    const out: Array<{ id: string; status: InstanceRecord['status'] }> = [];
    for (const r of this.instances.get(machine)?.values() ?? []) if (r.parentId === parentId) out.push({ id: r.id, status: r.status });
    return out;
  }

  /** A child ended: start the sibling queued behind it, and make its parent due if it waits for children. */
  private childEnded(child: InstanceRecord, link: NonNullable<Commit['childEnded']>): InstanceRecord | undefined {
    const next = link.next === null ? undefined : this.table(child.machine).get(link.next);
    const started = next !== undefined && next.status === 'waiting' && next.waitingFor === QUEUED_CHILD;
    if (started) {
      next.status = link.lease ? 'running' : 'ready';
      if (link.lease) {
        next.leaseOwner = link.lease.owner;
        next.leaseExpiresAt = new Date(Date.now() + link.lease.leaseMs);
      }
      next.waitingFor = null;
      next.version += 1;
      if (!link.wake) return next;
    }
    // A map's chain that ends wakes the parent only when it is the last (commits here never interleave).
    if (!link.wake && link.siblings !== undefined) {
      for (const r of this.table(child.machine).values()) {
        if (r.parentId === link.parentId && r.id.startsWith(link.siblings) && !ENDED.has(r.status) && r.id !== child.id) return undefined;
      }
    }
    const parent = this.instances.get(link.parentMachine)?.get(link.parentId);
    if (parent && parent.status === 'waiting' && parent.nextRunAt === null && parent.waitingFor?.startsWith(CHILDREN_WAIT)) parent.nextRunAt = new Date();
    return started ? next : undefined;
  }

  async get(machine: string, id: string): Promise<InstanceRecord | undefined> {
    const r = this.instances.get(machine)?.get(id);
    return r && copy(r);
  }

  async list(machine: string, filter: ListFilter = {}): Promise<InstanceRecord[]> {
    const statuses = toSet(filter.status);
    const states = toSet(filter.currentState);
    const rows = [...(this.instances.get(machine)?.values() ?? [])].filter(
      (r) =>
        (filter.userId === undefined || r.userId === filter.userId) &&
        (filter.parentId === undefined || r.parentId === filter.parentId) &&
        (!statuses || statuses.has(r.status)) &&
        (!states || states.has(r.currentState)) &&
        (!filter.createdAfter || r.createdAt >= filter.createdAfter) &&
        (!filter.createdBefore || r.createdAt < filter.createdBefore) &&
        (!filter.updatedAfter || r.updatedAt >= filter.updatedAfter) &&
        (!filter.updatedBefore || r.updatedAt < filter.updatedBefore),
    );
    const key = filter.orderBy ?? 'id';
    const sign = filter.order === 'desc' ? -1 : 1;
    rows.sort((a, b) => sign * compare(a, b, key));
    const offset = filter.offset ?? 0;
    return rows.slice(offset, filter.limit === undefined ? undefined : offset + filter.limit).map(copy);
  }

  async history(_machine: string, id: string, options?: HistoryOptions): Promise<HistoryRecord[]> {
    const o = checkHistoryOptions(options);
    const since = o.since?.getTime();
    let rows = (this.historyRows.get(id) ?? []).filter((h) => (o.afterSeq === undefined || h.seq > o.afterSeq) && (since === undefined || EPOCH + h.startedAt >= since));
    rows.sort((a, b) => (o.order === 'desc' ? b.seq - a.seq : a.seq - b.seq));
    if (o.limit !== undefined) rows = rows.slice(0, o.limit);
    return rows.map((h) => {
      const out = toRecord(h);
      if (!o.withData) {
        out.dataBefore = '';
        out.dataAfter = '';
      }
      return out;
    });
  }

  /** Deletes at once: one process, nothing to interleave with. */
  async prune(machine: string, options: PruneOptions): Promise<PruneResult> {
    const o = checkPruneOptions(options);
    const statuses = new Set<string>(o.statuses);
    const cutoff = o.olderThan.getTime();
    const table = this.instances.get(machine);
    const result: PruneResult = { instances: 0, historyRows: 0, inboxRows: this.pruneInbox(machine, cutoff) };
    if (table === undefined) return result;
    for (const [id, r] of table) {
      if (!statuses.has(r.status) || r.updatedAt.getTime() >= cutoff) continue;
      table.delete(id);
      this.indexWait(r, { ...r, waitMessage: null, waitKey: null });
      result.instances++;
      result.historyRows += this.historyRows.get(id)?.length ?? 0;
      this.historyRows.delete(id);
    }
    return result;
  }

  /** Deletes the machine's expired inbox messages, and those taken before `cutoff`; returns how many. */
  private pruneInbox(machine: string, cutoff: number): number {
    const now = Date.now();
    const gone = new Set<InboxRow>();
    const old = (row: InboxRow) => row.machine === machine && (row.expiresAt <= now || (row.takenBy !== null && row.createdAt < cutoff));
    for (let i = this.inbox.length - 1; i >= 0; i--) {
      if (old(this.inbox[i]!)) gone.add(this.inbox.splice(i, 1)[0]!);
    }
    for (const [id, row] of this.messageIds) {
      if (old(row)) {
        this.messageIds.delete(id);
        gone.add(row);
      }
    }
    return gone.size;
  }

  async requestPause(machine: string, id: string, reason: string | null): Promise<boolean> {
    const r = this.instances.get(machine)?.get(id);
    if (!r) return false;
    r.pauseRequested = true;
    r.pauseReason = reason;
    return true;
  }

  async currentStates(machine: string, ids: string[]): Promise<Map<string, string>> {
    const table = this.instances.get(machine);
    const out = new Map<string, string>();
    for (const id of ids) {
      const r = table?.get(id);
      if (r) out.set(id, r.currentState);
    }
    return out;
  }

  async claim(machine: string, options: ClaimOptions): Promise<string[]> {
    const now = Date.now();
    const limit = Math.max(0, Math.floor(options.limit));
    const oldest = Math.min(limit, Math.max(0, Math.floor(options.oldest ?? 0)));
    const claimable = [...(this.instances.get(machine)?.values() ?? [])].filter((r) => isClaimable(r, now));
    const claimed = claimable.sort(agingOrder).slice(0, oldest);
    const rest = claimable.filter((r) => !claimed.includes(r)).sort(claimOrder);
    claimed.push(...rest.slice(0, limit - claimed.length));
    for (const r of claimed) {
      // Claiming a running instance takes it over from a drive that died: counted per instance.
      if (r.status === 'running') r.takeovers += 1;
      r.leaseOwner = options.owner;
      r.leaseExpiresAt = new Date(now + options.leaseMs);
    }
    return claimed.map((r) => r.id);
  }

  async renewLease(machine: string, id: string, lease: LeaseRenewal): Promise<boolean> {
    const r = this.instances.get(machine)?.get(id);
    if (!r || r.status !== 'running' || r.leaseOwner !== lease.owner || r.version !== lease.version) return false;
    r.leaseExpiresAt = new Date(Date.now() + lease.leaseMs);
    return true;
  }

  async unclaim(machine: string, ids: string[], owner: string): Promise<void> {
    const table = this.instances.get(machine);
    for (const id of ids) {
      const r = table?.get(id);
      if (r && r.leaseOwner === owner) {
        r.leaseOwner = null;
        r.leaseExpiresAt = null;
      }
    }
  }

  async stats(machine: string, options: StatsOptions = {}): Promise<MachineStats> {
    const instances = [...(this.instances.get(machine)?.values() ?? [])];
    return computeStats(machine, instances, instances.flatMap((r) => (this.historyRows.get(r.id) ?? []).map(toRecord)), options);
  }

  /** Resolves once every event committed so far has been handed to the sink. */
  flush(): Promise<void> {
    return this.publishing;
  }

  async close(): Promise<void> {
    await this.flush();
  }

  private table(machine: string): Map<string, InstanceRecord> {
    let t = this.instances.get(machine);
    if (!t) this.instances.set(machine, (t = new Map()));
    return t;
  }

  private emit(events: FsmEvent[]): void {
    if (events.length === 0) return;
    this.outbox.push(...events);
    if (this.outbox.length > this.outboxLimit) this.outbox.splice(0, this.outbox.length - this.outboxLimit);
    const sink = this.sink;
    if (!sink) return;
    // One chain keeps events in commit order even when publishes are slow.
    this.publishing = this.publishing.then(() =>
      sink.publish(events).catch((error: unknown) => {
        this.logger.error('event publish failed; the events are not published', {
          error,
          eventIds: events.map((e) => e.eventId),
        });
      }),
    );
  }
}

/** What almost every commit answers, made once. */
const NOT_PAUSED: CommitResult = Object.freeze({ pauseRequested: false, pauseReason: null });

/**
 * Ready (and due, when it has a start time), or waiting and due, and not leased; or running
 * with a lease that ran out (its runner died). A wait with no due time is never claimed: only
 * a call, a message or a child's end moves it.
 */
export function isClaimable(r: InstanceRecord, now: number): boolean {
  const leased = r.leaseExpiresAt != null && r.leaseExpiresAt.getTime() > now;
  if (r.status === 'ready') return !leased && (r.nextRunAt === null || r.nextRunAt.getTime() <= now);
  if (r.status === 'waiting') return !leased && r.nextRunAt !== null && r.nextRunAt.getTime() <= now;
  return r.status === 'running' && !leased;
}

interface InboxRow {
  machine: string;
  message: string;
  key: string;
  payload: string;
  messageId: string | null;
  createdAt: number;
  expiresAt: number;
  takenBy: string | null;
}

function waitIndexKey(message: string, key: string): string {
  return `${message}\u0000${key}`;
}

const dueTime = (r: InstanceRecord) => r.nextRunAt?.getTime() ?? Number.NEGATIVE_INFINITY;
const byId = (a: InstanceRecord, b: InstanceRecord) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const CONTINUING_RANK: Partial<Record<InstanceRecord['status'], number>> = { running: 0, waiting: 1, ready: 2 };
const rank = (r: InstanceRecord) => CONTINUING_RANK[r.status] ?? 3;

/**
 * The order workers claim in: takeovers (running, lease run out) first, then the highest
 * priority, instances under way before new ones, the earliest due (none first), the id.
 */
function claimOrder(a: InstanceRecord, b: InstanceRecord): number {
  return Math.min(rank(a), 1) - Math.min(rank(b), 1) || b.priority - a.priority || rank(a) - rank(b) || dueTime(a) - dueTime(b) || byId(a, b);
}

/**
 * The aging lane's order: takeovers first, then due the longest whatever the priority (an
 * instance to run at once, with no due time, is due since its creation).
 */
function agingOrder(a: InstanceRecord, b: InstanceRecord): number {
  const since = (r: InstanceRecord) => (r.nextRunAt ?? r.createdAt).getTime();
  return Math.min(rank(a), 1) - Math.min(rank(b), 1) || since(a) - since(b) || byId(a, b);
}

/** What stored times count from: milliseconds since it are small integers for 24 days, which need no heap object. */
const EPOCH = Date.now();

/**
 * A history row as this store keeps it: its start as milliseconds since EPOCH and its end as
 * the milliseconds it took, numbers that (for 24 days) need no heap object of their own. Most
 * rows are never read back, and the objects a kept row holds are what the collector copies.
 */
interface StoredRow extends Omit<HistoryRecord, 'startedAt' | 'finishedAt'> {
  startedAt: number;
  took: number;
}

/** The store's own copy of a committed row: the writer may change its objects afterwards. */
function toStored(h: HistoryRecord): StoredRow {
  const started = h.startedAt.getTime();
  return {
    id: h.id,
    instanceId: h.instanceId,
    machine: h.machine,
    seq: h.seq,
    handler: h.handler,
    step: h.step,
    direction: h.direction,
    stateBefore: h.stateBefore,
    stateAfter: h.stateAfter,
    dataBefore: h.dataBefore,
    dataAfter: h.dataAfter,
    // A frozen object (the engine's one empty metadata) cannot change: shared, not copied.
    metadata: Object.isFrozen(h.metadata) ? h.metadata : { ...h.metadata },
    error: h.error === null ? null : { ...h.error },
    attempt: h.attempt,
    startedAt: small(started - EPOCH),
    took: small(h.finishedAt.getTime() - started),
    transition: h.transition,
    actor: h.actor,
    result: h.result,
  };
}

/**
 * `n` as a 32-bit integer when it is one: the difference of two times is a float, kept in a
 * heap object of its own unless made an integer like this.
 */
function small(n: number): number {
  return (n | 0) === n ? n | 0 : n;
}

/** A row as callers get it: their own copy, dates, metadata and error included. */
function toRecord(row: StoredRow): HistoryRecord {
  const started = EPOCH + row.startedAt;
  return {
    id: row.id,
    instanceId: row.instanceId,
    machine: row.machine,
    seq: row.seq,
    handler: row.handler,
    step: row.step,
    direction: row.direction,
    stateBefore: row.stateBefore,
    stateAfter: row.stateAfter,
    dataBefore: row.dataBefore,
    dataAfter: row.dataAfter,
    metadata: { ...row.metadata },
    error: row.error === null ? null : { ...row.error },
    attempt: row.attempt,
    startedAt: new Date(started),
    finishedAt: new Date(started + row.took),
    transition: row.transition,
    actor: row.actor,
    result: row.result,
  };
}

function copy(r: InstanceRecord): InstanceRecord {
  // A bare spread is the engine's fast object clone; a spread with an extra property is not.
  const c = { ...r };
  if (c.lastError) c.lastError = { ...c.lastError };
  return c;
}

function toSet<T>(v: T | T[] | undefined): Set<T> | undefined {
  return v === undefined ? undefined : new Set(Array.isArray(v) ? v : [v]);
}

function compare(a: InstanceRecord, b: InstanceRecord, key: 'id' | 'createdAt' | 'updatedAt'): number {
  if (key === 'id') return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  return a[key].getTime() - b[key].getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
