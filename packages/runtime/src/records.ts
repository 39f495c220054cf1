import type { ErrorInfo } from './errors.js';

/**
 * `idle`: stopped until a call moves it (at a state only named transitions leave, or after
 * `next(id)` / `back(id)`); workers never pick it up. `waiting`: a worker continues it when due.
 */
export type InstanceStatus = 'ready' | 'running' | 'waiting' | 'idle' | 'paused' | 'done' | 'failed' | 'compensated';

/** Every status, in the order tools list them. */
export const INSTANCE_STATUSES = ['ready', 'running', 'waiting', 'idle', 'paused', 'done', 'failed', 'compensated'] as const satisfies readonly InstanceStatus[];
export type Direction = 'forward' | 'backward';

/**
 * An instance as a store keeps it: data already serialized, every field a column.
 * Stores copy records in and out; they never hold a caller's object.
 */
export interface InstanceRecord {
  /** UUIDv7: time-ordered. */
  id: string;
  machine: string;
  userId: string | null;
  /** Next step to run (forward), next step to undo (backward), or a terminal state. */
  currentState: string;
  status: InstanceStatus;
  direction: Direction;
  /** Order of the step a paused or stopped instance continues from; null when terminal. */
  resumeFromStep: number | null;
  saveAfterStep: boolean;
  kafkaEventTopic: string | null;
  /** Serializer output for the instance's data. */
  serializedState: string;
  /** Optimistic concurrency: bumped by every commit. */
  version: number;
  definitionHash: string;
  definitionVersion: number;
  isGlobalLock: boolean;
  isLocalLock: boolean;
  /** Set by `pause(id)` from anywhere; honoured at the next step boundary. */
  pauseRequested: boolean;
  pauseReason: string | null;
  lastError: ErrorInfo | null;
  /** Failed attempts of the current step so far. */
  attempts: number;
  /** When a worker may next pick the instance up (retry backoff, scheduled continuation). */
  nextRunAt: Date | null;
  /** Process driving the instance and until when: a worker takes over an expired lease. */
  leaseOwner?: string | null;
  leaseExpiresAt?: Date | null;
  /** Times a worker took the instance over from a drive whose lease ran out (its process died). */
  takeovers: number;
  /** Workers claim higher priorities first (then the earliest due); 0 by default. */
  priority: number;
  /** The message a waiting instance waits for, and its correlation key: looked up by both. */
  waitMessage: string | null;
  waitKey: string | null;
  /** What the instance waits for (timer, message, children), as the engine's JSON text; null when not waiting on anything. */
  waitingFor: string | null;
  /** The instance that spawned this one as its child. */
  parentMachine: string | null;
  parentId: string | null;
  /** Where a chained instance started from (`{ machine, id, step? }` as JSON text); null otherwise. */
  chainedFrom: string | null;
  /** Counters for history rows and events, so both are strictly ordered per instance. */
  historySeq: number;
  eventSeq: number;
  createdAt: Date;
  updatedAt: Date;
}

/** One executed handler. */
export interface HistoryRecord {
  id: string;
  instanceId: string;
  machine: string;
  /** 1, 2, 3... per instance. */
  seq: number;
  /** Method that ran: a step or its back handler. */
  handler: string;
  step: string;
  direction: Direction;
  stateBefore: string;
  stateAfter: string;
  /** Serialized data before and after the handler. */
  dataBefore: string;
  dataAfter: string;
  /** Whatever the handler attached with `ctx.annotate()`. */
  metadata: Record<string, unknown>;
  error: ErrorInfo | null;
  attempt: number;
  startedAt: Date;
  finishedAt: Date;
  /** The named transition this entry records (its `step` is then the state it left); null for steps. */
  transition: string | null;
  /** Who executed it, as the caller said; null when not given. */
  actor: string | null;
  /** What a transition method returned, as JSON text; null for steps and for nothing returned. */
  result: string | null;
}

export type FsmEventType =
  | 'instance.created'
  | 'transition.completed'
  | 'step.caught'
  | 'step.completed'
  | 'step.failed'
  | 'step.compensated'
  | 'instance.waiting'
  | 'instance.paused'
  | 'instance.resumed'
  | 'instance.failed'
  | 'instance.compensated'
  | 'instance.done';

/** Every event type, in the order tools list them. */
export const EVENT_TYPES = [
  'instance.created',
  'transition.completed',
  'step.caught',
  'step.completed',
  'step.failed',
  'step.compensated',
  'instance.waiting',
  'instance.paused',
  'instance.resumed',
  'instance.failed',
  'instance.compensated',
  'instance.done',
] as const satisfies readonly FsmEventType[];

/** One state change, as published on the machine's topic (key: instanceId). */
export interface FsmEvent {
  /** UUIDv7; consumers drop duplicates by it. */
  eventId: string;
  type: FsmEventType;
  schemaVersion: number;
  machine: string;
  topic: string;
  instanceId: string;
  userId: string | null;
  from: string;
  to: string;
  status: InstanceStatus;
  direction: Direction;
  step: string | null;
  /** 1, 2, 3... per instance: order of events of one instance. */
  sequence: number;
  time: string;
  /** The instance's data in plain JSON (Dates as ISO strings, BigInt as strings, Map as object, Set as array). */
  data: unknown;
  /** `transition.completed`: the transition's name and who executed it. */
  transition?: string;
  actor?: string | null;
  /** W3C trace context of the span that made the change, when the application traces (Kafka header `traceparent`). */
  traceparent?: string;
}
