/**
 * mysql-steps: persisted steps per second on MySQL, at concurrency 1 and 32. Every side runs
 * instances of 10 steps, `concurrency` at a time, each from its creation to its last step, with
 * ~1 KB of data:
 *
 * - engine (the headline): a runner on MysqlStore, a 10-step machine whose handlers each change
 *   the data, saveAfterStep and history on (`start`: create, then run to the end). Every step
 *   commits the instance row (its ~1 KB data rewritten) and one history row (data before and
 *   after) in one transaction.
 * - store: the same rows through MysqlStore (insert, then one commit per step), no engine.
 * - raw (the baseline): mysql2 on the same server and pool settings: INSERT the instance row,
 *   then per step BEGIN; UPDATE the instance row (state, ~1 KB data, time, counters); INSERT
 *   one history row (the same sizes); COMMIT.
 *
 * Many short rounds alternate the sides (rotating who goes first); a side's figure is the median
 * of its rounds and a ratio the median of the per-round ratios, which shared, noisy machines
 * disturb least. Last line: the JSON result (DESIGN.md section 10). ratio = engine / raw at the
 * concurrency where it is lower; higher is better.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { buildModel, createRunner, type InstanceRecord, type MachineDefinition, type StepContext } from '@fsmkit/runtime';
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
/** The stored data after step `n` (0: as created): each step changes it, so every commit rewrites it. */
const states = Array.from({ length: STEPS + 1 }, (_, n) => `{"json":${JSON.stringify({ ...initialData(), step: n })}}`);

const names = Array.from({ length: STEPS }, (_, i) => `s${i + 1}`);
type BenchData = ReturnType<typeof initialData> & { step?: number };
const definition: MachineDefinition<BenchData> = {
  model: buildModel({ className: 'Bench', options: { name: 'engine' }, steps: names.map((method, i) => ({ order: i + 1, method })) }),
  create: () => Object.fromEntries(names.map((n, i) => [n, (ctx: StepContext<BenchData>) => void (ctx.data.step = i + 1)])),
};

const store = createMysqlStore({ tablePrefix: prefix, poolSize: 32, queryTimeoutMs: Number(process.env.BENCH_TIMEOUT ?? 30000) });
await store.ensureSchema([{ name: 'engine' }, { name: 'store' }, { name: 'raw' }]);
const rawPool: Pool = createPool({ poolSize: 32 });
const runner = createRunner(definition, { store, history: true, saveAfterStep: true });



/**
 * The local database server's process, when there is one: its CPU time shows where a side's cost
 * goes (the client or the server), which steps per second alone does not tell.
 */
const serverStat = (() => {
  try {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      if (comm === 'mariadbd' || comm === 'mysqld') return `/proc/${pid}/stat`;
    }
  } catch {
    // no /proc: not Linux
  }
  return undefined;
})();

/** CPU time of the server process in microseconds (user + system), or NaN when unknown. */
function serverCpu(): number {
  if (serverStat === undefined) return NaN;
  // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th, in clock ticks (100 Hz).
  const fields = readFileSync(serverStat, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** CPU spent per persisted step, in microseconds, summed over a side's rounds. */
const cpu = { engine: { steps: 0, client: 0, server: 0 }, store: { steps: 0, client: 0, server: 0 }, raw: { steps: 0, client: 0, server: 0 } };

/**
 * Runs `workers` loops of `instance` (which returns the steps it persisted) for SECONDS, each
 * finishing the instance it is in; returns steps per second.
 */
async function measure(workers: number, instance: () => Promise<number>, account?: { steps: number; client: number; server: number }): Promise<number> {
  const client0 = process.cpuUsage();
  const server0 = serverCpu();
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
  const elapsed = (performance.now() - t0) / 1000;
  if (account !== undefined) {
    const client = process.cpuUsage(client0);
    account.steps += steps;
    account.client += client.user + client.system;
    account.server += serverCpu() - server0;
  }
  return steps / elapsed;
}

async function viaEngine(): Promise<number> {
  const done = await runner.start(initialData());
  if (done.status !== 'done') throw new Error(`instance ended ${done.status}`);
  return STEPS;
}

async function viaStore(): Promise<number> {
  let r = benchRecord('store', states[0]!);
  await store.insert(r, []);
  for (let seq = 1; seq <= STEPS; seq++) {
    const next: InstanceRecord = {
      ...r,
      version: r.version + 1,
      historySeq: seq,
      currentState: `s${seq + 1}`,
      serializedState: states[seq]!,
      updatedAt: new Date(),
    };
    const history = [benchHistory(r, seq, states[seq - 1]!, states[seq]!)];
    await store.commit({ record: next, previous: r, expectedVersion: r.version, history, events: [] });
    r = next;
  }
  return STEPS;
}

const rawCreate = `INSERT INTO \`${prefix}raw\` (id, name, user_id, current_state, serialized_state, created_at, updated_at, status, version, definition_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

const rawUpdate = `UPDATE \`${prefix}raw\` SET current_state = ?, serialized_state = ?, updated_at = ?, history_seq = ?, version = version + 1 WHERE id = ? AND version = ?`;
const rawInsert = `INSERT INTO \`${prefix}raw_history\` (id, instance_id, seq, handler, step, direction, state_before, state_after, data_before, data_after, metadata, error, attempt, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

async function viaRaw(): Promise<number> {
  const r = benchRecord('raw', states[0]!);
  await rawPool.execute(rawCreate, [r.id, r.machine, r.userId, r.currentState, r.serializedState, r.createdAt, r.updatedAt, 'ready', 1, r.definitionHash]);
  for (let seq = 1; seq <= STEPS; seq++) {
    const h = benchHistory(r, seq, states[seq - 1]!, states[seq]!);
    const conn = await rawPool.getConnection();
    try {
      await conn.query('START TRANSACTION');
      await conn.execute(rawUpdate, [`s${seq + 1}`, states[seq]!, new Date(), seq, r.id, r.version]);
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
const round = (side: Side, concurrency: number, account = false): Promise<number> =>
  measure(concurrency, work[side], account ? cpu[side] : undefined);

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
        measured[side] = await round(side, concurrency, true);
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
    for (const side of sides) {
      const a = cpu[side];
      console.log(`concurrency ${concurrency}: ${side.padEnd(6)} CPU per step: client ${(a.client / a.steps).toFixed(0)} µs, server ${(a.server / a.steps).toFixed(0)} µs`);
      Object.assign(a, { steps: 0, client: 0, server: 0 });
    }
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
