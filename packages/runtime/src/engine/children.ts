import { createHash } from 'node:crypto';
import type { InstanceStatus } from '../records.js';
import type { ChildrenWait } from './waits.js';

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * A child's id from its parent, the step visit that spawned it and its index, so that a step
 * run again after a crash makes the same ids and an existing child is never stored twice.
 * RFC 9562 layout, version 8: the first 10 bytes hash parent and visit (SHA-1), the last 6
 * hold the index, so the children of one spawn sort by index (the order map starts them in).
 */
export function childId(parentId: string, visit: string, index: number): string {
  const b = createHash('sha1').update(`${parentId}/${visit}`).digest();
  b[6] = 0x80 | (b[6]! & 0x0f);
  b[8] = 0x80 | (b[8]! & 0x3f);
  let n = index;
  for (let i = 15; i >= 10; i--) {
    b[i] = n % 256;
    n = Math.floor(n / 256);
  }
  let s = '';
  for (let i = 0; i < 16; i++) {
    s += HEX[b[i]!];
    if (i === 3 || i === 5 || i === 7 || i === 9) s += '-';
  }
  return s;
}

/** Statuses a child does not leave by itself. */
export const ENDED: ReadonlySet<InstanceStatus> = new Set(['done', 'failed', 'compensated']);

export type JoinState =
  /** Some children have not ended yet. */
  | { kind: 'waiting' }
  /** Every child ended (with `collect`, whatever the outcome; else every one `done`). */
  | { kind: 'ended' }
  /** `onChildError: 'fail'` and this child failed (or compensated): the parent fails; `unfinished` are to be stopped. */
  | { kind: 'failed'; child: { machine: string; id: string; status: InstanceStatus }; unfinished: Array<{ machine: string; id: string }> };

/** Where a join stands, from the status of each of its children (absent: not stored yet). */
export function joinState(wait: ChildrenWait, statuses: ReadonlyMap<string, InstanceStatus>): JoinState {
  let waiting = false;
  let failed: { machine: string; id: string; status: InstanceStatus } | null = null;
  const unfinished: Array<{ machine: string; id: string }> = [];
  for (const child of wait.children) {
    const status = statuses.get(child.id);
    if (status === undefined || !ENDED.has(status)) {
      waiting = true;
      unfinished.push(child);
    } else if (status !== 'done' && wait.onChildError === 'fail' && failed === null) {
      failed = { ...child, status };
    }
  }
  if (failed !== null) return { kind: 'failed', child: failed, unfinished };
  return waiting ? { kind: 'waiting' } : { kind: 'ended' };
}
