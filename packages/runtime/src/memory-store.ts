import { FsmError } from './errors.js';
import type { EventSink } from './event-sink.js';
import { noopLogger, safeLogger, type Logger } from './logger.js';
import type { FsmEvent, HistoryRecord, InstanceRecord } from './records.js';
import { computeStats } from './memory-stats.js';
import type {
  ClaimOptions,
  Commit,
  CommitResult,
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
    const next = copy(record);
    next.version = c.expectedVersion + 1;
    if (c.clearPauseRequest) {
      next.pauseRequested = false;
    } else if (stored.pauseRequested) {
      next.pauseRequested = true;
      next.pauseReason = stored.pauseReason;
    }
    table.set(record.id, next);
    if (c.history.length > 0) {
      let rows = this.historyRows.get(record.id);
      if (!rows) this.historyRows.set(record.id, (rows = []));
      for (const h of c.history) rows.push(toStored(h));
    }
    this.emit(c.events);
    return next.pauseRequested || next.pauseReason !== null ? { pauseRequested: next.pauseRequested, pauseReason: next.pauseReason } : NOT_PAUSED;
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
    let rows = (this.historyRows.get(id) ?? []).filter((h) => (o.afterSeq === undefined || h.seq > o.afterSeq) && (since === undefined || h.startedAt >= since));
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
    const result: PruneResult = { instances: 0, historyRows: 0 };
    if (table === undefined) return result;
    for (const [id, r] of table) {
      if (!statuses.has(r.status) || r.updatedAt.getTime() >= cutoff) continue;
      table.delete(id);
      result.instances++;
      result.historyRows += this.historyRows.get(id)?.length ?? 0;
      this.historyRows.delete(id);
    }
    return result;
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
    const claimed: InstanceRecord[] = [];
    for (const r of this.instances.get(machine)?.values() ?? []) {
      if (claimed.length >= options.limit) break;
      if (isClaimable(r, now)) claimed.push(r);
    }
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

/** Ready, or waiting and due, and not leased; or running with a lease that ran out (its runner died). */
export function isClaimable(r: InstanceRecord, now: number): boolean {
  const leased = r.leaseExpiresAt != null && r.leaseExpiresAt.getTime() > now;
  if (r.status === 'ready' || r.status === 'waiting') return !leased && (r.nextRunAt === null || r.nextRunAt.getTime() <= now);
  return r.status === 'running' && !leased;
}

/**
 * A history row as this store keeps it: its times as numbers. Most rows are never read back,
 * and two Date objects per row are most of what a kept row costs the collector.
 */
type StoredRow = Omit<HistoryRecord, 'startedAt' | 'finishedAt'> & { startedAt: number; finishedAt: number };

function toStored(h: HistoryRecord): StoredRow {
  const row = { ...h } as unknown as StoredRow;
  row.startedAt = h.startedAt.getTime();
  row.finishedAt = h.finishedAt.getTime();
  return row;
}

/** A row as callers get it: their own copy, metadata included. */
function toRecord(row: StoredRow): HistoryRecord {
  const h = { ...row } as unknown as HistoryRecord;
  h.startedAt = new Date(row.startedAt);
  h.finishedAt = new Date(row.finishedAt);
  h.metadata = { ...row.metadata };
  return h;
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
