/**
 * peer-dbos: the `mysql-steps` workload (instances of 10 steps, ~1 KB of data changed by every
 * step, history kept) through fsmkit on MariaDB and through DBOS Transact on PostgreSQL, at
 * concurrency 1 and 32, with each database's raw floor measured in the same rounds:
 *
 * - fsmkit (the headline): a runner on MysqlStore, saveAfterStep and history on, `start()` per
 *   instance (mysql-steps' `engine` side): per step one transaction with the instance row and one
 *   history row.
 * - dbos (the peer): a workflow registered with DBOS.registerWorkflow whose 10 steps are
 *   DBOS.runStep calls, each returning the changed ~1 KB data, which DBOS checkpoints as the
 *   step's output (its history); the system database on PostgreSQL.
 * - mysql (floor): raw mysql2, mysql-steps' `raw` side: INSERT the instance row, then per step
 *   BEGIN; UPDATE the instance row; INSERT one history row; COMMIT (prepared statements).
 * - pg (floor): the same tables and the same statements through `pg` on the PostgreSQL server,
 *   prepared too.
 *
 * Many short rounds alternate the four sides (who goes first rotates); a side's figure is the
 * median of its rounds and a ratio the median of the per-round ratios. Each side also prints the
 * CPU it cost per step in Node and in its database server (from /proc, when the server runs on
 * this host). Last line: the JSON result (DESIGN.md section 10); ratio = fsmkit / DBOS at the
 * concurrency where it is lower (each concurrency's ratio is in `byConcurrency`); higher is
 * better.
 *
 * Environment: BENCH_SECONDS per round (default 2), BENCH_ROUNDS (default 10),
 * BENCH_CONCURRENCY (default `1,32`), FSM_MYSQL_URL (as the store reads it), FSM_PG_URL (default
 * postgresql://postgres@127.0.0.1:5432; the pg floor uses its database `test`, DBOS a database
 * of its own made for the run and dropped after it).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DBOS } from '@dbos-inc/dbos-sdk';
import { createRunner } from '@fsmkit/runtime';
import { createMysqlStore, createPool } from '@fsmkit/mysql';
import pg from 'pg';
import { benchHistory, benchRecord } from './support/records.js';
import { median } from './support/rounds.js';
import {
  cpuAccount,
  initialData,
  MARIADB,
  measure,
  POSTGRES,
  rawMysqlInstance,
  states,
  STEPS,
  stepNames,
  stepsDefinition,
  type BenchData,
  type CpuAccount,
} from './support/steps.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,32').split(',').map(Number);
const PG_URL = (process.env.FSM_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432').replace(/\/+$/, '');
/** Both sides get as many connections as the widest concurrency needs. */
const POOL = 32;
const tag = randomBytes(4).toString('hex');
const prefix = `b${tag}_`;
const dbosDatabase = `fsmkit_bench_${tag}`;

// fsmkit on MariaDB, and the mysql2 floor, as mysql-steps sets them up.
const store = createMysqlStore({ tablePrefix: prefix, poolSize: POOL, queryTimeoutMs: 30000 });
await store.ensureSchema([{ name: 'engine' }, { name: 'raw' }]);
const mysqlPool = createPool({ poolSize: POOL });
const runner = createRunner(stepsDefinition('engine'), { store, history: true, saveAfterStep: true });

// The pg floor. Idle connections stay open, as mysql2's pool keeps them: a round does not pay for reconnecting.
const pgPool = new pg.Pool({ connectionString: `${PG_URL}/test`, max: POOL, idleTimeoutMillis: 0 });
const pgTable = `${prefix}raw`;
/** The instance and history tables of MysqlStore's DDL, in PostgreSQL's types, with the same indexes. */
async function createPgTables(): Promise<void> {
  await pgPool.query(`CREATE TABLE "${pgTable}" (
    id CHAR(36) PRIMARY KEY, name VARCHAR(48) NOT NULL, user_id VARCHAR(191), current_state VARCHAR(64) NOT NULL,
    direction VARCHAR(8) NOT NULL DEFAULT 'forward', resume_from_step INT, save_after_step BOOLEAN NOT NULL DEFAULT TRUE,
    kafka_event_topic VARCHAR(249), serialized_state TEXT NOT NULL, created_at TIMESTAMPTZ(3) NOT NULL, updated_at TIMESTAMPTZ(3) NOT NULL,
    is_global_lock BOOLEAN NOT NULL DEFAULT FALSE, is_local_lock BOOLEAN NOT NULL DEFAULT FALSE, status VARCHAR(16) NOT NULL,
    version INT NOT NULL, definition_hash CHAR(16) NOT NULL, definition_version INT NOT NULL DEFAULT 1,
    pause_requested BOOLEAN NOT NULL DEFAULT FALSE, pause_reason VARCHAR(1024), last_error TEXT, attempts INT NOT NULL DEFAULT 0,
    next_run_at TIMESTAMPTZ(3), lease_owner VARCHAR(128), lease_expires_at TIMESTAMPTZ(3), history_seq INT NOT NULL DEFAULT 0,
    event_seq INT NOT NULL DEFAULT 0, takeovers INT NOT NULL DEFAULT 0)`);
  for (const [name, columns] of [['user', 'user_id, id'], ['state', 'current_state, id'], ['status_next', 'status, next_run_at'], ['updated', 'updated_at']]) {
    await pgPool.query(`CREATE INDEX "${pgTable}_${name}" ON "${pgTable}" (${columns})`);
  }
  await pgPool.query(`CREATE TABLE "${pgTable}_history" (
    id CHAR(36) PRIMARY KEY, instance_id CHAR(36) NOT NULL, seq INT NOT NULL, handler VARCHAR(64) NOT NULL, step VARCHAR(64) NOT NULL,
    direction VARCHAR(8) NOT NULL, state_before VARCHAR(64) NOT NULL, state_after VARCHAR(64) NOT NULL, data_before TEXT NOT NULL,
    data_after TEXT NOT NULL, metadata TEXT, error TEXT, attempt INT NOT NULL DEFAULT 1, started_at TIMESTAMPTZ(3) NOT NULL,
    finished_at TIMESTAMPTZ(3) NOT NULL, transition VARCHAR(64), actor VARCHAR(191), result TEXT, UNIQUE (instance_id, seq))`);
}

const pgCreate = {
  name: 'bench_create',
  text: `INSERT INTO "${pgTable}" (id, name, user_id, current_state, serialized_state, created_at, updated_at, status, version, definition_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
};
const pgUpdate = {
  name: 'bench_update',
  text: `UPDATE "${pgTable}" SET current_state = $1, serialized_state = $2, updated_at = $3, history_seq = $4, version = version + 1 WHERE id = $5 AND version = $6`,
};
const pgInsert = {
  name: 'bench_insert',
  text: `INSERT INTO "${pgTable}_history" (id, instance_id, seq, handler, step, direction, state_before, state_after, data_before, data_after, metadata, error, attempt, started_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
};

/** The mysql2 floor's writes, statement for statement, through pg. */
async function viaPg(): Promise<number> {
  const r = benchRecord('raw', states[0]!);
  await pgPool.query({ ...pgCreate, values: [r.id, r.machine, r.userId, r.currentState, r.serializedState, r.createdAt, r.updatedAt, 'ready', 1, r.definitionHash] });
  for (let seq = 1; seq <= STEPS; seq++) {
    const h = benchHistory(r, seq, states[seq - 1]!, states[seq]!);
    const client = await pgPool.connect();
    try {
      await client.query('BEGIN');
      const updated = await client.query({ ...pgUpdate, values: [`s${seq + 1}`, states[seq]!, new Date(), seq, r.id, r.version] });
      if (updated.rowCount !== 1) throw new Error(`pg floor: instance ${r.id} not updated at step ${seq}`);
      await client.query({
        ...pgInsert,
        values: [h.id, h.instanceId, h.seq, h.handler, h.step, h.direction, h.stateBefore, h.stateAfter, h.dataBefore, h.dataAfter, '{}', null, 1, h.startedAt, h.finishedAt],
      });
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    r.version += 1;
  }
  return STEPS;
}

// DBOS: its system database is made by launch(); a fresh one per run, so no run reads an earlier one's rows.
DBOS.setConfig({ name: 'fsmkit-bench', systemDatabaseUrl: `${PG_URL}/${dbosDatabase}`, systemDatabasePoolSize: POOL, logLevel: 'warn' });
const stepsWorkflow = DBOS.registerWorkflow(
  async (data: BenchData): Promise<BenchData> => {
    let current = data;
    for (let i = 0; i < STEPS; i++) {
      const before = current;
      // The step's return value is what DBOS checkpoints: the changed data, as fsmkit stores it.
      current = await DBOS.runStep(async () => ({ ...before, step: i + 1 }), { name: stepNames[i]! });
    }
    return current;
  },
  { name: 'benchSteps' },
);

async function viaFsmkit(): Promise<number> {
  const done = await runner.start(initialData());
  if (done.status !== 'done') throw new Error(`instance ended ${done.status}`);
  return STEPS;
}

async function viaDbos(): Promise<number> {
  const done = await stepsWorkflow(initialData());
  if (done.step !== STEPS) throw new Error(`workflow ended at step ${done.step}`);
  return STEPS;
}

type Side = 'fsmkit' | 'dbos' | 'mysql' | 'pg';
const work: Record<Side, () => Promise<number>> = { fsmkit: viaFsmkit, dbos: viaDbos, mysql: rawMysqlInstance(mysqlPool, `${prefix}raw`), pg: viaPg };
const server: Record<Side, string[]> = { fsmkit: MARIADB, mysql: MARIADB, dbos: POSTGRES, pg: POSTGRES };
const label: Record<Side, string> = { fsmkit: 'fsmkit (MariaDB)', dbos: 'DBOS (PostgreSQL)', mysql: 'mysql2 floor', pg: 'pg floor' };
const sides: Side[] = ['mysql', 'fsmkit', 'pg', 'dbos'];
const newCpu = (): Record<Side, CpuAccount> => ({ fsmkit: cpuAccount(), dbos: cpuAccount(), mysql: cpuAccount(), pg: cpuAccount() });

interface Result {
  concurrency: number;
  rates: Record<Side, number>;
  /** fsmkit / DBOS. */
  ratio: number;
  /** Each library against its own database's floor. */
  fsmkitOfFloor: number;
  dbosOfFloor: number;
  /** The pg floor against the mysql2 floor: the databases alone. */
  pgOfMysql: number;
}

const versions = {
  dbos: (JSON.parse(readFileSync(new URL('./node_modules/@dbos-inc/dbos-sdk/package.json', import.meta.url), 'utf8')) as { version: string }).version,
  postgres: '',
  mariadb: '',
};
const results: Result[] = [];
try {
  await createPgTables();
  await DBOS.launch();
  versions.postgres = (await pgPool.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
  versions.mariadb = ((await store.pool.query('SELECT VERSION() AS v')) as unknown as [Array<{ v: string }>])[0][0]!.v;
  console.log(`DBOS Transact ${versions.dbos} on PostgreSQL ${versions.postgres}; fsmkit on MariaDB ${versions.mariadb}; ${ROUNDS} rounds of ${SECONDS} s per side`);
  for (const concurrency of CONCURRENCY) {
    for (const side of sides) await measure(concurrency, SECONDS, work[side]); // warm-up: connections, prepared statements, JIT
    const cpu = newCpu();
    const runs: Record<Side, number[]> = { fsmkit: [], dbos: [], mysql: [], pg: [] };
    const perRound = { ratio: [] as number[], fsmkitOfFloor: [] as number[], dbosOfFloor: [] as number[], pgOfMysql: [] as number[] };
    for (let r = 0; r < ROUNDS; r++) {
      // Rotate who goes first, so that machine noise hits every side alike.
      const m = {} as Record<Side, number>;
      for (let k = 0; k < sides.length; k++) {
        const side = sides[(r + k) % sides.length]!;
        m[side] = await measure(concurrency, SECONDS, work[side], { cpu: cpu[side], server: server[side] });
        runs[side].push(m[side]);
      }
      perRound.ratio.push(m.fsmkit / m.dbos);
      perRound.fsmkitOfFloor.push(m.fsmkit / m.mysql);
      perRound.dbosOfFloor.push(m.dbos / m.pg);
      perRound.pgOfMysql.push(m.pg / m.mysql);
    }
    const result: Result = {
      concurrency,
      rates: { fsmkit: median(runs.fsmkit), dbos: median(runs.dbos), mysql: median(runs.mysql), pg: median(runs.pg) },
      ratio: median(perRound.ratio),
      fsmkitOfFloor: median(perRound.fsmkitOfFloor),
      dbosOfFloor: median(perRound.dbosOfFloor),
      pgOfMysql: median(perRound.pgOfMysql),
    };
    results.push(result);
    for (const side of sides) {
      const a = cpu[side];
      console.log(
        `concurrency ${concurrency}: ${label[side].padEnd(17)} ${runs[side].map((v) => v.toFixed(0)).join(', ')} steps/s; ` +
          `CPU per step: Node ${(a.client / a.steps).toFixed(0)} µs, server ${(a.server / a.steps).toFixed(0)} µs`,
      );
    }
    console.log(
      `concurrency ${concurrency}: median fsmkit/DBOS ${result.ratio.toFixed(3)}; fsmkit/mysql2 floor ${result.fsmkitOfFloor.toFixed(3)}, ` +
        `DBOS/pg floor ${result.dbosOfFloor.toFixed(3)}; pg floor/mysql2 floor ${result.pgOfMysql.toFixed(3)}`,
    );
  }
} finally {
  await DBOS.shutdown();
  const tables = ['engine', 'engine_history', 'raw', 'raw_history', 'global_lock', 'local_lock', 'outbox', 'migrations'];
  await store.pool.query(`DROP TABLE IF EXISTS ${tables.map((t) => `\`${prefix}${t}\``).join(', ')}`);
  await store.close();
  await mysqlPool.end();
  await pgPool.query(`DROP TABLE IF EXISTS "${pgTable}", "${pgTable}_history"`);
  await pgPool.query(`DROP DATABASE IF EXISTS "${dbosDatabase}" WITH (FORCE)`);
  await pgPool.end();
}

const worst = results.reduce((a, b) => (b.ratio < a.ratio ? b : a));
console.log(
  JSON.stringify({
    bench: 'peer-dbos',
    metric: 'persisted_steps_per_s',
    value: Math.round(worst.rates.fsmkit),
    baseline: `DBOS Transact ${versions.dbos} on PostgreSQL ${versions.postgres}, a workflow of ${STEPS} DBOS.runStep calls (concurrency ${worst.concurrency}, the lower ratio of ${CONCURRENCY.join(' and ')})`,
    baselineValue: Math.round(worst.rates.dbos),
    ratio: Number(worst.ratio.toFixed(3)),
    unit: 'steps/s',
    byConcurrency: results.map((r) => ({
      concurrency: r.concurrency,
      fsmkit: Math.round(r.rates.fsmkit),
      dbos: Math.round(r.rates.dbos),
      mysqlFloor: Math.round(r.rates.mysql),
      pgFloor: Math.round(r.rates.pg),
      ratio: Number(r.ratio.toFixed(3)),
      fsmkitOfFloor: Number(r.fsmkitOfFloor.toFixed(3)),
      dbosOfFloor: Number(r.dbosOfFloor.toFixed(3)),
      pgOfMysql: Number(r.pgOfMysql.toFixed(3)),
    })),
  }),
);
