/**
 * mysql-steps: persisted steps per second through MysqlStore.commit (an instance row with ~1 KB
 * of state, one history row per step) at concurrency 1 and 32, against raw mysql2 doing
 * BEGIN; UPDATE; INSERT; COMMIT on the same tables, pool and server, in the same run.
 * Many short rounds alternate the two sides; the ratio at a concurrency is the median of the
 * per-round ratios, which shared, noisy machines disturb least.
 * Last line: the JSON result (DESIGN.md section 10). ratio = the lower of store/raw at the two
 * concurrencies, higher is better.
 */
import { randomBytes } from 'node:crypto';
import { uuidv7, type HistoryRecord, type InstanceRecord } from '@fsmkit/runtime';
import { createMysqlStore, createPool } from '@fsmkit/mysql';
import type { Pool } from 'mysql2/promise';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 1);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const CONCURRENCY = [1, 32];
const prefix = `b${randomBytes(4).toString('hex')}_`;
const state = JSON.stringify({ json: { orderId: 'o-1', items: Array.from({ length: 20 }, (_, i) => ({ sku: `sku-${i}`, qty: i })), note: 'x'.repeat(200) } });

const store = createMysqlStore({ tablePrefix: prefix, poolSize: 32, queryTimeoutMs: Number(process.env.BENCH_TIMEOUT ?? 30000) });
await store.ensureSchema([{ name: 'store' }, { name: 'raw' }]);
const rawPool: Pool = createPool({ poolSize: 32 });

function record(machine: string): InstanceRecord {
  const now = new Date();
  return {
    id: uuidv7(),
    machine,
    userId: 'bench',
    currentState: 's1',
    status: 'running',
    direction: 'forward',
    resumeFromStep: 1,
    saveAfterStep: true,
    kafkaEventTopic: null,
    serializedState: state,
    version: 1,
    definitionHash: '0123456789abcdef',
    definitionVersion: 1,
    isGlobalLock: false,
    isLocalLock: false,
    pauseRequested: false,
    pauseReason: null,
    lastError: null,
    attempts: 0,
    nextRunAt: null,
    historySeq: 0,
    eventSeq: 0,
    createdAt: now,
    updatedAt: now,
  };
}

function history(r: InstanceRecord, seq: number): HistoryRecord {
  const now = new Date();
  return {
    id: uuidv7(),
    instanceId: r.id,
    machine: r.machine,
    seq,
    handler: `s${seq}`,
    step: `s${seq}`,
    direction: 'forward',
    stateBefore: `s${seq}`,
    stateAfter: `s${seq + 1}`,
    dataBefore: '{"json":{"n":1}}',
    dataAfter: '{"json":{"n":2}}',
    metadata: {},
    error: null,
    attempt: 1,
    startedAt: now,
    finishedAt: now,
  };
}

/** Runs `workers` loops of `step` for SECONDS; returns steps per second. */
async function measure(workers: number, step: (r: InstanceRecord) => Promise<void>, machine: string): Promise<number> {
  const records = Array.from({ length: workers }, () => record(machine));
  for (const r of records) await store.insert(r, []);
  let steps = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  await Promise.all(
    records.map(async (r) => {
      while (performance.now() < deadline) {
        await step(r);
        steps++;
      }
    }),
  );
  return steps / ((performance.now() - t0) / 1000);
}

async function viaStore(r: InstanceRecord): Promise<void> {
  const seq = r.historySeq + 1;
  const next: InstanceRecord = { ...r, version: r.version + 1, historySeq: seq, currentState: `s${seq + 1}`, updatedAt: new Date() };
  await store.commit({ record: next, expectedVersion: r.version, history: [history(r, seq)], events: [] });
  Object.assign(r, next);
}

const rawUpdate = `UPDATE \`${prefix}raw\` SET current_state = ?, serialized_state = ?, updated_at = ?, history_seq = ?, version = version + 1 WHERE id = ? AND version = ?`;
const rawInsert = `INSERT INTO \`${prefix}raw_history\` (id, instance_id, seq, handler, step, direction, state_before, state_after, data_before, data_after, metadata, error, attempt, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

async function viaRaw(r: InstanceRecord): Promise<void> {
  const seq = r.historySeq + 1;
  const h = history(r, seq);
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

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results: Array<{ concurrency: number; store: number; raw: number; ratio: number }> = [];
try {
  for (const concurrency of CONCURRENCY) {
    await measure(concurrency, viaStore, 'store'); // warm-up: connections, prepared statements
    await measure(concurrency, viaRaw, 'raw');
    const storeRuns: number[] = [];
    const rawRuns: number[] = [];
    const ratios: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate (and swap who goes first) so that machine noise hits both sides alike.
      const first = round % 2 === 0;
      const a = first ? await measure(concurrency, viaRaw, 'raw') : await measure(concurrency, viaStore, 'store');
      const b = first ? await measure(concurrency, viaStore, 'store') : await measure(concurrency, viaRaw, 'raw');
      const [raw, ours] = first ? [a, b] : [b, a];
      rawRuns.push(raw);
      storeRuns.push(ours);
      ratios.push(ours / raw);
    }
    const result = { concurrency, store: median(storeRuns), raw: median(rawRuns), ratio: median(ratios) };
    results.push(result);
    console.log(
      `concurrency ${concurrency}: store ${storeRuns.map((v) => v.toFixed(0)).join(', ')} steps/s; raw ${rawRuns.map((v) => v.toFixed(0)).join(', ')} steps/s; median ratio ${result.ratio.toFixed(3)}`,
    );
  }
} finally {
  await store.pool.query(`DROP TABLE IF EXISTS ${['store', 'store_history', 'raw', 'raw_history', 'global_lock', 'local_lock', 'outbox', 'migrations'].map((t) => `\`${prefix}${t}\``).join(', ')}`);
  await store.close();
  await rawPool.end();
}

const worst = results.reduce((a, b) => (b.ratio < a.ratio ? b : a));
console.log(
  JSON.stringify({
    bench: 'mysql-steps',
    metric: 'persisted_steps_per_s',
    value: Math.round(worst.store),
    baseline: `raw mysql2 BEGIN; UPDATE; INSERT; COMMIT (concurrency ${worst.concurrency}, the lower ratio of 1 and 32)`,
    baselineValue: Math.round(worst.raw),
    ratio: Number(worst.ratio.toFixed(3)),
    unit: 'steps/s',
  }),
);
