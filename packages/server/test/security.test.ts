import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOpenApi, createServer } from '../src/index.js';
import { orderDataSchema, orderRunner } from './support/machines.js';

const READ = 'read-token-abcdef';
const OPERATE = 'operate-token-abcdef';
const tokens = [
  { token: READ, scopes: ['read' as const] },
  { token: OPERATE, scopes: ['operate' as const] },
];
const ID = '0190d2c4-0000-7000-8000-000000000001';

/** Every API route, from the OpenAPI document, with the scope it needs. */
function routes(): Array<{ method: 'GET' | 'POST'; url: string; scope: 'read' | 'operate' }> {
  const doc = buildOpenApi([{ runner: orderRunner() }]) as { paths: Record<string, Record<string, unknown>> };
  const out: Array<{ method: 'GET' | 'POST'; url: string; scope: 'read' | 'operate' }> = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const method of Object.keys(ops)) {
      const url = path.replace('{id}', ID);
      const readOnlyPost = url.endsWith('/current-states');
      out.push({ method: method.toUpperCase() as 'GET' | 'POST', url, scope: method === 'get' || readOnlyPost ? 'read' : 'operate' });
    }
  }
  return [...out, { method: 'GET', url: '/api/openapi.json', scope: 'read' }, { method: 'GET', url: '/api/me', scope: 'read' }];
}

describe('security', () => {
  let app: FastifyInstance;
  let runner: ReturnType<typeof orderRunner>;
  beforeAll(async () => {
    runner = orderRunner();
    app = await createServer({ machines: [{ runner, dataSchema: orderDataSchema }], auth: { tokens }, bodyLimit: 4096 });
  });
  afterAll(() => app.close());

  const all = routes();
  it('knows every route (the list is not empty by accident)', () => {
    expect(all.length).toBeGreaterThanOrEqual(18);
  });

  it.each(all)('$method $url refuses a request without a token, or with a bad one (401)', async ({ method, url }) => {
    for (const headers of [{}, { authorization: 'Bearer not-a-token-at-all' }, { authorization: `Basic ${READ}` }, { authorization: `Bearer ${READ}x` }]) {
      const res = await app.inject({ method, url, headers, ...(method === 'POST' ? { payload: {} } : {}) });
      expect(res.statusCode).toBe(401);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(res.json()).toMatchObject({ code: 'FSM_UNAUTHORIZED', status: 401 });
    }
  });

  it.each(all.filter((r) => r.scope === 'operate'))('$method $url refuses a read-only token (403) and changes nothing', async ({ method, url }) => {
    const before = await runner.list();
    const res = await app.inject({ method, url, headers: { authorization: `Bearer ${READ}` }, payload: { data: { orderId: 'x', cents: 1 } } });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: 'FSM_FORBIDDEN' });
    expect(await runner.list()).toEqual(before);
  });

  it('a malformed JSON body is a 400 problem', async () => {
    const inst = await runner.create({ orderId: 'm', cents: 1 });
    const res = await app.inject({
      method: 'POST',
      url: `/api/fsm/order/${inst.id}/pause`,
      headers: { authorization: `Bearer ${OPERATE}`, 'content-type': 'application/json' },
      payload: '{"reason": "x",',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'FSM_BAD_REQUEST' });
    expect((await runner.get(inst.id)).status).toBe('ready');
  });

  it('an oversized body is a 413 problem and starts nothing', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/fsm/order/instances',
      headers: { authorization: `Bearer ${OPERATE}` },
      payload: { data: { orderId: 'big', cents: 1, email: 'x'.repeat(10_000) } },
    });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ code: 'FSM_BODY_TOO_LARGE' });
    expect((await runner.list()).filter((i) => i.data.orderId === 'big')).toHaveLength(0);
  });

  it('a body that is not JSON is refused (415)', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/fsm/order/instances',
      headers: { authorization: `Bearer ${OPERATE}`, 'content-type': 'text/plain' },
      payload: 'data=1',
    });
    expect(res.statusCode).toBe(415);
    expect(res.json()).toMatchObject({ code: 'FSM_UNSUPPORTED_MEDIA_TYPE' });
  });

  it('unknown body fields are refused, not dropped', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/fsm/order/instances', headers: { authorization: `Bearer ${OPERATE}` }, payload: { data: { orderId: 'x', cents: 1 }, admin: true } });
    expect(res.statusCode).toBe(400);
  });

  it('hostile text in ids, machine names, filters and data comes back as data, never as markup or SQL', async () => {
    const hostile = [`<script>alert(1)</script>`, `' OR 1=1 --`, '../../etc/passwd', '\u0000\u202e', '%00', '😀'.repeat(20)];
    for (const h of hostile) {
      const enc = encodeURIComponent(h);
      for (const url of [`/api/fsm/order/${enc}`, `/api/fsm/${enc}/instances`, `/api/fsm/order/instances?user=${enc}`, `/api/fsm/order/instances?state=${enc}`]) {
        const res = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${READ}` } });
        expect([200, 400, 404]).toContain(res.statusCode);
        expect(res.headers['content-type']).toMatch(/json/);
        if (res.statusCode === 200) expect(res.json().items).toEqual([]);
      }
    }
    const started = await app.inject({
      method: 'POST',
      url: '/api/fsm/order/instances',
      headers: { authorization: `Bearer ${OPERATE}` },
      payload: { data: { orderId: hostile[0], cents: 1 }, userId: hostile[1] },
    });
    expect(started.statusCode).toBe(201);
    expect(started.json()).toMatchObject({ userId: hostile[1], data: { orderId: hostile[0] } });
  });

  it('the console files are served with a strict content security policy, no data in them', async () => {
    const page = await app.inject({ method: 'GET', url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.body).not.toMatch(/https?:\/\//);
    const js = await app.inject({ method: 'GET', url: '/console/app.js' });
    expect(js.headers['content-type']).toMatch(/^text\/javascript/);
    expect(js.body).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });

  it('CORS is off unless configured', async () => {
    const res = await app.inject({ method: 'OPTIONS', url: '/api/me', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const withCors = await createServer({ machines: [{ runner }], auth: { tokens }, cors: { origin: 'https://ops.example' } });
    const ok = await withCors.inject({ method: 'GET', url: '/api/me', headers: { origin: 'https://ops.example', authorization: `Bearer ${READ}` } });
    expect(ok.headers['access-control-allow-origin']).toBe('https://ops.example');
    const other = await withCors.inject({ method: 'GET', url: '/api/me', headers: { origin: 'https://evil.example', authorization: `Bearer ${READ}` } });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    await withCors.close();
  });

  it('refuses short tokens at start', async () => {
    await expect(createServer({ machines: [{ runner }], auth: { tokens: [{ token: 'short', scopes: ['read'] }] } })).rejects.toThrow(/at least 8/);
  });
});
