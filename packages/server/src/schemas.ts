/**
 * JSON Schemas of requests and responses: fastify validates requests with them and the
 * OpenAPI document is built from the same objects, so the two cannot drift apart.
 */
import { INSTANCE_STATUSES } from '@fsmkit/runtime';

const dateTime = { type: 'string', format: 'date-time' } as const;
const nullableString = { type: ['string', 'null'] } as const;

export const errorInfoSchema = {
  type: ['object', 'null'],
  properties: { name: { type: 'string' }, message: { type: 'string' }, code: { type: 'string' } },
  required: ['name', 'message'],
} as const;

export const statusSchema = { type: 'string', enum: [...INSTANCE_STATUSES] } as const;

export const summaryProperties = {
  id: { type: 'string' },
  machine: { type: 'string' },
  userId: nullableString,
  state: { type: 'string' },
  status: statusSchema,
  direction: { type: 'string', enum: ['forward', 'backward'] },
  version: { type: 'integer' },
  attempts: { type: 'integer' },
  pauseRequested: { type: 'boolean' },
  pauseReason: nullableString,
  error: errorInfoSchema,
  nextRunAt: { type: ['string', 'null'], format: 'date-time' },
  createdAt: dateTime,
  updatedAt: dateTime,
} as const;
const summaryRequired = ['id', 'machine', 'userId', 'state', 'status', 'direction', 'version', 'createdAt', 'updatedAt'];

export const summarySchema = { type: 'object', properties: summaryProperties, required: summaryRequired } as const;

/** One instance; `data` is the machine's data schema in the OpenAPI document. */
export function instanceSchema(data: object): object {
  return {
    type: 'object',
    properties: {
      ...summaryProperties,
      resumeFromStep: { type: ['integer', 'null'] },
      definitionVersion: { type: 'integer' },
      data,
      dataError: { type: 'string' },
    },
    required: [...summaryRequired, 'data'],
  };
}

export function historySchema(data: object): object {
  return {
    type: 'object',
    properties: {
      seq: { type: 'integer' },
      handler: { type: 'string' },
      step: { type: 'string' },
      direction: { type: 'string', enum: ['forward', 'backward'] },
      stateBefore: { type: 'string' },
      stateAfter: { type: 'string' },
      dataBefore: data,
      dataAfter: data,
      metadata: { type: 'object' },
      error: errorInfoSchema,
      attempt: { type: 'integer' },
      startedAt: dateTime,
      finishedAt: dateTime,
      durationMs: { type: 'number' },
      transition: nullableString,
      actor: nullableString,
      result: {},
    },
    required: ['seq', 'handler', 'step', 'direction', 'stateBefore', 'stateAfter', 'startedAt', 'finishedAt', 'durationMs'],
  };
}

export const currentSchema = {
  type: 'object',
  properties: { id: { type: 'string' }, machine: { type: 'string' }, state: { type: 'string' }, status: statusSchema, version: { type: 'integer' }, updatedAt: dateTime },
  required: ['id', 'machine', 'state', 'status', 'version', 'updatedAt'],
} as const;

export const problemSchema = {
  type: 'object',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    code: { type: 'string', pattern: '^FSM_[A-Z_]+$' },
    errors: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } },
  },
  required: ['type', 'title', 'status', 'detail', 'code'],
} as const;

const stepStats = {
  type: 'object',
  properties: {
    step: { type: 'string' },
    direction: { type: 'string' },
    count: { type: 'integer' },
    failures: { type: 'integer' },
    avgMs: { type: 'number' },
    p50Ms: { type: 'number' },
    p95Ms: { type: 'number' },
    p99Ms: { type: 'number' },
    sumMs: { type: 'number' },
  },
  required: ['step', 'direction', 'count', 'failures', 'avgMs', 'p50Ms', 'p95Ms', 'p99Ms'],
} as const;

export const statsSchema = {
  type: 'object',
  properties: {
    machine: { type: 'string' },
    total: { type: 'integer' },
    byStatus: { type: 'object', additionalProperties: { type: 'integer' } },
    byState: { type: 'object', additionalProperties: { type: 'integer' } },
    steps: { type: 'array', items: stepStats },
    timeline: {
      type: 'array',
      items: {
        type: 'object',
        properties: { at: dateTime, done: { type: 'integer' }, failed: { type: 'integer' }, compensated: { type: 'integer' } },
        required: ['at', 'done', 'failed', 'compensated'],
      },
    },
  },
  required: ['machine', 'total', 'byStatus', 'byState', 'steps', 'timeline'],
} as const;

export const outboxEventSchema = {
  type: 'object',
  properties: {
    machine: { type: 'string' },
    instanceId: { type: 'string' },
    sequence: { type: 'integer' },
    type: { type: 'string' },
    createdAt: dateTime,
    sentAt: { type: ['string', 'null'], format: 'date-time' },
    attempts: { type: 'integer' },
    lastError: nullableString,
  },
  required: ['machine', 'instanceId', 'sequence', 'type', 'createdAt', 'sentAt', 'attempts'],
} as const;

// ---- requests ------------------------------------------------------------------------------

const idParam = { type: 'string', minLength: 1, maxLength: 64 } as const;
export const machineParams = { type: 'object', properties: { machine: { type: 'string', maxLength: 64 } }, required: ['machine'] } as const;
export const instanceParams = {
  type: 'object',
  properties: { machine: { type: 'string', maxLength: 64 }, id: idParam },
  required: ['machine', 'id'],
} as const;

const csv = { type: 'string', maxLength: 2000 } as const;
export const listQuery = {
  type: 'object',
  properties: {
    status: { ...csv, description: 'comma-separated statuses' },
    state: { ...csv, description: 'comma-separated states' },
    user: { type: 'string', maxLength: 191 },
    parent: { type: 'string', minLength: 1, maxLength: 36, description: 'only children of this instance' },
    createdAfter: dateTime,
    createdBefore: dateTime,
    updatedAfter: dateTime,
    updatedBefore: dateTime,
    orderBy: { type: 'string', enum: ['id', 'createdAt', 'updatedAt'] },
    order: { type: 'string', enum: ['asc', 'desc'] },
    limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
    offset: { type: 'integer', minimum: 0, maximum: 1_000_000, default: 0 },
  },
  additionalProperties: false,
} as const;

export const countQuery = {
  ...listQuery,
  properties: Object.fromEntries(Object.entries(listQuery.properties).filter(([k]) => !['limit', 'offset', 'orderBy', 'order'].includes(k))),
} as const;

export const statsQuery = {
  type: 'object',
  properties: { from: dateTime, to: dateTime, bucketSeconds: { type: 'integer', minimum: 60, maximum: 31_536_000 } },
  additionalProperties: false,
} as const;

export const historyQuery = {
  type: 'object',
  properties: { limit: { type: 'integer', minimum: 1, maximum: 10_000 }, since: dateTime },
  additionalProperties: false,
} as const;

export const currentStatesBody = {
  type: 'object',
  properties: { ids: { type: 'array', items: idParam, maxItems: 1000 } },
  required: ['ids'],
  additionalProperties: false,
} as const;

export const startBody = {
  type: 'object',
  properties: {
    data: { type: 'object' },
    userId: { type: ['string', 'null'], maxLength: 191 },
    id: { type: 'string', minLength: 1, maxLength: 36 },
    run: { type: 'boolean', description: 'false: only store it (ready), for a worker to run' },
    priority: { type: 'integer', minimum: -2_147_483_648, maximum: 2_147_483_647, description: 'workers claim higher priorities first (default 0)' },
  },
  required: ['data'],
  additionalProperties: false,
} as const;

export const deliverBody = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 64, description: 'the message name a step waits for' },
    key: { type: 'string', minLength: 1, maxLength: 191, description: 'the correlation key the waiting step gave' },
    payload: { description: "checked against the waiting step's payload schema" },
    messageId: { type: 'string', minLength: 1, maxLength: 191, description: 'the same id delivered again has no effect' },
  },
  required: ['name', 'key'],
  additionalProperties: false,
} as const;

export const pauseBody = {
  type: 'object',
  properties: { reason: { type: 'string', maxLength: 1024 } },
  additionalProperties: false,
} as const;

export const resumeBody = {
  type: 'object',
  properties: { patch: { type: 'object' } },
  additionalProperties: false,
} as const;

export const emptyBody = { type: 'object', additionalProperties: false } as const;

export const transitionBody = {
  type: 'object',
  properties: { name: { type: 'string', minLength: 1, maxLength: 64 }, input: {} },
  required: ['name'],
  additionalProperties: false,
} as const;
