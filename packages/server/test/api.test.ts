import { describe, expect, it, beforeEach } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createServer, tokensFromEnv } from '../src/index.js';
import { orderDataSchema, orderRunner, paymentRunner } from './support/machines.js';

const READ = 'read-token-123456';
const OPERATE = 'operate-token-123456';
const tokens = [
  { token: READ, scopes: ['read' as const] },
  { token: OPERATE, scopes: ['operate' as const], name: 'ops-alice' },
];
const auth = (t: string) => ({ authorization: `Bearer ${t}` });

let app: FastifyInstance;
let runner: ReturnType<typeof orderRunner>;

beforeEach(async () => {
  runner = orderRunner();
  app = await createServer({ machines: [{ runner, dataSchema: orderDataSchema }], auth: { tokens }, redact: ['card.number', 'email'] });
});

const post = (url: string, body: unknown, token = OPERATE) => app.inject({ method: 'POST', url, headers: auth(token), payload: body as object });
const get = (url: string, token = READ) => app.inject({ method: 'GET', url, headers: auth(token) });

describe('HTTP API', () => {
  it('starts an instance, reads it, its current state and its history', async () => {
    const started = await post('/api/fsm/order/instances', { data: { orderId: 'o-1', cents: 500 }, userId: 'u-1' });
    expect(started.statusCode).toBe(201);
    const inst = started.json();
    expect(inst).toMatchObject({ machine: 'order', userId: 'u-1', state: 'ship', status: 'waiting', data: { orderId: 'o-1', reserved: true, charged: true } });

    const current = await get(`/api/fsm/order/${inst.id}/current`);
    expect(current.json()).toMatchObject({ id: inst.id, state: 'ship', status: 'waiting', version: inst.version });

    const history = (await get(`/api/fsm/order/${inst.id}/history`)).json();
    expect(history.items.map((h: { handler: string }) => h.handler)).toEqual(['reserve', 'charge']);
    expect(history.items[1].dataBefore).toMatchObject({ reserved: true });
    expect(history.items[1].dataAfter).toMatchObject({ charged: true });
    expect((await get(`/api/fsm/order/${inst.id}/history?limit=1`)).json().items).toHaveLength(1);
    const future = new Date(Date.now() + 60_000).toISOString();
    expect((await get(`/api/fsm/order/${inst.id}/history?since=${future}`)).json().items).toHaveLength(0);

    const next = await post(`/api/fsm/order/${inst.id}/next`, undefined);
    expect(next.statusCode).toBe(200);
    expect(next.json()).toMatchObject({ status: 'done', state: 'done' });
    expect((await runner.get(inst.id)).status).toBe('done');
  });

  it('lists with filters and paging, counts, and reads many states at once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await runner.start({ orderId: `o-${i}`, cents: i, fail: i % 2 === 1 }, { userId: i < 3 ? 'a' : 'b' })).id);
    const all = (await get('/api/fsm/order/instances?limit=2&offset=1&orderBy=id&order=asc')).json();
    expect(all.items.map((i: { id: string }) => i.id)).toEqual(ids.slice(1, 3));
    const failed = (await get('/api/fsm/order/instances?status=failed')).json();
    expect(failed.items.map((i: { id: string }) => i.id).sort()).toEqual([ids[1], ids[3]].sort());
    expect(failed.items[0].error.message).toBe('card declined');
    expect(failed.items[0].error.stack).toBeUndefined();
    expect((await get('/api/fsm/order/count?user=a')).json()).toEqual({ count: 3 });
    expect((await get('/api/fsm/order/count?status=waiting,failed&state=ship')).json()).toEqual({ count: 3 });
    const after = new Date(Date.now() + 1000).toISOString();
    expect((await get(`/api/fsm/order/count?createdAfter=${after}`)).json()).toEqual({ count: 0 });
    const states = await post('/api/fsm/order/current-states', { ids: [ids[0], 'nope', ids[1]] }, READ);
    expect(states.json()).toEqual({ states: { [ids[0]!]: 'ship', [ids[1]!]: 'charge' } });
  });

  it('statistics: counts by status and state, step durations', async () => {
    for (let i = 0; i < 4; i++) await runner.start({ orderId: `o-${i}`, cents: i, fail: i === 0 });
    const s = (await get('/api/fsm/order/stats')).json();
    expect(s).toMatchObject({ machine: 'order', total: 4, byStatus: { waiting: 3, failed: 1 }, byState: { ship: 3, charge: 1 } });
    expect(s.steps.find((x: { step: string }) => x.step === 'charge')).toMatchObject({ count: 4, failures: 1 });
  });

  it('pause, resume with a patch, back and compensate change the stored instance', async () => {
    const created = (await post('/api/fsm/order/instances', { data: { orderId: 'o-9', cents: 1 }, run: false })).json();
    expect(created.status).toBe('ready');
    const paused = await post(`/api/fsm/order/${created.id}/pause`, { reason: 'checking <b>fraud</b>' });
    expect(paused.json()).toMatchObject({ status: 'paused', pauseReason: 'checking <b>fraud</b>' });
    expect((await runner.get(created.id)).status).toBe('paused');
    const resumed = await post(`/api/fsm/order/${created.id}/resume`, { patch: { cents: 42 } });
    expect(resumed.json()).toMatchObject({ status: 'waiting', state: 'ship', data: { cents: 42 } });
    const back = await post(`/api/fsm/order/${created.id}/back`, {});
    expect(back.json()).toMatchObject({ direction: 'backward', data: { charged: false } });
    const comp = await post(`/api/fsm/order/${created.id}/compensate`, {});
    expect(comp.json()).toMatchObject({ status: 'compensated', data: { reserved: false } });
  });

  it('transitions: input checked against the model schema (422), refused from the wrong state (409)', async () => {
    const inst = await runner.start({ orderId: 'o-t', cents: 3 });
    const unknown = await post(`/api/fsm/order/${inst.id}/transition`, { name: 'cancel', input: {} });
    expect(unknown.statusCode).toBe(422);
    expect(unknown.json()).toMatchObject({ code: 'FSM_INPUT_INVALID', status: 422 });
    const invalid = await post(`/api/fsm/order/${inst.id}/transition`, { name: 'approve', input: { approver: 'x', extra: 1 } });
    expect(invalid.statusCode).toBe(422);
    expect(invalid.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(invalid.json().errors.length).toBeGreaterThanOrEqual(2);
    const notAllowed = await post(`/api/fsm/order/${inst.id}/transition`, { name: 'approve', input: { approver: 'bob' } });
    expect(notAllowed.statusCode).toBe(409);
    expect(notAllowed.json().code).toBe('FSM_TRANSITION_NOT_ALLOWED');
    expect((await runner.get(inst.id)).version).toBe(inst.version);
  });

  it('redacts configured data fields in instances and history', async () => {
    const res = await post('/api/fsm/order/instances', { data: { orderId: 'o-r', cents: 1, email: 'a@b.c', card: { number: '4111111111111111', holder: 'Ada' } } });
    const inst = res.json();
    expect(inst.data).toMatchObject({ email: '[redacted]', card: { number: '[redacted]', holder: 'Ada' } });
    expect(res.body).not.toContain('4111111111111111');
    const hist = await get(`/api/fsm/order/${inst.id}/history`);
    expect(hist.body).not.toContain('4111111111111111');
    expect(hist.body).not.toContain('a@b.c');
    // Only the response is redacted: the stored data is whole.
    expect((await runner.get(inst.id)).data.card?.number).toBe('4111111111111111');
  });

  it('errors are problem+json with the FsmError code and a status that follows it', async () => {
    const missing = await get('/api/fsm/order/0190d2c4-0000-7000-8000-000000000000');
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(missing.json()).toMatchObject({ type: 'urn:fsmkit:problem:FSM_NOT_FOUND', status: 404, code: 'FSM_NOT_FOUND', title: 'Not Found' });
    expect((await get('/api/fsm/nosuch/instances')).json()).toMatchObject({ status: 404, code: 'FSM_NOT_FOUND' });
    expect((await get('/api/nowhere')).json()).toMatchObject({ status: 404, code: 'FSM_ROUTE_NOT_FOUND' });
    const bad = await post('/api/fsm/order/instances', { data: { orderId: '', cents: -1 } });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().errors.map((e: { path: string }) => e.path).sort()).toEqual(['/cents', '/orderId']);
    const badQuery = await get('/api/fsm/order/instances?limit=0');
    expect(badQuery.statusCode).toBe(400);
    expect(badQuery.json().code).toBe('FSM_BAD_REQUEST');
    expect((await get('/api/fsm/order/instances?status=sleeping')).json()).toMatchObject({ status: 400, code: 'FSM_BAD_REQUEST' });
    // A finished instance cannot be resumed: the runner's FSM_INVALID_STATE becomes a 409.
    const done = await runner.start({ orderId: 'd', cents: 1 }).then((i) => runner.next(i.id));
    const refused = await post(`/api/fsm/order/${done.id}/resume`, {});
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ status: 409, code: 'FSM_INVALID_STATE' });
    expect((await runner.get(done.id)).version).toBe(done.version);
  });

  it('delivers a message by name and key: delivered and run on, inboxed when nobody waits, a repeated id is a duplicate, a bad payload is 422', async () => {
    const payments = paymentRunner();
    const server = await createServer({ machines: [{ runner: payments }], auth: { tokens } });
    const deliver = (body: object, token = OPERATE) =>
      server.inject({ method: 'POST', url: '/api/fsm/payment/messages', headers: auth(token), payload: body });
    try {
      const waiting = await payments.start({ orderId: 'p-1' });
      expect(waiting.status).toBe('waiting');
      const bad = await deliver({ name: 'paid', key: 'p-1', payload: { cents: 0 } });
      expect(bad.statusCode).toBe(422);
      expect(bad.json()).toMatchObject({ code: 'FSM_INPUT_INVALID' });
      expect((await payments.get(waiting.id)).status).toBe('waiting');

      const first = await deliver({ name: 'paid', key: 'p-1', payload: { cents: 250 }, messageId: 'm-1' });
      expect(first.statusCode).toBe(200);
      expect(first.json()).toMatchObject({ outcome: 'delivered', instanceId: waiting.id, instance: { status: 'done', data: { paid: { cents: 250 } } } });
      expect(await deliver({ name: 'paid', key: 'p-1', payload: { cents: 250 }, messageId: 'm-1' }).then((r) => r.json())).toEqual({
        outcome: 'duplicate',
        instanceId: waiting.id,
        instance: null,
      });

      // Nobody waits for p-2 yet: the message is kept and taken when the wait begins.
      expect((await deliver({ name: 'paid', key: 'p-2', payload: { cents: 99 } })).json()).toEqual({ outcome: 'inboxed', instanceId: null, instance: null });
      expect(await payments.start({ orderId: 'p-2' })).toMatchObject({ status: 'done', data: { paid: { cents: 99 } } });

      expect((await deliver({ name: 'paid', key: 'p-3', payload: { cents: 1 } }, READ)).statusCode).toBe(403);
      expect((await deliver({ name: 'paid', payload: { cents: 1 } })).statusCode).toBe(400);
    } finally {
      await server.close();
    }
  });

  it('starts with a priority, and lists the children of a parent', async () => {
    const started = await post('/api/fsm/order/instances', { data: { orderId: 'o-p', cents: 1 }, run: false, priority: 7 });
    expect(started.statusCode).toBe(201);
    expect((await runner.store.get('order', started.json().id))?.priority).toBe(7);
    expect((await post('/api/fsm/order/instances', { data: { orderId: 'o-q', cents: 1 }, priority: 1.5 })).statusCode).toBe(400);
    expect((await get(`/api/fsm/order/instances?parent=${started.json().id}`)).json().items).toEqual([]);
  });

  it('tokens come from the environment too', () => {
    expect(tokensFromEnv({ FSM_READ_TOKENS: 'abcdefgh, viewer:ijklmnop', FSM_OPERATE_TOKENS: 'ops:qrstuvwx' })).toEqual([
      { token: 'abcdefgh', scopes: ['read'] },
      { name: 'viewer', token: 'ijklmnop', scopes: ['read'] },
      { name: 'ops', token: 'qrstuvwx', scopes: ['read', 'operate'] },
    ]);
  });
});
