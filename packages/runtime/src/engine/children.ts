import { createHash } from 'node:crypto';
import type { InstanceStatus } from '../records.js';
import type { SpawnRun } from './waits.js';

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * A child's id from its parent, the step visit that spawned it, its index and its map's
 * concurrency (`stride`, 0 outside a map), so that a step run again after a crash makes the
 * same ids and an existing child is never stored twice. RFC 9562 layout, version 8: 10 bytes
 * hash parent and visit (SHA-1), then 3 bytes of stride and 3 of index, so the children of one
 * spawn sort by index, and each map child knows the sibling it starts when it ends (index +
 * stride: see `successorOf`).
 */
export function childId(parentId: string, visit: string, index: number, stride = 0): string {
  const b = createHash('sha1').update(`${parentId}/${visit}`).digest();
  b[6] = 0x80 | (b[6]! & 0x0f);
  b[8] = 0x80 | (b[8]! & 0x3f);
  put(b, 10, stride);
  put(b, 13, index);
  return hex(b);
}

/**
 * The id of the map sibling a child starts when it ends (queued until then), or null for a
 * child outside a map. Each queued child has exactly one predecessor, so siblings ending at
 * once never contend for the same one.
 */
export function successorOf(id: string): string | null {
  const b = Buffer.from(id.replace(/-/g, ''), 'hex');
  if (b.length !== 16 || (b[6]! & 0xf0) !== 0x80) return null;
  const stride = (b[10]! << 16) | (b[11]! << 8) | b[12]!;
  if (stride === 0) return null;
  put(b, 13, ((b[13]! << 16) | (b[14]! << 8) | b[15]!) + stride);
  return hex(b);
}

/**
 * The prefix shared by the ids of every child of one spawn visit (the hash of parent and visit,
 * see `childId`), or null for an id not made by `childId` for a map.
 */
export function siblingsPrefix(id: string): string | null {
  return successorOf(id) === null ? null : id.slice(0, 24);
}

/** Largest index and stride a child id holds. */
export const MAX_CHILDREN = 0xffffff;

function put(b: Buffer, at: number, n: number): void {
  b[at] = (n >>> 16) & 0xff;
  b[at + 1] = (n >>> 8) & 0xff;
  b[at + 2] = n & 0xff;
}

function hex(b: Buffer): string {
  let s = '';
  for (let i = 0; i < 16; i++) {
    s += HEX[b[i]!];
    if (i === 3 || i === 5 || i === 7 || i === 9) s += '-';
  }
  return s;
}

/** Every child the runs name, in spawn order. */
export function childrenOf(parentId: string, visit: string, runs: readonly SpawnRun[]): Array<{ machine: string; id: string }> {
  const out: Array<{ machine: string; id: string }> = [];
  for (const run of runs) for (let i = run.from; i < run.from + run.count; i++) out.push({ machine: run.machine, id: childId(parentId, visit, i, run.stride) });
  return out;
}

/** Spawns in order as runs: consecutive ones of one machine and one stride share a run. */
export function runsOf(spawns: ReadonlyArray<{ machine: string; stride: number }>): SpawnRun[] {
  const runs: SpawnRun[] = [];
  spawns.forEach((s, index) => {
    const last = runs[runs.length - 1];
    if (last !== undefined && last.machine === s.machine && last.stride === s.stride && last.from + last.count === index) last.count++;
    else runs.push({ machine: s.machine, from: index, count: 1, stride: s.stride });
  });
  return runs;
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

/** Where a join of `children` stands, from the status of each (absent: not stored yet). */
export function joinState(
  children: ReadonlyArray<{ machine: string; id: string }>,
  onChildError: 'fail' | 'collect',
  statuses: ReadonlyMap<string, InstanceStatus>,
): JoinState {
  let waiting = false;
  let failed: { machine: string; id: string; status: InstanceStatus } | null = null;
  const unfinished: Array<{ machine: string; id: string }> = [];
  for (const child of children) {
    const status = statuses.get(child.id);
    if (status === undefined || !ENDED.has(status)) {
      waiting = true;
      unfinished.push(child);
    } else if (status !== 'done' && onChildError === 'fail' && failed === null) {
      failed = { ...child, status };
    }
  }
  if (failed !== null) return { kind: 'failed', child: failed, unfinished };
  return waiting ? { kind: 'waiting' } : { kind: 'ended' };
}
