/**
 * mysql-steps: persisted steps per second on MySQL, at concurrency 1 and 32. Every side runs
 * instances of 10 steps, `concurrency` at a time, each from its creation to its last step, with
 * ~1 KB of data:
 *
 * - engine (the headline): a runner on MysqlStore, a 10-step machine with no-op handlers,
 *   saveAfterStep and history on (`start`: create, then run to the end). Every step commits the
 *   instance row and one history row (data before and after) in one transaction; the read that
 *   starts a run and the commit that marks it running count against it.
 * - store: the same rows through MysqlStore (insert, then one commit per step), no engine.
 * - raw (the baseline): mysql2 on the same server and pool settings: INSERT the instance row,
 *   then per step BEGIN; UPDATE the instance row (~1 KB); INSERT one history row (the same
 *   sizes); COMMIT.
 *
 * Many short rounds alternate the sides (rotating who goes first); a side's figure is the median
 * of its rounds and a ratio the median of the per-round ratios, which shared, noisy machines
 * disturb least. Last line: the JSON result (DESIGN.md section 10). ratio = engine / raw at the
 * concurrency where it is lower; higher is better.
 */
import { randomBytes } from 'node:crypto';
import { buildModel, createRunner, type InstanceRecord, type MachineDefinition } from '@fsmkit/runtime';
import { createMysqlStore, createPool } from '@fsmkit/mysql';
import type { Pool } from 'mysql2/promise';
import { benchHistory, benchRecord } from './support/records.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,32').split(',').map(Number);
const STEPS = 10;
const prefix = `b${randomBytes(4).toString('hex')}_`;

/** ~1 KB of plain JSON data, the same for every side. */
const initialData = () => ({
  orderId: 'o-1',
  customer: { id: 'c-42', email: 'someone@example.com', tier: 'gold' },
  items: Array.from({ length: 16 }, (_, i) => ({ sku: `sku-${String(i).padStart(4, '0')}`, qty: i + 1, priceCents: 1999 })),
  note: 'x'.repeat(260),
});
const state = `{"json":${JSON.stringify(initialData())}}`;

const names = Array.from({ length: STEPS }, (_, i) => `s${i + 1}`);
const definition: MachineDefinition<ReturnType<typeof initialData>> = {
  model: buildModel({ className: 'Bench', options: { name: 'engine' }, steps: names.map((method, i) => ({ order: i + 1, method })) }),
  create: () => Object.fromEntries(names.map((n) => [n, () => {}])),
};

const store = createMysqlStore({ tablePrefix: prefix, poolSize: 32, queryTimeoutMs: Number(process.env.BENCH_TIMEOUT ?? 30000) });
await store.ensureSchema([{ name: 'engine' }, { name: 'store' }, { name: 'raw' }]);
const rawPool: Pool = createPool({ poolSize: 32 });
const runner = createRunner(definition, { store, history: true, saveAfterStep: true });



/**
 * Runs `workers` loops of `instance` (which returns the steps it persisted) for SECONDS, each
 * finishing the instance it is in; returns steps per second.
 */
async function measure(workers: number, instance: () => Promise<number>): Promise<number> {
  let steps = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < deadline) {
        const done = await instance(); // not `steps += await ...`, which would add to a stale total
        steps += done;
      }
    }),
  );
  return steps / ((performance.now() - t0) / 1000);
}

async function viaEngine(): Promise<number> {
  const done = await runner.start(initialData());
  if (done.status !== 'done') throw new Error(`instance ended ${done.status}`);
  return STEPS;
}

async function viaStore(): Promise<number> {
  const r = benchRecord('store', state);
  await store.insert(r, []);
  for (let seq = 1; seq <= STEPS; seq++) {
    const next: InstanceRecord = { ...r, version: r.version + 1, historySeq: seq, currentState: `s${seq + 1}`, updatedAt: new Date() };
    await store.commit({ record: next, expectedVersion: r.version, history: [benchHistory(r, seq, state, state)], events: [] });
    Object.assign(r, next);
  }
  return STEPS;
}

const rawCreate = `INSERT INTO \`${prefix}raw\` (id, name, user_id, current_state, serialized_state, created_at, updated_at, status, version, definition_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

const rawUpdate = `UPDATE \`${prefix}raw\` SET current_state = ?, serialized_state = ?, updated_at = ?, history_seq = ?, version = version + 1 WHERE id = ? AND version = ?`;
const rawInsert = `INSERT INTO \`${prefix}raw_history\` (id, instance_id, seq, handler, step, direction, state_before, state_after, data_before, data_after, metadata, error, attempt, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

async function viaRaw(): Promise<number> {
  const r = benchRecord('raw', state);
  await rawPool.execute(rawCreate, [r.id, r.machine, r.userId, r.currentState, r.serializedState, r.createdAt, r.updatedAt, 'ready', 1, r.definitionHash]);
  for (let seq = 1; seq <= STEPS; seq++) {
    const h = benchHistory(r, seq, state, state);
    const conn = await rawPool.getConnection();
    try {
      await conn.query('START TRANSACTION');
      await conn.execute(rawUpdate, [`s${seq + 1}`, r.serializedState, new Date(), seq, r.id, r.version]);
      await conn.execute(rawInsert, [h.id, h.instanceId, h.seq, h.handler, h.step, h.direction, h.stateBefore, h.stateAfter, h.dataBefore, h.dataAfter, '{}', null, 1, h.startedAt, h.finishedAt]);
      await conn.query('COMMIT');
    } finally {
      conn.release();
    }
    r.historySeq = seq;
    r.version += 1;
  }
  return STEPS;
}

type Side = 'engine' | 'store' | 'raw';
const work: Record<Side, () => Promise<number>> = { engine: viaEngine, store: viaStore, raw: viaRaw };
const round = (side: Side, concurrency: number): Promise<number> => measure(concurrency, work[side]);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
interface Result {
  concurrency: number;
  engine: number;
  store: number;
  raw: number;
  ratio: number;
  storeRatio: number;
}
const results: Result[] = [];
const sides: Side[] = ['raw', 'engine', 'store'];
try {
  for (const concurrency of CONCURRENCY) {
    for (const side of sides) await round(side, concurrency); // warm-up: connections, prepared statements, JIT
    const runs: Record<Side, number[]> = { engine: [], store: [], raw: [] };
    const ratios: number[] = [];
    const storeRatios: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Rotate who goes first, so that machine noise hits every side alike.
      const measured = {} as Record<Side, number>;
      for (let k = 0; k < sides.length; k++) {
        const side = sides[(r + k) % sides.length]!;
        measured[side] = await round(side, concurrency);
        runs[side].push(measured[side]);
      }
      ratios.push(measured.engine / measured.raw);
      storeRatios.push(measured.store / measured.raw);
    }
    const result = {
      concurrency,
      engine: median(runs.engine),
      store: median(runs.store),
      raw: median(runs.raw),
      ratio: median(ratios),
      storeRatio: median(storeRatios),
    };
    results.push(result);
    const show = (xs: number[]) => xs.map((v) => v.toFixed(0)).join(', ');
    console.log(`concurrency ${concurrency}: engine ${show(runs.engine)} steps/s`);
    console.log(`concurrency ${concurrency}: store  ${show(runs.store)} steps/s`);
    console.log(`concurrency ${concurrency}: raw    ${show(runs.raw)} steps/s`);
    console.log(`concurrency ${concurrency}: median engine/raw ${result.ratio.toFixed(3)}, store/raw ${result.storeRatio.toFixed(3)}`);
  }
} finally {
  const tables = ['engine', 'engine_history', 'store', 'store_history', 'raw', 'raw_history', 'global_lock', 'local_lock', 'outbox', 'migrations'];
  await store.pool.query(`DROP TABLE IF EXISTS ${tables.map((t) => `\`${prefix}${t}\``).join(', ')}`);
  await store.close();
  await rawPool.end();
}

const worst = results.reduce((a, b) => (b.ratio < a.ratio ? b : a));
console.log(
  JSON.stringify({
    bench: 'mysql-steps',
    metric: 'persisted_steps_per_s',
    value: Math.round(worst.engine),
    baseline: `raw mysql2: INSERT the instance, then BEGIN; UPDATE; INSERT; COMMIT per step (concurrency ${worst.concurrency}, the lower ratio of ${CONCURRENCY.join(' and ')})`,
    baselineValue: Math.round(worst.raw),
    ratio: Number(worst.ratio.toFixed(3)),
    unit: 'steps/s',
    storeRatio: Number(Math.min(...results.map((r) => r.storeRatio)).toFixed(3)),
    byConcurrency: results.map((r) => ({
      concurrency: r.concurrency,
      engine: Math.round(r.engine),
      store: Math.round(r.store),
      raw: Math.round(r.raw),
      ratio: Number(r.ratio.toFixed(3)),
      storeRatio: Number(r.storeRatio.toFixed(3)),
    })),
  }),
);
