import { defineMachine, type StepContext } from '@fsmkit/runtime';
import type { Pool } from 'mysql2/promise';

/** What the worker processes of the tests run, and how; passed to them as JSON. */
export interface WorkerConfig {
  url: string;
  prefix: string;
  machine: string;
  lock: 'user' | 'global';
  steps: number;
  stepMs: number;
  concurrency: number;
  /** Lock and instance leases. */
  leaseMs: number;
  claimLeaseMs: number;
  pollMs: number;
  /** Print an `entered` line when a step starts, so the test can kill the process mid-step. */
  announce: boolean;
  /** A step that never ends in this process (it runs until the process is killed). */
  holdAt?: string;
  /** The runner's saveAfterStep (default: the machine's, true). */
  saveAfterStep?: boolean;
}

export interface FlowData {
  done: string[];
  by: number[];
}

export const stepNames = (steps: number) => Array.from({ length: steps }, (_, i) => `s${i + 1}`);

/**
 * The machine under test. Every step measures, in the database (the workers are separate
 * processes), how many steps run at once per user and overall: `probe` rows count on entry and
 * exit and keep the peak; `runs` records every start of a step with the process id.
 */
export function flowMachine(config: Pick<WorkerConfig, 'machine' | 'lock' | 'steps' | 'stepMs' | 'prefix' | 'announce' | 'holdAt'>, probe?: Pool) {
  const probeTable = `\`${config.prefix}probe\``;
  const runsTable = `\`${config.prefix}runs\``;
  const step = async (ctx: StepContext<FlowData>) => {
    if (!probe) throw new Error('this definition only creates instances');
    const keys = [`user:${ctx.userId}`, '*'];
    await probe.query(`INSERT INTO ${runsTable} (instance_id, step, pid) VALUES (?, ?, ?)`, [ctx.instanceId, ctx.step, process.pid]);
    if (config.announce) console.log(JSON.stringify({ event: 'entered', id: ctx.instanceId, step: ctx.step, pid: process.pid }));
    // Rows in a fixed order (user first, then '*'), so concurrent probes cannot deadlock.
    for (const k of keys) {
      await probe.query(`INSERT INTO ${probeTable} (k, running, peak) VALUES (?, 1, 1) ON DUPLICATE KEY UPDATE running = running + 1, peak = GREATEST(peak, running)`, [k]);
    }
    if (ctx.step === config.holdAt) await new Promise<never>(() => {});
    await new Promise((r) => setTimeout(r, config.stepMs));
    for (const k of keys) await probe.query(`UPDATE ${probeTable} SET running = running - 1 WHERE k = ?`, [k]);
    ctx.data.done.push(ctx.step);
    ctx.data.by.push(process.pid);
  };
  const names = stepNames(config.steps);
  return defineMachine<FlowData>({
    name: config.machine,
    lock: config.lock === 'global' ? { scope: 'global' } : { scope: 'local', by: 'user' },
    steps: Object.fromEntries(names.map((n, i) => [n, { order: i + 1 }])),
    methods: Object.fromEntries(names.map((n) => [n, step])),
  });
}

/** The probe and runs tables of a test, next to the store's. */
export function probeDdl(prefix: string): string[] {
  return [
    `CREATE TABLE \`${prefix}probe\` (k VARCHAR(191) NOT NULL PRIMARY KEY, running INT NOT NULL, peak INT NOT NULL) ENGINE=InnoDB`,
    `CREATE TABLE \`${prefix}runs\` (n BIGINT AUTO_INCREMENT PRIMARY KEY, instance_id CHAR(36) NOT NULL, step VARCHAR(64) NOT NULL, pid INT NOT NULL) ENGINE=InnoDB`,
  ];
}
