/**
 * The counting of the chaos run, apart from the run: what the history and the consumed
 * messages say about steps committed twice and events missing, foreign or out of order.
 */

/** Committed handlers beyond what the path calls for (each step commits once), and whether one it calls for is missing. */
export function stepCounts(expected: string[], committed: string[]): { duplicates: number; missing: boolean } {
  const want = new Map<string, number>();
  for (const s of expected) want.set(s, (want.get(s) ?? 0) + 1);
  const got = new Map<string, number>();
  for (const s of committed) got.set(s, (got.get(s) ?? 0) + 1);
  let duplicates = 0;
  for (const [s, k] of got) duplicates += Math.max(0, k - (want.get(s) ?? 0));
  return { duplicates, missing: [...want].some(([s, k]) => (got.get(s) ?? 0) < k) };
}

export interface OutboxEvent {
  eventId: string;
  instanceId: string;
  sequence: number;
}

export interface ConsumedEvent extends OutboxEvent {
  key: string;
}

export interface EventCounts {
  /** Outbox events no message delivered. */
  missing: number;
  /** First deliveries of an instance's events that do not follow its previous one. */
  outOfOrder: number;
  /** Messages with an id no commit wrote, a key or place that is not the event's, or a second id for one instance and sequence. */
  foreign: number;
  /** Messages of an event already delivered (allowed: consumers drop them by event id). */
  duplicates: number;
}

/** `consumed` in delivery order per partition (one instance's events share a partition). */
export function eventCounts(outbox: OutboxEvent[], consumed: ConsumedEvent[]): EventCounts {
  const written = new Map(outbox.map((e) => [e.eventId, e]));
  const seen = new Set<string>();
  const idOf = new Map<string, string>();
  const last = new Map<string, number>();
  const counts: EventCounts = { missing: 0, outOfOrder: 0, foreign: 0, duplicates: 0 };
  for (const m of consumed) {
    const row = written.get(m.eventId);
    if (!row || m.key !== m.instanceId || row.instanceId !== m.instanceId || row.sequence !== m.sequence) {
      counts.foreign++;
      continue;
    }
    const slot = `${m.instanceId}:${m.sequence}`;
    const other = idOf.get(slot);
    if (other !== undefined && other !== m.eventId) counts.foreign++;
    idOf.set(slot, m.eventId);
    if (seen.has(m.eventId)) {
      counts.duplicates++;
      continue;
    }
    seen.add(m.eventId);
    const previous = last.get(m.instanceId) ?? 0;
    if (m.sequence !== previous + 1) counts.outOfOrder++;
    last.set(m.instanceId, Math.max(previous, m.sequence));
  }
  counts.missing = outbox.filter((e) => !seen.has(e.eventId)).length;
  return counts;
}
