/**
 * The siblings a group's child ends start, in one UPDATE and one SELECT per table instead of a
 * start, its check, the parent's lock and wake and a read per child. That holds only when every
 * sibling started: a child whose sibling did not is the end of its chain and must look at its
 * parent. So a check after each UPDATE stops the packet unless it started them all, and the
 * group then goes back to a savepoint taken before them and sends each child's own statements.
 */
import { stopUnlessRows } from './row-count-check.js';

/** A child's end that starts its queued sibling leased to the writer and wakes nothing if it did. */
export interface SiblingStart {
  /** Starts with the same key go as one statement (same table, owner and lease). */
  key: string;
  /** The sibling's id. */
  id: string;
  /** The UPDATE that starts siblings of this key by id, leased (see `MachineSql.startQueuedIn`). */
  start(ids: readonly string[]): string;
  /** The SELECT that reads them back by id. */
  read(ids: readonly string[]): string;
}

export const STARTS_SAVEPOINT = 'SAVEPOINT `fsm_starts`';
export const BACK_TO_STARTS = 'ROLLBACK TO SAVEPOINT `fsm_starts`';


export interface GroupStarts {
  /** The savepoint, each key's UPDATE and check, then each key's SELECT. */
  statements: string[];
  /** Where each SELECT's result is among `statements`' results, with the ids it reads. */
  reads: Array<{ at: number; ids: string[] }>;
}

/**
 * The statements starting every sibling of `starts` (the commits that have one), or null when
 * fewer than two do, or two name the same sibling: each child's own statements are then as cheap.
 */
export function groupStarts(starts: ReadonlyArray<SiblingStart | undefined>): GroupStarts | null {
  const byKey = new Map<string, SiblingStart[]>();
  const ids = new Set<string>();
  for (const s of starts) {
    if (s === undefined) continue;
    if (ids.has(s.id)) return null;
    ids.add(s.id);
    const list = byKey.get(s.key);
    if (list === undefined) byKey.set(s.key, [s]);
    else list.push(s);
  }
  if (ids.size < 2) return null;
  const statements = [STARTS_SAVEPOINT];
  for (const list of byKey.values()) statements.push(list[0]!.start(list.map((s) => s.id)), stopUnlessRows(list.length));
  const reads: GroupStarts['reads'] = [];
  for (const list of byKey.values()) {
    const keyIds = list.map((s) => s.id);
    reads.push({ at: statements.length, ids: keyIds });
    statements.push(list[0]!.read(keyIds));
  }
  return { statements, reads };
}
