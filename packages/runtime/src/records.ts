import type { ErrorInfo } from './errors.js';

export type InstanceStatus = 'ready' | 'running' | 'waiting' | 'paused' | 'done' | 'failed' | 'compensated';
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
}

export type FsmEventType =
  | 'instance.created'
  | 'step.completed'
  | 'step.failed'
  | 'step.compensated'
  | 'instance.waiting'
  | 'instance.paused'
  | 'instance.resumed'
  | 'instance.failed'
  | 'instance.compensated'
  | 'instance.done';

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
}
