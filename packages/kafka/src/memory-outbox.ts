import { eventHeaders, FsmError, type ErrorInfo, type EventSink, type FsmEvent } from '@fsmkit/runtime';
import {
  retryDelayMs,
  type DeadLetter,
  type DeadLetterFilter,
  type Outbox,
  type OutboxId,
  type OutboxRow,
  type RejectOptions,
  type RejectOutcome,
} from './outbox.js';

interface Entry {
  row: OutboxRow;
  claimedBy: string | null;
  claimedUntil: number;
  attempts: number;
  lastError: ErrorInfo | null;
}

/** An instance whose earliest unsent row the broker refused: held until `retryAt`, or for good once dead. */
interface Hold {
  id: number;
  failures: number;
  error: ErrorInfo;
  retryAt: number;
  deadAt: number | null;
}

export interface MemoryOutboxOptions {
  /** Clock in milliseconds, for lease expiry. Default `Date.now`. */
  now?: () => number;
  /**
   * Most unsent rows kept. When full, `publish` refuses the whole batch with FsmError
   * `FSM_EVENTS` (the memory store logs it; the state change stands) until a relay makes room.
   * Default 100 000.
   */
  maxRows?: number;
}

/** What a caller can see of one pending row. */
export interface PendingRow {
  row: OutboxRow;
  claimedBy: string | null;
  attempts: number;
  lastError: ErrorInfo | null;
}

/**
 * An outbox in process memory: the memory store publishes into it (it is an EventSink) and an
 * OutboxRelay drains it to Kafka, retrying while the broker is away. Rows live until sent; a
 * process exit loses the unsent ones, which is what a memory store promises anyway.
 */
export class MemoryOutbox implements Outbox, EventSink {
  private readonly entries = new Map<number, Entry>();
  private readonly holds = new Map<string, Hold>();
  private nextId = 1;
  private readonly watchers = new Set<() => void>();
  private readonly now: () => number;
  readonly maxRows: number;

  constructor(options: MemoryOutboxOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxRows = options.maxRows ?? 100_000;
    if (!Number.isInteger(this.maxRows) || this.maxRows < 1) throw new RangeError(`MemoryOutbox maxRows must be a positive integer, got ${this.maxRows}`);
  }

  async publish(events: FsmEvent[]): Promise<void> {
    this.enqueue(events);
  }

  /** Adds the events as unsent rows; all or none: refuses the batch with FSM_EVENTS when it does not fit in `maxRows`. */
  enqueue(events: FsmEvent[]): OutboxRow[] {
    if (this.entries.size + events.length > this.maxRows) {
      throw new FsmError(
        'FSM_EVENTS',
        `the memory outbox is full (${this.entries.size} unsent of at most ${this.maxRows}): ${events.length} event(s) refused. ` +
          'Run an OutboxRelay to drain it, raise maxRows, or use the MySQL store and its outbox for events that must not be lost.',
        { context: { limit: this.maxRows, unsent: this.entries.size, events: events.length, eventIds: events.map((e) => e.eventId) } },
      );
    }
    const rows = events.map((event) => {
      const row: OutboxRow = {
        id: this.nextId++,
        eventId: event.eventId,
        topic: event.topic,
        key: event.instanceId,
        instanceId: event.instanceId,
        sequence: event.sequence,
        type: event.type,
        payload: JSON.stringify(event),
        headers: eventHeaders(event),
      };
      this.entries.set(row.id as number, { row, claimedBy: null, claimedUntil: 0, attempts: 0, lastError: null });
      return { ...row };
    });
    if (rows.length > 0) this.wakeWatchers();
    return rows;
  }

  /** Calls `listener` after every enqueue (a relay's wake-up); returns what stops it. */
  watch(listener: () => void): () => void {
    const own = () => listener();
    this.watchers.add(own);
    return () => void this.watchers.delete(own);
  }

  private wakeWatchers(): void {
    for (const listener of this.watchers) {
      try {
        listener();
      } catch {
        // The rows are stored: a watcher's failure is not the enqueue's, and a poll finds them.
      }
    }
  }

  /** Unsent rows, oldest first. */
  pending(): PendingRow[] {
    return [...this.entries.values()].map((e) => ({
      row: { ...e.row },
      claimedBy: e.claimedBy,
      attempts: e.attempts,
      lastError: e.lastError,
    }));
  }

  get size(): number {
    return this.entries.size;
  }

  async claim(owner: string, limit: number, leaseMs: number): Promise<OutboxRow[]> {
    const now = this.now();
    const blocked = new Set<string>();
    for (const [instance, hold] of this.holds) if (hold.deadAt !== null || hold.retryAt > now) blocked.add(instance);
    const claimed: OutboxRow[] = [];
    // Map order is id order, and a store publishes each instance's events in sequence order.
    for (const entry of this.entries.values()) {
      if (claimed.length >= limit) break;
      const instance = entry.row.instanceId;
      if (blocked.has(instance)) continue;
      if (entry.claimedBy !== null && entry.claimedUntil > now) {
        // Someone holds an earlier row of this instance: its later rows must wait.
        blocked.add(instance);
        continue;
      }
      entry.claimedBy = owner;
      entry.claimedUntil = now + leaseMs;
      entry.attempts += 1;
      claimed.push({ ...entry.row, headers: { ...entry.row.headers } });
    }
    return claimed;
  }

  async markSent(_owner: string, ids: OutboxId[]): Promise<void> {
    for (const id of ids) {
      const entry = this.entries.get(Number(id));
      if (!entry) continue;
      this.entries.delete(Number(id));
      if (this.holds.get(entry.row.instanceId)?.id === Number(id)) this.holds.delete(entry.row.instanceId);
    }
  }

  async markFailed(owner: string, ids: OutboxId[], error: ErrorInfo): Promise<void> {
    for (const id of ids) {
      const entry = this.entries.get(Number(id));
      if (!entry || entry.claimedBy !== owner) continue;
      entry.claimedBy = null;
      entry.claimedUntil = 0;
      entry.lastError = error;
    }
  }

  async reject(owner: string, id: OutboxId, error: ErrorInfo, options: RejectOptions): Promise<RejectOutcome> {
    const entry = this.entries.get(Number(id));
    if (!entry || entry.claimedBy !== owner) return 'retry';
    await this.markFailed(owner, [id], error);
    const instance = entry.row.instanceId;
    const previous = this.holds.get(instance);
    const failures = previous?.id === Number(id) ? previous.failures + 1 : 1;
    const now = this.now();
    const dead = failures >= options.maxFailures;
    this.holds.set(instance, { id: Number(id), failures, error, retryAt: now + retryDelayMs(failures, options.backoff), deadAt: dead ? now : null });
    return dead ? 'dead' : 'retry';
  }

  /** Rows set aside after too many refusals, oldest first. */
  async deadLetters(): Promise<DeadLetter[]> {
    const out: DeadLetter[] = [];
    for (const [instance, hold] of this.holds) {
      const entry = this.entries.get(hold.id);
      if (hold.deadAt === null || !entry) continue;
      const waiting = [...this.entries.values()].filter((e) => e.row.instanceId === instance && e.row.sequence > entry.row.sequence).length;
      out.push({
        id: hold.id,
        eventId: entry.row.eventId,
        instanceId: instance,
        topic: entry.row.topic,
        type: entry.row.type,
        sequence: entry.row.sequence,
        failures: hold.failures,
        error: hold.error,
        deadAt: new Date(hold.deadAt),
        waiting,
      });
    }
    return out.sort((a, b) => Number(a.id) - Number(b.id));
  }

  /** Puts dead letters (all, or those matching `filter`) back in line with a fresh count; returns how many. */
  async retryDeadLetters(filter: DeadLetterFilter = {}): Promise<number> {
    let count = 0;
    for (const letter of await this.deadLetters()) {
      if (!matches(letter, filter)) continue;
      this.holds.delete(letter.instanceId);
      count++;
    }
    return count;
  }
}

function matches(letter: DeadLetter, filter: DeadLetterFilter): boolean {
  if (filter.instanceIds && !filter.instanceIds.includes(letter.instanceId)) return false;
  if (filter.topics && !filter.topics.includes(letter.topic)) return false;
  if (filter.eventIds && !filter.eventIds.includes(letter.eventId)) return false;
  return true;
}
