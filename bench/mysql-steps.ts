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
import { createRunner, type InstanceRecord } from '@fsmkit/runtime';
import { createMysqlStore, createPool } from '@fsmkit/mysql';
import type { Pool } from 'mysql2/promise';
import { benchHistory, benchRecord } from './support/records.js';
import { median } from './support/rounds.js';
import { cpuAccount, initialData, MARIADB, measure, poolThreads, rawMysqlInstance, states, STEPS, stepsDefinition } from './support/steps.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,32').split(',').map(Number);
const prefix = `b${randomBytes(4).toString('hex')}_`;

const store = createMysqlStore({ tablePrefix: prefix, poolSize: 32, queryTimeoutMs: Number(process.env.BENCH_TIMEOUT ?? 30000), ...(process.env.BENCH_GROUP_LANES ? { groupCommit: { lanes: Number(process.env.BENCH_GROUP_LANES) } } : {}) });
await store.ensureSchema([{ name: 'engine' }, { name: 'store' }, { name: 'raw' }]);
const rawPool: Pool = createPool({ poolSize: 32 });
/** Asks the server which of its threads serve the sides' connections. */
const adminPool: Pool = createPool({ poolSize: 1 });
const runner = createRunner(stepsDefinition('engine'), { store, history: true, saveAfterStep: true });

/** CPU spent per persisted step, in microseconds, summed over a side's rounds. */
const cpu = { engine: cpuAccount(), store: cpuAccount(), raw: cpuAccount() };

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

type Side = 'engine' | 'store' | 'raw';
const work: Record<Side, () => Promise<number>> = { engine: viaEngine, store: viaStore, raw: rawMysqlInstance(rawPool, `${prefix}raw`) };
const round = (side: Side, concurrency: number, account = false): Promise<number> =>
  measure(concurrency, SECONDS, work[side], account ? { cpu: cpu[side], server: MARIADB, threads: () => poolThreads(side === 'raw' ? rawPool : store.pool, adminPool) } : undefined);

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
      console.log(
        `concurrency ${concurrency}: ${side.padEnd(6)} CPU per step: client ${(a.client / a.steps).toFixed(0)} µs, server ${(a.server / a.steps).toFixed(0)} µs (its own connections ${(a.own / a.steps).toFixed(0)} µs)`,
      );
      Object.assign(a, { steps: 0, client: 0, server: 0, own: 0 });
    }
    console.log(`concurrency ${concurrency}: median engine/raw ${result.ratio.toFixed(3)}, store/raw ${result.storeRatio.toFixed(3)}`);
  }
} finally {
  const tables = ['engine', 'engine_history', 'store', 'store_history', 'raw', 'raw_history', 'global_lock', 'local_lock', 'outbox', 'migrations', 'inbox', 'inbox_lock'];
  await store.pool.query(`DROP TABLE IF EXISTS ${tables.map((t) => `\`${prefix}${t}\``).join(', ')}`);
  await store.close();
  await rawPool.end();
  await adminPool.end();
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
