import { eventHeaders, type ErrorInfo, type FsmEvent, type HistoryRecord, type InstanceRecord } from '@fsmkit/runtime';

/**
 * Column lists and the mapping between records and row values. Booleans are TINYINT(1),
 * dates DATETIME(3) in UTC (the pool runs with `timezone: 'Z'`), structured values JSON text.
 */

export type SqlValue = string | number | Date | null;

export const INSTANCE_COLUMNS = [
  'id',
  'name',
  'user_id',
  'current_state',
  'direction',
  'resume_from_step',
  'save_after_step',
  'kafka_event_topic',
  'serialized_state',
  'created_at',
  'updated_at',
  'is_global_lock',
  'is_local_lock',
  'status',
  'version',
  'definition_hash',
  'definition_version',
  'pause_requested',
  'pause_reason',
  'last_error',
  'attempts',
  'next_run_at',
  'history_seq',
  'event_seq',
  'lease_owner',
  'lease_expires_at',
  'takeovers',
  'priority',
  'wait_message',
  'wait_key',
  'waiting_for',
  'parent_machine',
  'parent_id',
  'chained_from',
] as const;

/**
 * What a commit rewrites, each column with the record field it is written from; `id`, `name`,
 * `created_at`, `version` and the pause flag are handled apart.
 */
const UPDATE_FIELDS = {
  user_id: 'userId',
  current_state: 'currentState',
  direction: 'direction',
  resume_from_step: 'resumeFromStep',
  save_after_step: 'saveAfterStep',
  kafka_event_topic: 'kafkaEventTopic',
  serialized_state: 'serializedState',
  updated_at: 'updatedAt',
  is_global_lock: 'isGlobalLock',
  is_local_lock: 'isLocalLock',
  status: 'status',
  definition_hash: 'definitionHash',
  definition_version: 'definitionVersion',
  last_error: 'lastError',
  attempts: 'attempts',
  next_run_at: 'nextRunAt',
  history_seq: 'historySeq',
  event_seq: 'eventSeq',
  takeovers: 'takeovers',
  priority: 'priority',
  wait_message: 'waitMessage',
  wait_key: 'waitKey',
  waiting_for: 'waitingFor',
  parent_machine: 'parentMachine',
  parent_id: 'parentId',
  chained_from: 'chainedFrom',
  lease_owner: 'leaseOwner',
  lease_expires_at: 'leaseExpiresAt',
} as const satisfies Record<string, keyof InstanceRecord>;

type UpdateColumn = keyof typeof UPDATE_FIELDS;
export const UPDATE_COLUMNS = Object.keys(UPDATE_FIELDS) as UpdateColumn[];
const FIELDS = Object.values(UPDATE_FIELDS);

/** A set of UPDATE_COLUMNS as bits (bit i: column i); every column. */
export const ALL_UPDATE_COLUMNS = 2 ** UPDATE_COLUMNS.length - 1;

/**
 * Written by every commit, changed or not: the lease, which claims change without a new
 * version, and `updated_at`, which changes anyway.
 */
const ALWAYS_WRITTEN = (['updated_at', 'lease_owner', 'lease_expires_at'] satisfies UpdateColumn[]).reduce((bits, c) => bits | (1 << UPDATE_COLUMNS.indexOf(c)), 0);

/**
 * The columns a commit must write: those whose field differs from `previous`, the record as
 * stored at the expected version (every column when it is unknown). Equal fields store equal
 * values, so leaving them out changes nothing; dates compare by time, objects by identity (a
 * new object counts as changed).
 */
export function changedColumns(record: InstanceRecord, previous: InstanceRecord | undefined): number {
  if (previous === undefined) return ALL_UPDATE_COLUMNS;
  let bits = ALWAYS_WRITTEN;
  for (let i = 0; i < FIELDS.length; i++) {
    const field = FIELDS[i]!;
    const a = record[field];
    const b = previous[field];
    if (a === b || (a instanceof Date && b instanceof Date && a.getTime() === b.getTime())) continue;
    bits |= 1 << i;
  }
  return bits;
}

/** The values of the columns in `columns`, from values in UPDATE_COLUMNS order. */
export function pickColumns(values: SqlValue[], columns: number): SqlValue[] {
  if (columns === ALL_UPDATE_COLUMNS) return values;
  const picked: SqlValue[] = [];
  for (let i = 0; i < values.length; i++) if (columns & (1 << i)) picked.push(values[i]!);
  return picked;
}

/**
 * Placeholders other than `?`. An instance lease is written against the database clock: the
 * value sent is its remaining time, so workers on hosts with skewed clocks agree on expiry.
 */
export const PLACEHOLDERS: Partial<Record<string, string>> = {
  lease_expires_at: 'UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND',
  // Retry and start times too: workers compare them with the database clock.
  next_run_at: 'UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND',
};

/** A time on this host's clock as its distance from now, in microseconds, for the placeholders above. */
function fromNow(time: Date | null | undefined): number | null {
  return time == null ? null : (time.getTime() - Date.now()) * 1000;
}

/** Longest lease owner the `lease_owner` column holds. */
export const LEASE_OWNER_CHARS = 128;

export const HISTORY_COLUMNS = [
  'id',
  'instance_id',
  'seq',
  'handler',
  'step',
  'direction',
  'state_before',
  'state_after',
  'data_before',
  'data_after',
  'metadata',
  'error',
  'attempt',
  'started_at',
  'finished_at',
  'transition',
  'actor',
  'result',
] as const;

export const OUTBOX_COLUMNS = [
  'event_id',
  'topic',
  'message_key',
  'machine',
  'instance_id',
  'sequence',
  'event_type',
  'payload',
  'headers',
  'created_at',
] as const;

export type InstanceRow = Record<(typeof INSTANCE_COLUMNS)[number], unknown>;
export type HistoryRow = Record<(typeof HISTORY_COLUMNS)[number], unknown>;

const bit = (v: boolean): number => (v ? 1 : 0);

/** JSON text of the record's structured fields, computed once so sizes can be checked before writing. */
export interface EncodedInstance {
  record: InstanceRecord;
  lastError: string | null;
}

export function insertValues({ record: r, lastError }: EncodedInstance): SqlValue[] {
  return [
    r.id,
    r.machine,
    r.userId,
    r.currentState,
    r.direction,
    r.resumeFromStep,
    bit(r.saveAfterStep),
    r.kafkaEventTopic,
    r.serializedState,
    r.createdAt,
    r.updatedAt,
    bit(r.isGlobalLock),
    bit(r.isLocalLock),
    r.status,
    r.version,
    r.definitionHash,
    r.definitionVersion,
    bit(r.pauseRequested),
    r.pauseReason,
    lastError,
    r.attempts,
    fromNow(r.nextRunAt),
    r.historySeq,
    r.eventSeq,
    ...leaseValues(r),
    r.takeovers,
    ...layout3Values(r),
  ];
}

/** Values in UPDATE_COLUMNS order. */
export function updateValues({ record: r, lastError }: EncodedInstance): SqlValue[] {
  return [
    r.userId,
    r.currentState,
    r.direction,
    r.resumeFromStep,
    bit(r.saveAfterStep),
    r.kafkaEventTopic,
    r.serializedState,
    r.updatedAt,
    bit(r.isGlobalLock),
    bit(r.isLocalLock),
    r.status,
    r.definitionHash,
    r.definitionVersion,
    lastError,
    r.attempts,
    fromNow(r.nextRunAt),
    r.historySeq,
    r.eventSeq,
    r.takeovers,
    ...layout3Values(r),
    ...leaseValues(r),
  ];
}

/** Priority, wait, parent and chain columns, in INSTANCE_COLUMNS order. */
function layout3Values(r: InstanceRecord): SqlValue[] {
  return [r.priority, r.waitMessage, r.waitKey, r.waitingFor, r.parentMachine, r.parentId, r.chainedFrom];
}

/** Owner, and the lease's remaining time in microseconds from now (see PLACEHOLDERS). */
function leaseValues(r: InstanceRecord): SqlValue[] {
  return [r.leaseOwner?.slice(0, LEASE_OWNER_CHARS) ?? null, fromNow(r.leaseExpiresAt)];
}

export function instanceFromRow(row: InstanceRow): InstanceRecord {
  return {
    id: row.id as string,
    machine: row.name as string,
    userId: row.user_id as string | null,
    currentState: row.current_state as string,
    status: row.status as InstanceRecord['status'],
    direction: row.direction as InstanceRecord['direction'],
    resumeFromStep: row.resume_from_step as number | null,
    saveAfterStep: row.save_after_step === 1,
    kafkaEventTopic: row.kafka_event_topic as string | null,
    serializedState: row.serialized_state as string,
    version: row.version as number,
    definitionHash: row.definition_hash as string,
    definitionVersion: row.definition_version as number,
    isGlobalLock: row.is_global_lock === 1,
    isLocalLock: row.is_local_lock === 1,
    pauseRequested: row.pause_requested === 1,
    pauseReason: row.pause_reason as string | null,
    lastError: parseErrorInfo(row.last_error),
    attempts: row.attempts as number,
    nextRunAt: row.next_run_at as Date | null,
    historySeq: row.history_seq as number,
    eventSeq: row.event_seq as number,
    takeovers: (row.takeovers as number | undefined) ?? 0,
    priority: (row.priority as number | undefined) ?? 0,
    waitMessage: (row.wait_message as string | null | undefined) ?? null,
    waitKey: (row.wait_key as string | null | undefined) ?? null,
    waitingFor: (row.waiting_for as string | null | undefined) ?? null,
    parentMachine: (row.parent_machine as string | null | undefined) ?? null,
    parentId: (row.parent_id as string | null | undefined) ?? null,
    chainedFrom: (row.chained_from as string | null | undefined) ?? null,
    leaseOwner: row.lease_owner as string | null,
    leaseExpiresAt: row.lease_expires_at as Date | null,
    createdAt: row.created_at as Date,
    updatedAt: row.updated_at as Date,
  };
}

export interface EncodedHistory {
  record: HistoryRecord;
  metadata: string;
  error: string | null;
}

export function historyValues({ record: h, metadata, error }: EncodedHistory): SqlValue[] {
  return [
    h.id,
    h.instanceId,
    h.seq,
    h.handler,
    h.step,
    h.direction,
    h.stateBefore,
    h.stateAfter,
    h.dataBefore,
    h.dataAfter,
    metadata,
    error,
    h.attempt,
    h.startedAt,
    h.finishedAt,
    h.transition,
    h.actor,
    h.result,
  ];
}

export function historyFromRow(machine: string, row: HistoryRow): HistoryRecord {
  return {
    id: row.id as string,
    instanceId: row.instance_id as string,
    machine,
    seq: row.seq as number,
    handler: row.handler as string,
    step: row.step as string,
    direction: row.direction as HistoryRecord['direction'],
    stateBefore: row.state_before as string,
    stateAfter: row.state_after as string,
    dataBefore: row.data_before as string,
    dataAfter: row.data_after as string,
    metadata: parseMetadata(row.metadata),
    error: parseErrorInfo(row.error),
    attempt: row.attempt as number,
    startedAt: row.started_at as Date,
    finishedAt: row.finished_at as Date,
    transition: (row.transition as string | null | undefined) ?? null,
    actor: (row.actor as string | null | undefined) ?? null,
    result: (row.result as string | null | undefined) ?? null,
  };
}

export interface EncodedEvent {
  event: FsmEvent;
  payload: string;
}


export function outboxValues({ event: e, payload }: EncodedEvent, fallbackTime: Date): SqlValue[] {
  const time = new Date(e.time);
  return [
    e.eventId,
    e.topic,
    e.instanceId,
    e.machine,
    e.instanceId,
    e.sequence,
    e.type,
    payload,
    JSON.stringify(eventHeaders(e)),
    Number.isNaN(time.getTime()) ? fallbackTime : time,
  ];
}

/** Rows written by hand or by older versions may hold anything; reading them must not throw. */
function parseJson(text: unknown): unknown {
  if (typeof text !== 'string') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function parseErrorInfo(text: unknown): ErrorInfo | null {
  if (text === null) return null;
  const value = parseJson(text);
  if (typeof value === 'object' && value !== null && typeof (value as ErrorInfo).message === 'string') {
    return value as ErrorInfo;
  }
  return { name: 'UnreadableError', message: String(text) };
}

function parseMetadata(text: unknown): Record<string, unknown> {
  const value = parseJson(text);
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
