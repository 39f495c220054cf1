/**
 * The machine of the chaos test and the probe its handlers keep. Runs in the worker processes
 * (with a probe pool) and in the test itself (without one, only to create instances).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { defineMachine, type StepContext } from '../../packages/runtime/src/index.js';
import type { createPool } from '../../packages/mysql/src/index.js';

export type Pool = ReturnType<typeof createPool>;

export const MACHINE = 'chaos_order';

/** What the worker processes run, passed to them as JSON. */
export interface WorkerConfig {
  /** The store's database. */
  url: string;
  /** The probe's connections: the same server without a default database, so they can be told apart from the store's. */
  probeUrl: string;
  /** Database of the probe tables. */
  database: string;
  prefix: string;
  topic: string;
  stepMs: number;
  concurrency: number;
  leaseMs: number;
  pollMs: number;
}

export interface RelayConfig {
  url: string;
  prefix: string;
  brokers: string[];
  batchSize: number;
  leaseMs: number;
  pollMs: number;
}

export interface OrderData {
  n: number;
  reviews: number;
  trail: string[];
}

/** Review rounds of instance `n`: none (reserve goes straight to charge), one or two (a loop). */
const rounds = (n: number) => n % 3;

/** The handlers instance `n` must have committed, in order. */
export function expectedTrail(n: number): string[] {
  return ['reserve', ...Array.from({ length: rounds(n) }, () => 'review'), 'charge', 'ship'];
}

/**
 * reserve branches to review or charge; review loops on itself; charge, then ship, which ends.
 * Every handler runs inside the probe, which proves in the database, not from the engine's
 * records, that no two handlers of one user ever overlap.
 */
export function orderMachine(config: Pick<WorkerConfig, 'prefix' | 'database' | 'stepMs'>, probe?: Pool) {
  const guarded = (work: (ctx: StepContext<OrderData>) => unknown) => async (ctx: StepContext<OrderData>) => {
    if (!probe) throw new Error('this definition only creates instances');
    await probed(probe, config, ctx);
    ctx.data.trail.push(ctx.step);
    return work(ctx);
  };
  return defineMachine<OrderData>({
    name: MACHINE,
    lock: { scope: 'local', by: 'user' },
    steps: {
      reserve: { order: 1, next: ['charge', 'review'] },
      review: { order: 2, next: ['charge', 'review'] },
      charge: { order: 3 },
      ship: { order: 4, end: true },
    },
    methods: {
      reserve: guarded((ctx) => (rounds(ctx.data.n) > 0 ? ctx.goto('review') : ctx.goto('charge'))),
      review: guarded((ctx) => (++ctx.data.reviews < rounds(ctx.data.n) ? ctx.goto('review') : ctx.goto('charge'))),
      charge: guarded(() => undefined),
      ship: guarded(() => undefined),
    },
  });
}

export const probeTables = (config: Pick<WorkerConfig, 'prefix' | 'database'>) => {
  const q = (name: string) => `\`${config.database}\`.\`${config.prefix}${name}\``;
  return { probe: q('probe'), overlaps: q('overlaps'), runs: q('runs') };
};

/**
 * `probe` holds one row per user whose handler runs now (its primary key is the user):
 * a second handler of the same user cannot insert its own, and records the overlap.
 * `runs` counts every start of a handler (a killed step runs again elsewhere).
 */
export function probeDdl(config: Pick<WorkerConfig, 'prefix' | 'database'>): string[] {
  const t = probeTables(config);
  return [
    `CREATE TABLE ${t.probe} (user_id VARCHAR(191) NOT NULL PRIMARY KEY, token CHAR(36) NOT NULL, pid INT NOT NULL, instance_id CHAR(36) NOT NULL, step VARCHAR(64) NOT NULL) ENGINE=InnoDB`,
    `CREATE TABLE ${t.overlaps} (n BIGINT AUTO_INCREMENT PRIMARY KEY, user_id VARCHAR(191) NOT NULL, holder_instance CHAR(36) NOT NULL, holder_step VARCHAR(64) NOT NULL, holder_pid INT NOT NULL, instance_id CHAR(36) NOT NULL, step VARCHAR(64) NOT NULL, pid INT NOT NULL) ENGINE=InnoDB`,
    `CREATE TABLE ${t.runs} (n BIGINT AUTO_INCREMENT PRIMARY KEY, instance_id CHAR(36) NOT NULL, step VARCHAR(64) NOT NULL, pid INT NOT NULL) ENGINE=InnoDB`,
  ];
}

/** False once the process is gone (a zombie not yet reaped by its parent counts as gone). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the step's work (a sleep of about `stepMs`) inside the probe of its user. */
export async function probed(
  probe: Pool,
  config: Pick<WorkerConfig, 'prefix' | 'database' | 'stepMs'>,
  ctx: Pick<StepContext<OrderData>, 'userId' | 'instanceId' | 'step'>,
): Promise<void> {
  const t = probeTables(config);
  const user = ctx.userId!;
  const token = randomUUID();
  await probe.query(`INSERT INTO ${t.runs} (instance_id, step, pid) VALUES (?, ?, ?)`, [ctx.instanceId, ctx.step, process.pid]);
  let held = false;
  for (let tries = 0; !held && tries < 20; tries++) {
    try {
      await probe.query(`INSERT INTO ${t.probe} (user_id, token, pid, instance_id, step) VALUES (?, ?, ?, ?, ?)`, [
        user,
        token,
        process.pid,
        ctx.instanceId,
        ctx.step,
      ]);
      held = true;
    } catch (error) {
      if ((error as { code?: string }).code !== 'ER_DUP_ENTRY') throw error;
      const [rows] = (await probe.query(`SELECT token, pid, instance_id, step FROM ${t.probe} WHERE user_id = ?`, [user])) as unknown as [
        Array<{ token: string; pid: number; instance_id: string; step: string }>,
      ];
      const holder = rows[0];
      if (!holder) continue; // it left meanwhile
      if (!alive(holder.pid)) {
        // A handler of a killed process: it stopped running when its process died.
        await probe.query(`DELETE FROM ${t.probe} WHERE user_id = ? AND token = ?`, [user, holder.token]);
        continue;
      }
      await probe.query(
        `INSERT INTO ${t.overlaps} (user_id, holder_instance, holder_step, holder_pid, instance_id, step, pid) VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [user, holder.instance_id, holder.step, holder.pid, ctx.instanceId, ctx.step, process.pid],
      );
      break;
    }
  }
  try {
    // The step's work: long enough that kills land inside steps.
    await sleep(Math.round(config.stepMs * (0.5 + Math.random())));
  } finally {
    if (held) await probe.query(`DELETE FROM ${t.probe} WHERE user_id = ? AND token = ?`, [user, token]);
  }
}
