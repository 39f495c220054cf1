import { toJsonSafe, type HistoryEntry, type Instance, type InstanceRecord } from '@fsmkit/runtime';
import { redact } from './redact.js';

/** An instance without its data, straight from the stored record (no deserialization). */
export function summaryView(r: InstanceRecord) {
  return {
    id: r.id,
    machine: r.machine,
    userId: r.userId,
    state: r.currentState,
    status: r.status,
    direction: r.direction,
    version: r.version,
    attempts: r.attempts,
    pauseRequested: r.pauseRequested,
    pauseReason: r.pauseReason,
    error: errorView(r.lastError),
    nextRunAt: r.nextRunAt?.toISOString() ?? null,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

/** Name, message and code only: a stack trace tells an API caller nothing it should know. */
function errorView(e: { name: string; message: string; code?: string } | null) {
  return e && { name: e.name, message: e.message, ...(e.code ? { code: e.code } : {}) };
}

export function instanceView(i: Instance, paths: string[][]) {
  return {
    id: i.id,
    machine: i.machine,
    userId: i.userId,
    state: i.state,
    status: i.status,
    direction: i.direction,
    version: i.version,
    attempts: i.attempts,
    pauseRequested: i.pauseRequested,
    pauseReason: i.pauseReason,
    error: errorView(i.error),
    nextRunAt: i.nextRunAt?.toISOString() ?? null,
    createdAt: i.createdAt.toISOString(),
    updatedAt: i.updatedAt.toISOString(),
    resumeFromStep: i.resumeFromStep,
    definitionVersion: i.definitionVersion,
    data: i.dataError ? null : redact(toJsonSafe(i.data) ?? null, paths),
    ...(i.dataError ? { dataError: i.dataError.message } : {}),
  };
}

export function historyView(h: HistoryEntry, paths: string[][]) {
  let result: unknown = null;
  if (h.result !== null) {
    try {
      result = JSON.parse(h.result) as unknown;
    } catch {
      result = h.result;
    }
  }
  return {
    seq: h.seq,
    handler: h.handler,
    step: h.step,
    direction: h.direction,
    stateBefore: h.stateBefore,
    stateAfter: h.stateAfter,
    dataBefore: redact(toJsonSafe(h.dataBefore) ?? null, paths),
    dataAfter: redact(toJsonSafe(h.dataAfter) ?? null, paths),
    metadata: toJsonSafe(h.metadata) ?? {},
    error: errorView(h.error),
    attempt: h.attempt,
    startedAt: h.startedAt.toISOString(),
    finishedAt: h.finishedAt.toISOString(),
    durationMs: h.finishedAt.getTime() - h.startedAt.getTime(),
    transition: h.transition,
    actor: h.actor,
    result,
  };
}
