import { errorInfo } from '../errors.js';
import { uuidv7 } from '../ids.js';
import { toJsonSafe } from '../json-safe.js';
import type { Direction, FsmEvent, FsmEventType, HistoryRecord, InstanceRecord, InstanceStatus } from '../records.js';
import { currentTraceparent } from './tracing.js';

/** Version of the event payload's shape; bumped when a field changes meaning. */
export const EVENT_SCHEMA_VERSION = 1;

/** One history row of `rec`, taking the next sequence number. */
export function historyRow(
  rec: InstanceRecord,
  row: {
    handler: string;
    step: string;
    stateBefore: string;
    stateAfter: string;
    dataBefore: string;
    dataAfter: string;
    metadata: Record<string, unknown>;
    error: unknown;
    attempt: number;
    startedAt: Date;
    direction?: Direction;
    transition?: string | null;
    actor?: string | null;
    result?: string | null;
  },
): HistoryRecord {
  return {
    id: uuidv7(),
    instanceId: rec.id,
    machine: rec.machine,
    seq: ++rec.historySeq,
    handler: row.handler,
    step: row.step,
    direction: row.direction ?? rec.direction,
    stateBefore: row.stateBefore,
    stateAfter: row.stateAfter,
    dataBefore: row.dataBefore,
    dataAfter: row.dataAfter,
    metadata: row.metadata,
    error: row.error === null ? null : errorInfo(row.error),
    attempt: row.attempt,
    startedAt: row.startedAt,
    finishedAt: new Date(),
    transition: row.transition ?? null,
    actor: row.actor ?? null,
    result: row.result ?? null,
  };
}

/** Appends the event of a state change of `rec` to `events`, when the instance publishes events. */
export function pushEvent(
  events: FsmEvent[],
  rec: InstanceRecord,
  e: { type: FsmEventType; from: string; to: string; step: string | null; data: unknown; time?: Date; transition?: string; actor?: string | null },
): void {
  if (rec.kafkaEventTopic === null) return;
  const time = e.time ?? new Date();
  const event: FsmEvent = {
    eventId: uuidv7(time.getTime()),
    type: e.type,
    schemaVersion: EVENT_SCHEMA_VERSION,
    machine: rec.machine,
    topic: rec.kafkaEventTopic,
    instanceId: rec.id,
    userId: rec.userId,
    from: e.from,
    to: e.to,
    status: statusOf(e.type, rec.status),
    direction: rec.direction,
    step: e.step,
    sequence: ++rec.eventSeq,
    time: time.toISOString(),
    data: toJsonSafe(e.data),
  };
  if (e.transition !== undefined) {
    event.transition = e.transition;
    event.actor = e.actor ?? null;
  }
  const traceparent = currentTraceparent();
  if (traceparent !== undefined) event.traceparent = traceparent;
  events.push(event);
}

/** The status an event reports: the one it ends in, or running for a change along the way. */
function statusOf(type: FsmEventType, current: InstanceStatus): InstanceStatus {
  switch (type) {
    case 'instance.created':
      return current === 'idle' ? 'idle' : 'ready';
    case 'instance.waiting':
      return current === 'idle' ? 'idle' : 'waiting';
    case 'instance.paused':
      return 'paused';
    case 'instance.failed':
      return 'failed';
    case 'instance.done':
      return 'done';
    case 'instance.compensated':
      return 'compensated';
    default:
      return current === 'ready' || current === 'waiting' || current === 'paused' || current === 'idle' ? 'running' : current;
  }
}
