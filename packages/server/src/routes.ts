import { FsmError, INSTANCE_STATUSES, type InstanceStatus, type ListFilter, type MachineModel } from '@fsmkit/runtime';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TokenAuth, type Caller } from './auth.js';
import { serveConsole } from './console.js';
import { ServerMetrics, type OutboxEvent } from './metrics.js';
import { buildOpenApi } from './openapi.js';
import { DEFAULT_BODY_LIMIT, type FsmRoutesOptions, type Scope, type ServedMachine } from './options.js';
import { problemHandler, ProblemError, sendProblem } from './problem.js';
import { parsePaths } from './redact.js';
import * as S from './schemas.js';
import { historyView, instanceView, summaryView } from './views.js';

interface Served extends ServedMachine {
  model: MachineModel;
  validateData?: ValidateFunction;
  transitions: Map<string, ValidateFunction | null>;
}

type Params = { machine: string; id: string };
type ListQuery = {
  status?: string;
  state?: string;
  user?: string;
  parent?: string;
  createdAfter?: string;
  createdBefore?: string;
  updatedAfter?: string;
  updatedBefore?: string;
  orderBy?: ListFilter['orderBy'];
  order?: ListFilter['order'];
  limit?: number;
  offset?: number;
};

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a route needs; routes without one (the console's files) are public. */
    scope?: Scope;
  }
  interface FastifyRequest {
    caller?: Caller;
  }
}

const ajvErrors = (v: ValidateFunction) => (v.errors ?? []).map((e) => ({ path: e.instancePath || '/', message: e.message ?? 'is invalid' }));

/**
 * The API, the console and the metrics as a fastify plugin: register it in an existing
 * server (with a `prefix` if wanted), or use `createServer`.
 */
export async function fsmkitRoutes(app: FastifyInstance, options: FsmRoutesOptions): Promise<void> {
  const auth = new TokenAuth(options.auth.tokens);
  const paths = parsePaths(options.redact);
  const metrics = options.metrics ?? new ServerMetrics();
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  const machines = new Map<string, Served>();
  for (const m of options.machines) {
    const model = m.runner.model;
    if (machines.has(model.name)) throw new TypeError(`machine "${model.name}" is served twice`);
    const transitions = new Map<string, ValidateFunction | null>();
    for (const t of model.transitions ?? []) transitions.set(t.name, t.input ? ajv.compile(t.input) : null);
    machines.set(model.name, { ...m, model, transitions, ...(m.dataSchema ? { validateData: ajv.compile(m.dataSchema) } : {}) });
  }
  const openapi = buildOpenApi(options.machines);

  app.setErrorHandler(problemHandler);
  // JSON only: a text body is refused (415) rather than read as a string.
  app.removeContentTypeParser('text/plain');
  app.addHook('onRequest', async (request, reply) => {
    const scope = request.routeOptions.config.scope;
    if (scope) request.caller = auth.check(request, reply, scope);
  });
  // Action routes take an empty body as `{}`, so `curl -X POST` works without one.
  const emptyIsObject = async (request: FastifyRequest) => {
    if (request.body === undefined || request.body === null) request.body = {};
  };

  const served = (name: string): Served => {
    const m = machines.get(name);
    if (!m) throw new FsmError('FSM_NOT_FOUND', `no machine "${name}" is served here`, { context: { machine: name } });
    return m;
  };
  const read = { config: { scope: 'read' as const } };
  const operate = { config: { scope: 'operate' as const }, bodyLimit, preValidation: emptyIsObject };

  app.get('/api/openapi.json', read, async () => openapi);
  app.get('/api/me', read, async (request) => ({ scopes: [...request.caller!.scopes].sort(), name: request.caller!.name }));
  app.get('/api/machines', read, async () => ({
    machines: [...machines.values()].map((m) => ({ name: m.model.name, model: m.model, ...(m.dataSchema ? { dataSchema: m.dataSchema } : {}) })),
  }));
  app.get('/metrics', read, async (_request, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(await metrics.render(options.machines)));

  app.get<{ Params: { machine: string }; Querystring: ListQuery }>(
    '/api/fsm/:machine/instances',
    { ...read, schema: { params: S.machineParams, querystring: S.listQuery } },
    async (request) => {
      const m = served(request.params.machine);
      const q = request.query;
      const filter = listFilter(q);
      const rows = await m.runner.store.list(m.model.name, { ...filter, limit: q.limit ?? 50, offset: q.offset ?? 0 });
      return { items: rows.map(summaryView), limit: q.limit ?? 50, offset: q.offset ?? 0 };
    },
  );

  app.get<{ Params: { machine: string }; Querystring: ListQuery }>(
    '/api/fsm/:machine/count',
    { ...read, schema: { params: S.machineParams, querystring: S.countQuery } },
    async (request) => {
      const m = served(request.params.machine);
      const filter = listFilter(request.query);
      // The store contract has no count: page through ids, a thousand rows at a time.
      let count = 0;
      for (let offset = 0; ; offset += 1000) {
        const page = await m.runner.store.list(m.model.name, { ...filter, limit: 1000, offset });
        count += page.length;
        if (page.length < 1000) break;
      }
      return { count };
    },
  );

  app.get<{ Params: { machine: string }; Querystring: { from?: string; to?: string; bucketSeconds?: number } }>(
    '/api/fsm/:machine/stats',
    { ...read, schema: { params: S.machineParams, querystring: S.statsQuery } },
    async (request) => {
      const m = served(request.params.machine);
      const store = m.runner.store;
      if (!store.stats) throw new ProblemError(501, 'FSM_NOT_SUPPORTED', 'Not Implemented', `the store of "${m.model.name}" does not compute statistics`);
      const q = request.query;
      const s = await store.stats(m.model.name, {
        ...(q.from ? { from: new Date(q.from) } : {}),
        ...(q.to ? { to: new Date(q.to) } : {}),
        ...(q.bucketSeconds ? { bucketSeconds: q.bucketSeconds } : {}),
      });
      return { ...s, timeline: s.timeline.map((b) => ({ ...b, at: b.at.toISOString() })) };
    },
  );

  app.post<{ Params: { machine: string }; Body: { ids: string[] } }>(
    '/api/fsm/:machine/current-states',
    { ...read, bodyLimit, schema: { params: S.machineParams, body: S.currentStatesBody } },
    async (request) => {
      const m = served(request.params.machine);
      const states = await m.runner.currentStates(request.body.ids);
      return { states: Object.fromEntries(states) };
    },
  );

  app.post<{ Params: { machine: string }; Body: { data: Record<string, unknown>; userId?: string | null; id?: string; run?: boolean; priority?: number } }>(
    '/api/fsm/:machine/instances',
    { ...operate, schema: { params: S.machineParams, body: S.startBody } },
    async (request, reply) => {
      const m = served(request.params.machine);
      const { data, userId, id, run, priority } = request.body;
      if (m.validateData && !m.validateData(data)) {
        throw new ProblemError(422, 'FSM_INPUT_INVALID', 'Unprocessable Content', `the data does not match the schema of "${m.model.name}"`, ajvErrors(m.validateData));
      }
      const opts = { ...(userId !== undefined ? { userId } : {}), ...(id !== undefined ? { id } : {}), ...(priority !== undefined ? { priority } : {}) };
      const instance = run === false ? await m.runner.create(data, opts) : await m.runner.start(data, opts);
      return reply.code(201).send(instanceView(instance, paths));
    },
  );

  app.post<{ Params: { machine: string }; Body: { name: string; key: string; payload?: unknown; messageId?: string } }>(
    '/api/fsm/:machine/messages',
    { ...operate, schema: { params: S.machineParams, body: S.deliverBody } },
    async (request) => {
      const m = served(request.params.machine);
      const { name, key, payload, messageId } = request.body;
      const result = await m.runner.deliver(name, key, payload ?? null, messageId !== undefined ? { messageId } : {});
      if (result.outcome === 'inboxed') return { outcome: 'inboxed', instanceId: null, instance: null };
      if (result.outcome === 'duplicate') return { outcome: 'duplicate', instanceId: result.instanceId, instance: null };
      return { outcome: 'delivered', instanceId: result.instanceId, instance: result.instance ? instanceView(result.instance, paths) : null };
    },
  );

  app.get<{ Params: Params }>('/api/fsm/:machine/:id', { ...read, schema: { params: S.instanceParams } }, async (request) => {
    const m = served(request.params.machine);
    return instanceView(await m.runner.get(request.params.id), paths);
  });

  app.get<{ Params: Params }>('/api/fsm/:machine/:id/current', { ...read, schema: { params: S.instanceParams } }, async (request) => {
    const m = served(request.params.machine);
    // The stored row only: no data to deserialize for a state check.
    const r = await m.runner.store.get(m.model.name, request.params.id);
    if (!r) throw new FsmError('FSM_NOT_FOUND', `no ${m.model.name} instance ${request.params.id}`, { context: { machine: m.model.name, id: request.params.id } });
    return { id: r.id, machine: r.machine, state: r.currentState, status: r.status, version: r.version, updatedAt: r.updatedAt.toISOString() };
  });

  app.get<{ Params: Params; Querystring: { limit?: number; since?: string } }>(
    '/api/fsm/:machine/:id/history',
    { ...read, schema: { params: S.instanceParams, querystring: S.historyQuery } },
    async (request) => {
      const m = served(request.params.machine);
      const { limit, since } = request.query;
      // 404 for an unknown instance rather than an empty history.
      await m.runner.get(request.params.id);
      let entries = await m.runner.history(request.params.id);
      if (since) entries = entries.filter((h) => h.startedAt >= new Date(since));
      if (limit !== undefined) entries = entries.slice(0, limit);
      return { items: entries.map((h) => historyView(h, paths)) };
    },
  );

  app.post<{ Params: Params; Body: { name: string; input?: unknown } }>(
    '/api/fsm/:machine/:id/transition',
    { ...operate, schema: { params: S.instanceParams, body: S.transitionBody } },
    async (request) => {
      const m = served(request.params.machine);
      const { name, input } = request.body;
      if (!m.transitions.has(name)) {
        const known = [...m.transitions.keys()];
        throw new ProblemError(422, 'FSM_INPUT_INVALID', 'Unprocessable Content', `"${m.model.name}" has no transition "${name}"${known.length ? `; it has ${known.join(', ')}` : ''}`);
      }
      const validate = m.transitions.get(name);
      if (validate && !validate(input ?? {})) {
        throw new ProblemError(422, 'FSM_INPUT_INVALID', 'Unprocessable Content', `the input of "${name}" does not match its schema`, ajvErrors(validate));
      }
      const instance = await m.runner.transition(request.params.id, name, input ?? {}, { actor: request.caller!.name ?? 'api' });
      return instanceView(instance, paths);
    },
  );

  const action = (path: string, schema: object, run: (m: Served, id: string, body: Record<string, unknown>) => Promise<unknown>) =>
    app.post<{ Params: Params; Body: Record<string, unknown> }>(
      `/api/fsm/:machine/:id/${path}`,
      { ...operate, schema: { params: S.instanceParams, body: schema } },
      async (request) => {
        const m = served(request.params.machine);
        // 404 before anything runs, the same on every store.
        await m.runner.get(request.params.id);
        return instanceView((await run(m, request.params.id, request.body)) as Parameters<typeof instanceView>[0], paths);
      },
    );
  action('pause', S.pauseBody, (m, id, b) => m.runner.pause(id, b['reason'] as string | undefined));
  action('resume', S.resumeBody, (m, id, b) => m.runner.resume(id, b['patch'] as Record<string, unknown> | undefined));
  action('next', S.emptyBody, (m, id) => m.runner.next(id));
  action('back', S.emptyBody, (m, id) => m.runner.back(id));
  action('compensate', S.emptyBody, (m, id) => m.runner.compensate(id));

  const eventView = (e: OutboxEvent) => ({
    ...e,
    createdAt: e.createdAt.toISOString(),
    sentAt: e.sentAt?.toISOString() ?? null,
  });
  app.get<{ Params: Params }>('/api/fsm/:machine/:id/events', { ...read, schema: { params: S.instanceParams } }, async (request) => {
    const m = served(request.params.machine);
    const events = options.outbox?.events;
    if (!events) throw new ProblemError(501, 'FSM_NOT_SUPPORTED', 'Not Implemented', 'this server was given no outbox to read events from');
    await m.runner.get(request.params.id);
    return { items: (await events.call(options.outbox, m.model.name, request.params.id)).map(eventView) };
  });

  app.get('/api/trouble', read, async () => {
    const now = Date.now();
    const out = [];
    for (const m of machines.values()) {
      const store = m.runner.store;
      const name = m.model.name;
      const failed = await store.list(name, { status: 'failed', orderBy: 'updatedAt', order: 'desc', limit: 50 });
      const running = await store.list(name, { status: ['running', 'waiting', 'ready'] as InstanceStatus[], orderBy: 'updatedAt', order: 'asc', limit: 500 });
      out.push({
        machine: name,
        failed: failed.map(summaryView),
        leaseExpired: running.filter((r) => r.status === 'running' && r.leaseExpiresAt != null && r.leaseExpiresAt.getTime() < now).map(summaryView),
        takenOver: running.filter((r) => r.takeovers > 0).map((r) => ({ ...summaryView(r), takeovers: r.takeovers })),
      });
    }
    const failing = options.outbox?.failing;
    return { machines: out, ...(failing ? { outboxFailing: (await failing.call(options.outbox, 50)).map(eventView) } : {}) };
  });

  if (options.console !== false) await serveConsole(app);
}

function listFilter(q: ListQuery): ListFilter {
  const list = (s: string | undefined) => s?.split(',').map((v) => v.trim()).filter((v) => v.length > 0);
  const f: ListFilter = {};
  const status = list(q.status);
  const unknown = status?.filter((v) => !(INSTANCE_STATUSES as readonly string[]).includes(v)) ?? [];
  if (unknown.length > 0) {
    throw new ProblemError(400, 'FSM_BAD_REQUEST', 'Bad Request', `unknown status ${JSON.stringify(unknown[0])}; statuses are ${INSTANCE_STATUSES.join(', ')}`);
  }
  if (status?.length) f.status = status as InstanceStatus[];
  const state = list(q.state);
  if (state?.length) f.currentState = state;
  if (q.user !== undefined) f.userId = q.user;
  if (q.parent !== undefined) f.parentId = q.parent;
  if (q.createdAfter) f.createdAfter = new Date(q.createdAfter);
  if (q.createdBefore) f.createdBefore = new Date(q.createdBefore);
  if (q.updatedAfter) f.updatedAfter = new Date(q.updatedAfter);
  if (q.updatedBefore) f.updatedBefore = new Date(q.updatedBefore);
  if (q.orderBy) f.orderBy = q.orderBy;
  if (q.order) f.order = q.order;
  return f;
}

/** The not-found answer of a server that holds only these routes. */
export function notFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendProblem(request, reply, { status: 404, code: 'FSM_ROUTE_NOT_FOUND', title: 'Not Found', detail: `no route ${request.method} ${request.url.split('?')[0]}` });
}
