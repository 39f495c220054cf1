import type { StepModel } from '@fsmkit/decorators';
import { FsmError } from '../errors.js';
import type { InstanceRecord } from '../records.js';

/**
 * What a completed step asks the instance to wait for before its next step. The step's work is
 * committed in the same commit that starts the wait; the wait is stored on the instance
 * (`waitingFor`, and for messages `waitMessage`/`waitKey`, indexed), never slept in a process.
 */
export type Wait =
  | { kind: 'timer'; delayMs: number }
  | { kind: 'message'; name: string; key: string; timeoutMs: number | null; onTimeout: string | null }
  | ChildrenWait;

/** A wait as `waitingFor` stores it: what began it, and for a message, what came. */
export type StoredWait =
  | { kind: 'timer'; step: string }
  | { kind: 'message'; step: string; name: string; key: string; onTimeout: string | null; received?: ReceivedText };

/** A delivered message as stored on the instance until the step after the wait completes. */
export interface ReceivedText {
  payload: unknown;
  messageId: string | null;
}

/** A message kept in a store's inbox: delivered while nobody waited for it. */
export interface InboxMessage {
  /** JSON text of the payload. */
  payload: string;
  messageId: string | null;
}

/** Longest correlation key: the `wait_key` column. */
export const MAX_KEY_CHARS = 191;

export function storedWait(text: string | null): StoredWait | null {
  if (text === null) return null;
  const parsed = JSON.parse(text) as { kind?: string };
  return parsed.kind === 'timer' || parsed.kind === 'message' ? (parsed as StoredWait) : null;
}

/** The wait a step's handler asked for, else the one its `@Step` declares, else none. */
export function requestedWait(step: StepModel, asked: Wait | null, data: unknown): Wait | null {
  if (asked !== null) return asked;
  const w = step.wait;
  if (w === undefined) return null;
  if (w.kind === 'timer') return { kind: 'timer', delayMs: w.ms };
  const field = w.key === undefined ? undefined : (data as Record<string, unknown> | null)?.[w.key];
  if (typeof field !== 'string' && typeof field !== 'number') {
    throw new FsmError(
      'FSM_WAIT_INVALID',
      `step "${step.name}" waits for message "${w.message}" but has no key: ` +
        (w.key === undefined ? 'call ctx.waitFor(message, { key }) or declare waitFor.key' : `data field "${w.key}" holds no string or number`),
      { context: { step: step.name, message: w.message } },
    );
  }
  return { kind: 'message', name: w.message, key: String(field), timeoutMs: w.timeoutMs ?? null, onTimeout: w.onTimeout ?? null };
}

/** Checks a correlation key as the stores keep it; FSM_WAIT_INVALID (or `code`) when unusable. */
export function checkKey(key: unknown, code: 'FSM_WAIT_INVALID' | 'FSM_INPUT_INVALID', context: Record<string, unknown>): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_CHARS) {
    throw new FsmError(code, `a message key must be a non-empty string of at most ${MAX_KEY_CHARS} characters, got ${JSON.stringify(key)}`, { context });
  }
  return key;
}

/**
 * The record a waiting instance becomes when a message ends its wait: the message stored where
 * the next step reads it, the timer cancelled (no due time), the wait key cleared, so that the
 * same message cannot take it twice. `lease`: the taker drives it at once (running, leased);
 * without it the instance is ready for anyone.
 */
export function receivedRecord(rec: InstanceRecord, message: InboxMessage, lease: { owner: string; leaseMs: number } | null): InstanceRecord | null {
  const wait = storedWait(rec.waitingFor);
  if (wait?.kind !== 'message' || wait.received !== undefined) return null;
  const received: StoredWait = { ...wait, received: { payload: JSON.parse(message.payload) as unknown, messageId: message.messageId } };
  const now = new Date();
  return {
    ...rec,
    status: lease ? 'running' : 'ready',
    waitMessage: null,
    waitKey: null,
    nextRunAt: null,
    waitingFor: JSON.stringify(received),
    leaseOwner: lease?.owner ?? null,
    leaseExpiresAt: lease ? new Date(now.getTime() + lease.leaseMs) : null,
    updatedAt: now,
    version: rec.version + 1,
  };
}

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

export function encodeWait(wait: ChildrenWait): string {
  return JSON.stringify(wait);
}

/** The children a record waits for; null when it waits for something else or nothing. */
export function decodeWait(text: string | null, where: { machine: string; id: string }): ChildrenWait | null {
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
