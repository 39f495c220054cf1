import type { ServedMachine } from './options.js';
import * as S from './schemas.js';

type Obj = Record<string, unknown>;

const ref = (name: string): Obj => ({ $ref: `#/components/schemas/${name}` });
const safe = (name: string): string => name.replace(/[^A-Za-z0-9._-]/g, '_');
const json = (schema: Obj): Obj => ({ 'application/json': { schema } });

const problems = (...codes: number[]): Obj =>
  Object.fromEntries(
    [401, 403, ...codes].map((status) => [
      String(status),
      { description: `problem (RFC 9457), status ${status}`, content: { 'application/problem+json': { schema: ref('Problem') } } },
    ]),
  );

function queryParams(schema: { properties: Obj }): Obj[] {
  return Object.entries(schema.properties).map(([name, s]) => ({ name, in: 'query', required: false, schema: s }));
}

const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };

/**
 * A schema from a model, embedded in the document: given an `$id`, so the `#/...` references
 * inside it still point into it and not at the OpenAPI document.
 */
function embedded(schema: Obj, id: string): Obj {
  return schema['$id'] === undefined ? { $id: id, ...schema } : schema;
}

/** The OpenAPI 3.1 document of the served machines: their data and transition inputs included. */
export function buildOpenApi(machines: ServedMachine[]): Obj {
  const schemas: Obj = {
    Problem: S.problemSchema,
    InstanceSummary: S.summarySchema,
    Current: S.currentSchema,
    Stats: S.statsSchema,
    OutboxEvent: S.outboxEventSchema,
  };
  const paths: Obj = {
    '/api/machines': {
      get: {
        operationId: 'listMachines',
        summary: 'The served machines with their models',
        responses: { '200': { description: 'machines', content: json({ type: 'object', properties: { machines: { type: 'array' } } }) }, ...problems() },
      },
    },
    '/api/trouble': {
      get: {
        operationId: 'trouble',
        summary: 'Failed instances, expired leases and takeovers, per machine',
        responses: { '200': { description: 'trouble', content: json({ type: 'object', properties: { machines: { type: 'array' } } }) }, ...problems() },
      },
    },
    '/metrics': {
      get: {
        operationId: 'metrics',
        summary: 'Prometheus metrics',
        responses: { '200': { description: 'Prometheus text format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } }, ...problems() },
      },
    },
  };
  for (const { runner, dataSchema } of machines) {
    const model = runner.model;
    const m = model.name;
    const p = safe(m);
    const tag = m;
    schemas[`${p}_Data`] = dataSchema ? embedded(dataSchema, `urn:fsmkit:schema:${m}:data`) : { type: 'object', description: `data of ${m}` };
    schemas[`${p}_Instance`] = S.instanceSchema(ref(`${p}_Data`));
    schemas[`${p}_HistoryEntry`] = S.historySchema(ref(`${p}_Data`));
    const inputs: Obj[] = [];
    for (const t of model.transitions ?? []) {
      const name = `${p}_TransitionInput_${safe(t.name)}`;
      schemas[name] = t.input ? embedded(t.input, `urn:fsmkit:schema:${m}:transition:${t.name}`) : { type: 'object' };
      inputs.push({
        type: 'object',
        title: t.name,
        description: `from ${t.from.join(', ')} to ${t.to}`,
        properties: { name: { const: t.name }, input: ref(name) },
        required: ['name'],
        additionalProperties: false,
      });
    }
    const instance = (description: string, status = '200'): Obj => ({ [status]: { description, content: json(ref(`${p}_Instance`)) } });
    const action = (op: string, summary: string, body: Obj): Obj => ({
      post: {
        operationId: `${op}_${p}`,
        tags: [tag],
        summary,
        parameters: [idParam],
        requestBody: { required: false, content: json(body) },
        responses: { ...instance('the instance after the call'), ...problems(400, 404, 409, 413, 422) },
      },
    });
    const base = `/api/fsm/${m}`;
    paths[`${base}/instances`] = {
      get: {
        operationId: `list_${p}`,
        tags: [tag],
        summary: `List ${m} instances`,
        parameters: queryParams(S.listQuery),
        responses: {
          '200': {
            description: 'a page of instances',
            content: json({ type: 'object', properties: { items: { type: 'array', items: ref('InstanceSummary') }, limit: { type: 'integer' }, offset: { type: 'integer' } }, required: ['items'] }),
          },
          ...problems(400, 404),
        },
      },
      post: {
        operationId: `start_${p}`,
        tags: [tag],
        summary: `Start a ${m} instance (or only store it, with run: false)`,
        requestBody: { required: true, content: json({ ...S.startBody, properties: { ...S.startBody.properties, data: ref(`${p}_Data`) } }) },
        responses: { ...instance('the new instance', '201'), ...problems(400, 409, 413, 422) },
      },
    };
    paths[`${base}/count`] = {
      get: {
        operationId: `count_${p}`,
        tags: [tag],
        summary: `Count ${m} instances`,
        parameters: queryParams(S.countQuery as unknown as { properties: Obj }),
        responses: { '200': { description: 'count', content: json({ type: 'object', properties: { count: { type: 'integer' } }, required: ['count'] }) }, ...problems(400, 404) },
      },
    };
    paths[`${base}/stats`] = {
      get: {
        operationId: `stats_${p}`,
        tags: [tag],
        summary: 'Counts by status and state, step durations, finished instances over time',
        parameters: queryParams(S.statsQuery),
        responses: { '200': { description: 'statistics', content: json(ref('Stats')) }, ...problems(400, 404, 501) },
      },
    };
    paths[`${base}/current-states`] = {
      post: {
        operationId: `currentStates_${p}`,
        tags: [tag],
        summary: 'Current state of many instances; unknown ids are absent',
        requestBody: { required: true, content: json(S.currentStatesBody) },
        responses: {
          '200': { description: 'states by id', content: json({ type: 'object', properties: { states: { type: 'object', additionalProperties: { type: 'string' } } }, required: ['states'] }) },
          ...problems(400, 404),
        },
      },
    };
    paths[`${base}/messages`] = {
      post: {
        operationId: `deliver_${p}`,
        tags: [tag],
        summary: 'Deliver a message to the instance waiting for it by name and key (kept in the inbox when none waits yet)',
        requestBody: { required: true, content: json(S.deliverBody) },
        responses: {
          '200': {
            description: 'delivered (the instance after it ran on; null when a worker continues it), inboxed, or a duplicate of an earlier message id',
            content: json({
              type: 'object',
              properties: {
                outcome: { type: 'string', enum: ['delivered', 'inboxed', 'duplicate'] },
                instanceId: { type: ['string', 'null'] },
                instance: { oneOf: [ref(`${p}_Instance`), { type: 'null' }] },
              },
              required: ['outcome', 'instanceId', 'instance'],
            }),
          },
          ...problems(400, 404, 409, 413, 422),
        },
      },
    };
    paths[`${base}/{id}`] = {
      get: { operationId: `get_${p}`, tags: [tag], summary: 'One instance with its data', parameters: [idParam], responses: { ...instance('the instance'), ...problems(404) } },
    };
    paths[`${base}/{id}/current`] = {
      get: {
        operationId: `current_${p}`,
        tags: [tag],
        summary: 'Current state and status',
        parameters: [idParam],
        responses: { '200': { description: 'current state', content: json(ref('Current')) }, ...problems(404) },
      },
    };
    paths[`${base}/{id}/history`] = {
      get: {
        operationId: `history_${p}`,
        tags: [tag],
        summary: 'Executed handlers, oldest first',
        parameters: [idParam, ...queryParams(S.historyQuery)],
        responses: {
          '200': { description: 'history', content: json({ type: 'object', properties: { items: { type: 'array', items: ref(`${p}_HistoryEntry`) } }, required: ['items'] }) },
          ...problems(400, 404),
        },
      },
    };
    paths[`${base}/{id}/events`] = {
      get: {
        operationId: `events_${p}`,
        tags: [tag],
        summary: "The instance's events in the outbox, without their data",
        parameters: [idParam],
        responses: { '200': { description: 'events', content: json({ type: 'object', properties: { items: { type: 'array', items: ref('OutboxEvent') } }, required: ['items'] }) }, ...problems(404, 501) },
      },
    };
    paths[`${base}/{id}/transition`] = action(
      'transition',
      'Run a named transition; the input is checked against its schema',
      inputs.length > 0 ? { oneOf: inputs } : { type: 'object', properties: { name: { type: 'string' }, input: {} }, required: ['name'] },
    );
    paths[`${base}/{id}/pause`] = action('pause', 'Pause now, or at the next step boundary', S.pauseBody);
    paths[`${base}/{id}/resume`] = action('resume', 'Merge a patch into the data and continue', { ...S.resumeBody, properties: { patch: { type: 'object' } } });
    paths[`${base}/{id}/next`] = action('next', 'Run one step', S.emptyBody);
    paths[`${base}/{id}/back`] = action('back', 'Undo the last completed step', S.emptyBody);
    paths[`${base}/{id}/compensate`] = action('compensate', 'Undo every completed step', S.emptyBody);
  }
  return {
    openapi: '3.1.0',
    info: { title: 'fsmkit', version: '1', description: 'Instances of the served state machines: read them, start them, steer them.' },
    security: [{ bearer: [] }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a token with the read or operate scope' } }, schemas },
    paths,
  };
}
