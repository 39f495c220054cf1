import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { fsmkitRoutes } from '../src/index.js';
import { orderRunner } from './support/machines.js';

const TOKEN = 'plugin-operate-token';

describe('fsmkitRoutes as a plugin in an existing server', () => {
  it('mounts the API and the console under a prefix, and leaves the host routes alone', async () => {
    const host = Fastify();
    host.get('/health', async () => ({ ok: true }));
    host.get('/boom', async () => {
      throw new Error('host failure');
    });
    const runner = orderRunner();
    await host.register(fsmkitRoutes, { prefix: '/ops', machines: [{ runner }], auth: { tokens: [{ token: TOKEN, scopes: ['operate'] }] } });

    expect((await host.inject({ url: '/health' })).json()).toEqual({ ok: true });
    const boom = await host.inject({ url: '/boom' });
    expect(boom.statusCode).toBe(500);
    expect(boom.headers['content-type']).toMatch(/^application\/json/);

    const started = await host.inject({ method: 'POST', url: '/ops/api/fsm/order/instances', headers: { authorization: `Bearer ${TOKEN}` }, payload: { data: { orderId: 'p', cents: 1 } } });
    expect(started.statusCode).toBe(201);
    expect((await runner.get(started.json().id)).state).toBe('ship');
    const denied = await host.inject({ url: '/ops/api/fsm/order/instances' });
    expect(denied.statusCode).toBe(401);
    expect(denied.headers['content-type']).toMatch(/^application\/problem\+json/);

    const bare = await host.inject({ url: '/ops' });
    expect(bare.statusCode).toBe(302);
    expect(bare.headers.location).toBe('/ops/');
    const page = await host.inject({ url: '/ops/' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('src="console/app.js"');
    expect((await host.inject({ url: '/ops/console/app.js' })).statusCode).toBe(200);
    await host.close();
  });
});
