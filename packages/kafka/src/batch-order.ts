import type { OutboxRow } from './outbox.js';

/**
 * Orders a claimed batch for sending: each instance's rows in sequence order, instances in
 * the order their first row was claimed (oldest first). Kafka keeps the order of messages
 * sent in one request to one partition, and an instance's messages share a partition.
 */
export function orderBatch(rows: readonly OutboxRow[]): OutboxRow[] {
  const byInstance = new Map<string, OutboxRow[]>();
  for (const row of rows) {
    let list = byInstance.get(row.instanceId);
    if (!list) byInstance.set(row.instanceId, (list = []));
    list.push(row);
  }
  const out: OutboxRow[] = [];
  for (const list of byInstance.values()) {
    list.sort((a, b) => a.sequence - b.sequence);
    out.push(...list);
  }
  return out;
}
