import { FsmError } from '../errors.js';

/**
 * What a waiting instance waits for, as a step's outcome asks for it and as the record keeps it
 * (`waitingFor`, engine-owned JSON text).
 */
export type Wait = ChildrenWait;

/** How a join treats a child that failed. */
export type ChildFailure = 'fail' | 'collect';

/**
 * Children of one step visit with consecutive indexes, one machine and one map concurrency
 * (`stride`, 0 outside a map): their ids derive from these (see `childId`), so a wait or a
 * history row names thousands of children in a few bytes.
 */
export interface SpawnRun {
  machine: string;
  from: number;
  count: number;
  stride: number;
}

/**
 * The children a step spawned, in spawn order: the parent continues once every one of them
 * ended (or, with `onChildError: 'fail'`, at the first that failed).
 */
export interface ChildrenWait {
  kind: 'children';
  /** The step that spawned them. */
  step: string;
  /** The step visit that named them (see `childId`). */
  visit: string;
  runs: SpawnRun[];
  /** The data key the results go to; null: none are stored. */
  into: string | null;
  /** Only this field of each child's data goes into the results. */
  field: string | null;
  onChildError: ChildFailure;
}

/** `waitingFor` of a child queued by `ctx.map` until a sibling ends and starts it. */
export const QUEUED_CHILD = '{"kind":"queued"}';

/** How `waitingFor` starts when an instance waits for children (`encodeWait` writes `kind` first). */
export const CHILDREN_WAIT = '{"kind":"children"';

export function encodeWait(wait: Wait): string {
  return JSON.stringify(wait);
}

/** The wait a record keeps; null when it waits for nothing this engine knows. */
export function decodeWait(text: string | null, where: { machine: string; id: string }): Wait | null {
  if (text === null || text === QUEUED_CHILD) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new FsmError('FSM_DESERIALIZE', `${where.machine} instance ${where.id} has an unreadable waiting_for: ${text.slice(0, 80)}`, { cause, context: where });
  }
  const kind = (parsed as { kind?: unknown } | null)?.kind;
  return kind === 'children' ? (parsed as ChildrenWait) : null;
}
