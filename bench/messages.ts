/**
 * messages: deliveries per second to waiting instances on MySQL, at concurrency 32 (set
 * BENCH_CONCURRENCY). Before each round, MESSAGES instances of each side wait for a message
 * with a key of their own (not timed); then `concurrency` loops deliver one message each until
 * all are delivered (timed):
 *
 * - engine (the headline): `runner.deliver('payment', key, payload)` on MysqlStore. The waiting
 *   instance is found by key (the `ix_wait` index) and taken, its timer cancelled, in one
 *   transaction; its next step runs (it changes the data) and commits the instance and one
 *   history row, and the instance is done.
 * - raw (the baseline): mysql2 on the same server: BEGIN; SELECT ... WHERE wait_message = ? AND
 *   wait_key = ? AND status = 'waiting' LIMIT 1 FOR UPDATE; UPDATE the row (done, wait cleared,
 *   the data rewritten); INSERT one history row; COMMIT.
 *
 * Rounds alternate the sides (rotating who goes first); the ratio is the median of the
 * per-round ratios engine / raw, higher is better. Last line: the JSON result.
 */
import { randomBytes } from 'node:crypto';
import { createRunner, defineMachine } from '@fsmkit/runtime';
import { createMysqlStore, createPool } from '@fsmkit/mysql';
import type { Pool } from 'mysql2/promise';
import { benchHistory, benchRecord } from './support/records.js';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const prefix = `b${randomBytes(4).toString('hex')}_`;

interface PayData {
  orderId: string;
  note: string;
  paid?: number;
}
const note = 'x'.repeat(400);

const definition = defineMachine<PayData>({
  name: 'engine',
  steps: { reserve: { order: 1, waitFor: { message: 'payment', key: 'orderId', timeoutMs: 3_600_000, onTimeout: 'expire' } }, charge: { order: 2, end: true }, expire: { order: 3 } },
  methods: {
    reserve: () => undefined,
    charge: (ctx) => void (ctx.data.paid = (ctx.message?.payload as { amount: number }).amount),
    expire: () => undefined,
  },
});

const store = createMysqlStore({ tablePrefix: prefix, poolSize: CONCURRENCY, queryTimeoutMs: 60_000 });
await store.ensureSchema([{ name: 'engine' }, { name: 'raw' }]);
const rawPool: Pool = createPool({ poolSize: CONCURRENCY });
const runner = createRunner(definition, { store });

let serial = 0;
/** Runs `task(i)` for i < count, `CONCURRENCY` at a time; returns the seconds taken. */
async function pooled(count: number, task: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) await task(next++);
    }),
  );
  return (performance.now() - t0) / 1000;
}

async function engineRound(): Promise<number> {
  const keys = Array.from({ length: MESSAGES }, () => `k-${++serial}`);
  await pooled(MESSAGES, async (i) => {
    const waiting = await runner.start({ orderId: keys[i]!, note });
    if (waiting.status !== 'waiting') throw new Error(`instance ${waiting.status}`);
  });
  const seconds = await pooled(MESSAGES, async (i) => {
    const result = await runner.deliver('payment', keys[i]!, { amount: i });
    if (result.outcome !== 'delivered' || result.instance?.status !== 'done') throw new Error(`delivery ${JSON.stringify(result)}`);
  });
  return MESSAGES / seconds;
}

const rawTable = `\`${prefix}raw\``;
const rawWaiting = `INSERT INTO ${rawTable} (id, name, user_id, current_state, serialized_state, created_at, updated_at, status, version, definition_hash, wait_message, wait_key, waiting_for, next_run_at) VALUES ?`;
const rawSelect = `SELECT id, version, serialized_state, history_seq FROM ${rawTable} WHERE wait_message = ? AND wait_key = ? AND status = 'waiting' ORDER BY id LIMIT 1 FOR UPDATE`;
const rawUpdate = `UPDATE ${rawTable} SET status = 'done', current_state = 'done', serialized_state = ?, wait_message = NULL, wait_key = NULL, waiting_for = NULL, next_run_at = NULL, updated_at = ?, history_seq = ?, version = version + 1 WHERE id = ? AND version = ?`;
const rawInsert = `INSERT INTO \`${prefix}raw_history\` (id, instance_id, seq, handler, step, direction, state_before, state_after, data_before, data_after, metadata, error, attempt, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

async function rawRound(): Promise<number> {
  const keys = Array.from({ length: MESSAGES }, () => `k-${++serial}`);
  const rows = keys.map((key) => {
    const r = benchRecord('raw', JSON.stringify({ json: { orderId: key, note } }));
    const wait = JSON.stringify({ kind: 'message', step: 'reserve', name: 'payment', key, onTimeout: 'expire' });
    return [r.id, r.machine, r.userId, 'charge', r.serializedState, r.createdAt, r.updatedAt, 'waiting', 2, r.definitionHash, 'payment', key, wait, new Date(Date.now() + 3_600_000)];
  });
  for (let i = 0; i < rows.length; i += 500) await rawPool.query(rawWaiting, [rows.slice(i, i + 500)]);
  const seconds = await pooled(MESSAGES, async (i) => {
    const conn = await rawPool.getConnection();
    try {
      await conn.query('START TRANSACTION');
      const [found] = await conn.execute(rawSelect, ['payment', keys[i]!]);
      const row = (found as Array<{ id: string; version: number; serialized_state: string; history_seq: number }>)[0];
      if (row === undefined) throw new Error('nobody waits');
      const data = JSON.parse(row.serialized_state) as { json: PayData };
      data.json.paid = i;
      const after = JSON.stringify(data);
      const seq = row.history_seq + 1;
      await conn.execute(rawUpdate, [after, new Date(), seq, row.id, row.version]);
      const h = benchHistory(benchRecord('raw', after, { id: row.id }), seq, row.serialized_state, after);
      await conn.execute(rawInsert, [h.id, h.instanceId, h.seq, 'charge', 'charge', 'forward', 'charge', 'done', h.dataBefore, h.dataAfter, '{}', null, 1, h.startedAt, h.finishedAt]);
      await conn.query('COMMIT');
    } finally {
      conn.release();
    }
  });
  return MESSAGES / seconds;
}

type Side = 'engine' | 'raw';
const work: Record<Side, () => Promise<number>> = { engine: engineRound, raw: rawRound };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const runs: Record<Side, number[]> = { engine: [], raw: [] };
const ratios: number[] = [];
try {
  // Warm-up: connections, prepared statements, JIT.
  for (const side of ['raw', 'engine'] as const) await work[side]();
  for (let r = 0; r < ROUNDS; r++) {
    const order: Side[] = r % 2 === 0 ? ['engine', 'raw'] : ['raw', 'engine'];
    const measured = {} as Record<Side, number>;
    for (const side of order) {
      measured[side] = await work[side]();
      runs[side].push(measured[side]);
    }
    ratios.push(measured.engine / measured.raw);
  }
  const show = (xs: number[]) => xs.map((v) => v.toFixed(0)).join(', ');
  console.log(`concurrency ${CONCURRENCY}, ${MESSAGES} messages per round: engine ${show(runs.engine)} deliveries/s`);
  console.log(`concurrency ${CONCURRENCY}, ${MESSAGES} messages per round: raw    ${show(runs.raw)} deliveries/s`);
  console.log(`per-round ratios: ${ratios.map((x) => x.toFixed(3)).join(', ')}`);
} finally {
  const tables = ['engine', 'engine_history', 'raw', 'raw_history', 'global_lock', 'local_lock', 'outbox', 'migrations', 'inbox', 'inbox_lock'];
  await store.pool.query(`DROP TABLE IF EXISTS ${tables.map((t) => `\`${prefix}${t}\``).join(', ')}`);
  await store.close();
  await rawPool.end();
}

console.log(
  JSON.stringify({
    bench: 'messages',
    metric: 'deliveries_per_s',
    value: Math.round(median(runs.engine)),
    baseline: `raw mysql2: BEGIN; SELECT by message and key FOR UPDATE; UPDATE; INSERT history; COMMIT (concurrency ${CONCURRENCY})`,
    baselineValue: Math.round(median(runs.raw)),
    ratio: Number(median(ratios).toFixed(3)),
    unit: 'deliveries/s',
  }),
);
