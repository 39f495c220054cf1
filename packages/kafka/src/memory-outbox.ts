import type { ErrorInfo, EventSink, FsmEvent } from '@fsmkit/runtime';
import { eventHeaders } from '@fsmkit/runtime';
import type { Outbox, OutboxId, OutboxRow } from './outbox.js';

interface Entry {
  row: OutboxRow;
  claimedBy: string | null;
  claimedUntil: number;
  attempts: number;
  lastError: ErrorInfo | null;
}

export interface MemoryOutboxOptions {
  /** Clock in milliseconds, for lease expiry. Default `Date.now`. */
  now?: () => number;
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
  private nextId = 1;
  private readonly now: () => number;

  constructor(options: MemoryOutboxOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  async publish(events: FsmEvent[]): Promise<void> {
    this.enqueue(events);
  }

  enqueue(events: FsmEvent[]): OutboxRow[] {
    return events.map((event) => {
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
    for (const id of ids) this.entries.delete(Number(id));
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
}
