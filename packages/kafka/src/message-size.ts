import type { OutboxRow } from './outbox.js';

/** Bytes a record adds to a Kafka batch besides its key, value and headers (varints, offsets, attributes). */
const RECORD_OVERHEAD = 64;

/** About what one row weighs in a produce request. */
export function rowBytes(row: OutboxRow): number {
  let bytes = RECORD_OVERHEAD + Buffer.byteLength(row.key) + Buffer.byteLength(row.payload);
  for (const [name, value] of Object.entries(row.headers)) bytes += Buffer.byteLength(name) + Buffer.byteLength(value) + 4;
  return bytes;
}

/**
 * Cuts ordered rows into consecutive groups of at most `maxBytes` (a row larger than that goes
 * alone). The order is kept, so each instance's rows stay in sequence.
 */
export function chunkRows<T extends OutboxRow>(rows: readonly T[], maxBytes: number): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const row of rows) {
    const size = rowBytes(row);
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(row);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/**
 * The row with its event's `data` left out and `dataOmitted: true` in its place: what is sent
 * when the whole event can never fit the broker's limit. Consumers read the data from the
 * store by instance id. Null when the payload carries no data to leave out.
 */
export function withoutData(row: OutboxRow): OutboxRow | null {
  let event: unknown;
  try {
    event = JSON.parse(row.payload);
  } catch {
    return null;
  }
  if (typeof event !== 'object' || event === null || !('data' in event)) return null;
  const slim: Record<string, unknown> = { ...event };
  delete slim['data'];
  slim['dataOmitted'] = true;
  return { ...row, payload: JSON.stringify(slim) };
}
