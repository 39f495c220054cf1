import type { FsmError, ErrorInfo } from './errors.js';
import { readChainLink, type ChainLink } from './chain.js';
import type { Direction, HistoryRecord, InstanceRecord, InstanceStatus } from './records.js';

/** An instance as callers see it: typed state and data. */
export interface Instance<TData = unknown, TState extends string = string> {
  id: string;
  machine: string;
  userId: string | null;
  state: TState;
  status: InstanceStatus;
  direction: Direction;
  resumeFromStep: number | null;
  data: TData;
  /** Set instead of `data` when the stored data cannot be read (see FSM_DESERIALIZE). */
  dataError?: FsmError;
  version: number;
  definitionHash: string;
  definitionVersion: number;
  topic: string | null;
  saveAfterStep: boolean;
  isGlobalLock: boolean;
  isLocalLock: boolean;
  pauseRequested: boolean;
  pauseReason: string | null;
  error: ErrorInfo | null;
  attempts: number;
  nextRunAt: Date | null;
  /** Workers claim higher priorities first. */
  priority: number;
  /** The instance this one was started from (`start(data, { from })`); null otherwise. */
  chainedFrom: ChainLink | null;
  createdAt: Date;
  updatedAt: Date;
}

/** One executed handler, with data read back. */
export interface HistoryEntry<TData = unknown> extends Omit<HistoryRecord, 'dataBefore' | 'dataAfter'> {
  dataBefore: TData;
  dataAfter: TData;
}

export function toInstance<TData, TState extends string>(rec: InstanceRecord, data: TData): Instance<TData, TState> {
  return {
    id: rec.id,
    machine: rec.machine,
    userId: rec.userId,
    state: rec.currentState as TState,
    status: rec.status,
    direction: rec.direction,
    resumeFromStep: rec.resumeFromStep,
    data,
    version: rec.version,
    definitionHash: rec.definitionHash,
    definitionVersion: rec.definitionVersion,
    topic: rec.kafkaEventTopic,
    saveAfterStep: rec.saveAfterStep,
    isGlobalLock: rec.isGlobalLock,
    isLocalLock: rec.isLocalLock,
    pauseRequested: rec.pauseRequested,
    pauseReason: rec.pauseReason,
    error: rec.lastError,
    attempts: rec.attempts,
    nextRunAt: rec.nextRunAt,
    priority: rec.priority,
    chainedFrom: readChainLink(rec.chainedFrom),
    createdAt: rec.createdAt,
    updatedAt: rec.updatedAt,
  };
}
