/**
 * api-read: requests per second of `GET /api/fsm/{machine}/{id}/current` at 64 connections, on
 * MySQL, against the baseline: a bare fastify route doing the same primary-key SELECT with
 * mysql2 (same pool size, same row, same JSON answer), no auth, no validation.
 *
 * Both servers run in this process; autocannon runs in a child process (support/load.mjs), so
 * the load generator does not share the servers' event loop. Rounds alternate the sides
 * (rotating who goes first); a figure is the median of its rounds and the ratio the median of
 * the per-round ratios. Last line: the JSON result (DESIGN.md section 10).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createMysqlStore, createPool } from '@fsmkit/mysql';
import { buildModel, createRunner, type MachineDefinition } from '@fsmkit/runtime';
import { createServer } from '@fsmkit/server';
import Fastify from 'fastify';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { benchRecord } from './support/records.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const INSTANCES = 1000;
const POOL = 16;
const prefix = `b${randomBytes(4).toString('hex')}_`;
const token = randomBytes(18).toString('base64url');
const run = promisify(execFile);
const load = fileURLToPath(new URL('./support/load.mjs', import.meta.url));

const data = `{"json":${JSON.stringify({ orderId: 'o-1', items: Array.from({ length: 16 }, (_, i) => ({ sku: `sku-${i}`, qty: i + 1 })), note: 'x'.repeat(400) })}}`;
const definition: MachineDefinition = {
  model: buildModel({ className: 'Bench', options: { name: 'bench' }, steps: [{ order: 1, method: 's1' }] }),
  create: () => ({ s1: () => undefined }),
};

const store = createMysqlStore({ tablePrefix: prefix, poolSize: POOL });
await store.ensureSchema([{ name: 'bench' }]);
const rawPool: Pool = createPool({ poolSize: POOL });
const ids: string[] = [];
for (let i = 0; i < INSTANCES; i++) {
  const r = benchRecord('bench', data);
  await store.insert(r, []);
  ids.push(r.id);
}

const api = await createServer({ machines: [{ runner: createRunner(definition, { store }) }], auth: { tokens: [{ token, scopes: ['read'] }] }, console: false });
const bare = Fastify();
const table = `\`${prefix}bench\``;
bare.get<{ Params: { id: string } }>('/api/fsm/bench/:id/current', async (request, reply) => {
  const [rows] = await rawPool.execute<RowDataPacket[]>(`SELECT * FROM ${table} WHERE \`id\` = ?`, [request.params.id]);
  const r = rows[0];
  if (!r) return reply.code(404).send({ status: 404 });
  return { id: r['id'], machine: 'bench', state: r['current_state'], status: r['status'], version: r['version'], updatedAt: (r['updated_at'] as Date).toISOString() };
});
const urls = { api: await api.listen({ host: '127.0.0.1', port: 0 }), bare: await bare.listen({ host: '127.0.0.1', port: 0 }) };

async function measure(side: 'api' | 'bare'): Promise<number> {
  const args = [load, urls[side], ids.join(','), String(CONNECTIONS), String(SECONDS), ...(side === 'api' ? [token] : [])];
  const { stdout } = await run(process.execPath, args, { maxBuffer: 1 << 20 });
  const r = JSON.parse(stdout) as { rps: number; non2xx: number; errors: number };
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${side}: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
  return r.rps;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const rounds: Array<{ api: number; bare: number }> = [];
try {
  // Warm both (JIT, pools, prepared statements) before measuring.
  await measure('api');
  await measure('bare');
  for (let round = 0; round < ROUNDS; round++) {
    const order: Array<'api' | 'bare'> = round % 2 ? ['bare', 'api'] : ['api', 'bare'];
    const r = { api: 0, bare: 0 };
    for (const side of order) r[side] = await measure(side);
    rounds.push(r);
    console.log(`round ${round + 1}: api ${Math.round(r.api)} req/s, bare ${Math.round(r.bare)} req/s, ratio ${(r.api / r.bare).toFixed(3)}`);
  }
} finally {
  await api.close();
  await bare.close();
  await store.pool.query(`DROP TABLE IF EXISTS ${['bench', 'bench_history', 'global_lock', 'local_lock', 'outbox', 'migrations'].map((t) => `\`${prefix}${t}\``).join(', ')}`);
  await store.close();
  await rawPool.end();
}

console.log(
  JSON.stringify({
    bench: 'api-read',
    metric: 'requests_per_s',
    value: Math.round(median(rounds.map((r) => r.api))),
    baseline: `bare fastify route, the same primary-key SELECT with mysql2 (${CONNECTIONS} connections, pool ${POOL})`,
    baselineValue: Math.round(median(rounds.map((r) => r.bare))),
    ratio: Number(median(rounds.map((r) => r.api / r.bare)).toFixed(3)),
    unit: 'req/s',
  }),
);
