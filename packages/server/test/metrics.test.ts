import { MemoryLocker, MemoryStore, createRunner } from '@fsmkit/runtime';
import { describe, expect, it } from 'vitest';
import { createMetrics, createServer } from '../src/index.js';
import { orderDefinition } from './support/machines.js';

const TOKEN = 'metrics-token-123';

describe('/metrics', () => {
  it('instances by status, a step duration histogram, the outbox backlog and lock waits', async () => {
    const oldest = new Date(Date.now() - 90_000);
    const metrics = createMetrics({ cacheMs: 0, buckets: [0.001, 1, 10], outbox: { backlog: async () => ({ pending: 7, oldestCreatedAt: oldest }) } });
    const locker = metrics.observeLocker(new MemoryLocker());
    const runner = createRunner(orderDefinition, { store: new MemoryStore(), locker, lock: { scope: 'global' } });
    for (let i = 0; i < 3; i++) await runner.start({ orderId: `o-${i}`, cents: i, fail: i === 2 });
    const app = await createServer({ machines: [{ runner }], auth: { tokens: [{ token: TOKEN, scopes: ['read'] }] }, metrics });
    const res = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0.0.4/);
    const text = res.body;
    expect(text).toContain('fsm_instances{machine="order",status="waiting"} 2');
    expect(text).toContain('fsm_instances{machine="order",status="failed"} 1');
    expect(text).toContain('# TYPE fsm_step_duration_seconds histogram');
    const buckets = [...text.matchAll(/fsm_step_duration_seconds_bucket\{machine="order",step="charge",direction="forward",le="([^"]+)"\} (\d+)/g)].map((m) => Number(m[2]));
    expect(buckets).toHaveLength(4);
    // Cumulative: never decreasing, ending at the count.
    expect([...buckets].sort((a, b) => a - b)).toEqual(buckets);
    expect(buckets.at(-1)).toBe(3);
    expect(text).toContain('fsm_step_duration_seconds_count{machine="order",step="charge",direction="forward"} 3');
    expect(text).toContain('fsm_outbox_backlog 7');
    const age = Number(/^fsm_outbox_oldest_age_seconds (\S+)$/m.exec(text)![1]);
    expect(age).toBeGreaterThanOrEqual(90);
    expect(age).toBeLessThan(120);
    expect(text).toMatch(/fsm_lock_wait_seconds_count\{outcome="acquired"\} [1-9]/);
    // Every sample line parses: name{labels} value.
    for (const line of text.trim().split('\n')) if (!line.startsWith('#')) expect(line).toMatch(/^[a-z_]+(\{[^}]*\})? [0-9.e+-]+|\+Inf$/);
    await app.close();
  });
});
