/**
 * Workers in separate processes sharing instances and locks through MariaDB alone: locks hold
 * across processes, a worker killed mid-step is taken over once its leases run out, and a
 * worker that stalls past its lease is refused when it wakes up and tries to write.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { RowDataPacket } from 'mysql2/promise';
import { afterEach, describe, expect, it } from 'vitest';
import { createRunner } from '@fsmkit/runtime';
import { createMysqlStore, type MysqlStore } from '../src/index.js';
import { flowMachine, probeDdl, stepNames, type FlowData, type WorkerConfig } from './processes/machine.js';
import { dropTablesWithPrefix, MYSQL_URL, mysqlUnavailable, rawConnection, uniquePrefix } from './support/db.js';

const unavailable = await mysqlUnavailable();
const here = dirname(fileURLToPath(import.meta.url));
// tsx as a loader in the worker's own process (its CLI would run the script in a child, out of reach of our signals).
const tsx = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist', 'loader.mjs')).href;
const workerScript = join(here, 'processes', 'worker.ts');

type Line = Record<string, unknown> & { event: string; pid: number };

interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  lines: Line[];
  /** Resolves with the first line (already printed or to come) that passes `test`. */
  waitFor(test: (line: Line) => boolean, ms?: number): Promise<Line>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();
afterEach(() => {
  // A failed test must not leave workers behind.
  for (const child of running) child.kill('SIGKILL');
  running.clear();
});

function startWorker(config: WorkerConfig): WorkerProcess {
  const child = spawn(process.execPath, ['--conditions=source', '--import', tsx, workerScript, JSON.stringify(config)], {
    cwd: join(here, '..'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const lines: Line[] = [];
  let stderr = '';
  const waiters: Array<{ test: (line: Line) => boolean; resolve: (line: Line) => void }> = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: Line;
    try {
      line = JSON.parse(text) as Line;
    } catch {
      return;
    }
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  return {
    child,
    pid: child.pid!,
    lines,
    exited,
    waitFor(test, ms = 30_000) {
      const seen = lines.find(test);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`worker ${child.pid}: no such line within ${ms} ms; stderr:\n${stderr}`)), ms);
        waiters.push({ test, resolve: (line) => (clearTimeout(timer), resolve(line)) });
        void exited.then(({ code, signal }) => reject(new Error(`worker ${child.pid} exited (${code ?? signal}); stderr:\n${stderr}`)));
      });
    },
  };
}

async function stop(worker: WorkerProcess): Promise<Line> {
  worker.child.kill('SIGTERM');
  const stopped = await worker.waitFor((l) => l.event === 'stopped');
  expect(await worker.exited).toEqual({ code: 0, signal: null });
  return stopped;
}

/** Tables of one test, a store to create and inspect instances, and helpers to read the probes. */
async function setup(machine: string, over: Partial<WorkerConfig>) {
  const prefix = uniquePrefix();
  const config: WorkerConfig = {
    url: MYSQL_URL,
    prefix,
    machine,
    lock: 'user',
    steps: 2,
    stepMs: 3,
    concurrency: 8,
    leaseMs: 30_000,
    claimLeaseMs: 10_000,
    pollMs: 20,
    announce: false,
    ...over,
  };
  const store: MysqlStore = createMysqlStore({ tablePrefix: prefix, poolSize: 4 });
  await store.ensureSchema([{ name: machine }]);
  const raw = await rawConnection();
  for (const ddl of probeDdl(prefix)) await raw.query(ddl);
  const runner = createRunner(flowMachine(config), { store });
  const query = async (sql: string, params: unknown[] = []) => (await raw.query<RowDataPacket[]>(sql.replaceAll('$', prefix), params))[0];
  return {
    config,
    runner,
    query,
    async create(count: number, users: number): Promise<string[]> {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) ids.push((await runner.create({ done: [], by: [] }, { userId: `u${i % users}` })).id);
      return ids;
    },
    async untilDone(count: number, ms = 45_000): Promise<void> {
      const deadline = Date.now() + ms;
      for (;;) {
        const [row] = await query(`SELECT COUNT(*) AS n FROM \`$${machine}\` WHERE status = 'done'`);
        if (Number(row!['n']) === count) return;
        if (Date.now() > deadline) throw new Error(`only ${String(row!['n'])} of ${count} instances done in ${ms} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    /** Handlers per instance, in history order, and whether any history row holds an error. */
    async histories(): Promise<{ steps: Map<string, string>; errors: number }> {
      const rows = await query(`SELECT instance_id AS id, GROUP_CONCAT(step ORDER BY seq) AS steps, MAX(seq) AS last, COUNT(*) AS n FROM \`$${machine}_history\` GROUP BY instance_id`);
      const [errors] = await query(`SELECT COUNT(*) AS n FROM \`$${machine}_history\` WHERE error IS NOT NULL`);
      expect(rows.every((r) => Number(r['last']) === Number(r['n']))).toBe(true);
      return { steps: new Map(rows.map((r) => [r['id'] as string, r['steps'] as string])), errors: Number(errors!['n']) };
    },
    async peaks(): Promise<{ perUser: number; overall: number }> {
      const [user] = await query(`SELECT MAX(peak) AS p FROM \`$probe\` WHERE k LIKE 'user:%'`);
      const [all] = await query(`SELECT peak AS p FROM \`$probe\` WHERE k = '*'`);
      return { perUser: Number(user!['p']), overall: Number(all!['p']) };
    },
    /** Lock rows that still name an owner or hold a live lease. */
    async heldLocks(): Promise<number> {
      const [row] = await query(
        `SELECT (SELECT COUNT(*) FROM \`$global_lock\` WHERE owner IS NOT NULL OR expires_at > UTC_TIMESTAMP(3)) + (SELECT COUNT(*) FROM \`$local_lock\` WHERE owner IS NOT NULL OR expires_at > UTC_TIMESTAMP(3)) AS n`,
      );
      return Number(row!['n']);
    },
    async cleanup(): Promise<void> {
      await store.close();
      await raw.end();
      await dropTablesWithPrefix(prefix);
    },
  };
}

describe.skipIf(unavailable !== null)('workers in separate processes', () => {
  it('4 processes, 400 instances over 20 users, locked per user: never two of one user at once', async () => {
    const t = await setup('peruser', { lock: 'user' });
    try {
      const workers = Array.from({ length: 4 }, () => startWorker(t.config));
      await Promise.all(workers.map((w) => w.waitFor((l) => l.event === 'ready')));
      const ids = await t.create(400, 20);
      await t.untilDone(400);
      const stats = await Promise.all(workers.map(stop));

      const peaks = await t.peaks();
      expect(peaks.perUser).toBe(1);
      const [flags] = await t.query('SELECT COUNT(*) AS n FROM `$peruser` WHERE is_global_lock = 0 AND is_local_lock = 1');
      expect(Number(flags!['n'])).toBe(400);
      expect(peaks.overall).toBeGreaterThan(1);
      // Every process took a share of the work.
      expect(stats.every((s) => Number(s['driven']) > 0)).toBe(true);
      const { steps, errors } = await t.histories();
      expect(errors).toBe(0);
      expect(ids.every((id) => steps.get(id) === 's1,s2')).toBe(true);
      expect(await t.heldLocks()).toBe(0);
    } finally {
      await t.cleanup();
    }
  });

  it('4 processes, one global lock: never two instances at once in the whole system', async () => {
    const t = await setup('everyone', { lock: 'global', concurrency: 4 });
    try {
      const workers = Array.from({ length: 4 }, () => startWorker(t.config));
      await Promise.all(workers.map((w) => w.waitFor((l) => l.event === 'ready')));
      const ids = await t.create(80, 20);
      await t.untilDone(80);
      await Promise.all(workers.map(stop));

      expect((await t.peaks()).overall).toBe(1);
      const [flags] = await t.query('SELECT COUNT(*) AS n FROM `$everyone` WHERE is_global_lock = 1 AND is_local_lock = 0');
      expect(Number(flags!['n'])).toBe(80);
      const { steps, errors } = await t.histories();
      expect(errors).toBe(0);
      expect(ids.every((id) => steps.get(id) === 's1,s2')).toBe(true);
      const [lock] = await t.query("SELECT owner, expires_at > UTC_TIMESTAMP(3) AS live FROM `$global_lock` WHERE lock_key = 'global'");
      expect(lock).toMatchObject({ owner: null, live: 0 });
      expect(await t.heldLocks()).toBe(0);
    } finally {
      await t.cleanup();
    }
  });

  it('a worker killed with SIGKILL mid-step is taken over after its leases; every step commits exactly once', async () => {
    const t = await setup('killed', { lock: 'user', steps: 3, stepMs: 120, concurrency: 4, leaseMs: 1500, claimLeaseMs: 1500 });
    try {
      // The victim drives one instance at a time, so every lock it holds belongs to an unfinished
      // instance; it gets the first instance alone, and its second step never ends there, so it
      // is still inside it when killed however slowly the others are created.
      const victim = startWorker({ ...t.config, concurrency: 1, announce: true, holdAt: 's2' });
      await victim.waitFor((l) => l.event === 'ready');
      const orphan = (await t.create(1, 1))[0]!;
      await victim.waitFor((l) => l.event === 'entered' && l['id'] === orphan);
      const others = [startWorker(t.config), startWorker(t.config)];
      await Promise.all(others.map((w) => w.waitFor((l) => l.event === 'ready')));
      // More of the same user's instances among them: their drives wait for the victim's lock.
      const ids = [orphan, ...(await t.create(29, 6))];
      await victim.waitFor((l) => l.event === 'entered' && l['id'] === orphan && l['step'] === 's2');
      victim.child.kill('SIGKILL');
      expect((await victim.exited).signal).toBe('SIGKILL');
      // Killed while holding its user's lock, with the instance marked running under its lease.
      const [held] = await t.query('SELECT COUNT(*) AS n FROM `$local_lock` WHERE owner IS NOT NULL AND state_machine_id = ?', [orphan]);
      expect(Number(held!['n'])).toBe(1);

      await t.untilDone(30);
      await Promise.all(others.map(stop));

      const { steps, errors } = await t.histories();
      expect(errors).toBe(0);
      expect(ids.every((id) => steps.get(id) === 's1,s2,s3')).toBe(true);
      // The killed step ran twice (in the victim, then in a survivor) and committed once.
      const runs = await t.query('SELECT pid FROM `$runs` WHERE instance_id = ? AND step = ? ORDER BY n', [orphan, 's2']);
      expect(runs.map((r) => r['pid'])).toContain(victim.pid);
      expect(runs.length).toBeGreaterThanOrEqual(2);
      const data = (await t.runner.get(orphan)).data as FlowData;
      expect(data.done).toEqual(stepNames(3));
      // Its first step stands as the victim committed it; the rest ran elsewhere.
      expect(data.by[0]).toBe(victim.pid);
      expect(data.by.slice(1)).not.toContain(victim.pid);
      expect(await t.heldLocks()).toBe(0);
    } finally {
      await t.cleanup();
    }
  });

  it('another process cannot drive an instance a worker process runs: resume, compensate and next are refused, each step commits once', async () => {
    const t = await setup('owned', { lock: 'user', steps: 3, stepMs: 400, concurrency: 1, leaseMs: 3000, claimLeaseMs: 3000 });
    try {
      const worker = startWorker({ ...t.config, announce: true });
      await worker.waitFor((l) => l.event === 'ready');
      const [id] = await t.create(1, 1);
      await worker.waitFor((l) => l.event === 'entered' && l['id'] === id && l['step'] === 's2');
      // This test process is the second process: its runner would run the same steps.
      for (const call of [() => t.runner.resume(id!), () => t.runner.compensate(id!), () => t.runner.next(id!), () => t.runner.back(id!)]) {
        await expect(call()).rejects.toMatchObject({ code: 'FSM_INSTANCE_BUSY' });
      }
      await t.untilDone(1);
      await stop(worker);
      const runs = await t.query('SELECT step FROM `$runs` WHERE instance_id = ? ORDER BY n', [id]);
      expect(runs.map((r) => r['step'])).toEqual(['s1', 's2', 's3']);
      expect((await t.histories()).steps.get(id!)).toBe('s1,s2,s3');
    } finally {
      await t.cleanup();
    }
  });

  it('with saveAfterStep off, a pause asked from another process stops the worker process at a step boundary', async () => {
    const t = await setup('nosave', { lock: 'user', steps: 8, stepMs: 250, concurrency: 1, leaseMs: 900, claimLeaseMs: 3000, saveAfterStep: false });
    try {
      const worker = startWorker({ ...t.config, announce: true });
      await worker.waitFor((l) => l.event === 'ready');
      const [id] = await t.create(1, 1);
      await worker.waitFor((l) => l.event === 'entered' && l['id'] === id && l['step'] === 's2');
      expect((await t.runner.pause(id!, 'operator')).pauseRequested).toBe(true);
      const deadline = Date.now() + 20_000;
      while ((await t.runner.get(id!)).status === 'running' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const paused = await t.runner.get(id!);
      expect([paused.status, paused.pauseReason, paused.pauseRequested]).toEqual(['paused', 'operator', false]);
      expect((paused.data as FlowData).done.length).toBeLessThan(8);
      await stop(worker);
    } finally {
      await t.cleanup();
    }
  });

  it('a worker that stalls past its lease and wakes up is refused on write with FSM_LOCK_LOST', async () => {
    const t = await setup('stalled', { lock: 'user', steps: 2, stepMs: 300, concurrency: 2, leaseMs: 1000, claimLeaseMs: 1000 });
    try {
      const sleeper = startWorker({ ...t.config, concurrency: 1, announce: true });
      await sleeper.waitFor((l) => l.event === 'ready');
      const [id] = await t.create(1, 1);
      await sleeper.waitFor((l) => l.event === 'entered' && l['step'] === 's1');
      // Frozen mid-step: no renewal, no write, as in a long GC pause or a suspended VM.
      sleeper.child.kill('SIGSTOP');
      const other = startWorker(t.config);
      await t.untilDone(1);
      sleeper.child.kill('SIGCONT');
      const refused = await sleeper.waitFor((l) => l.event === 'error' && l['id'] === id);
      expect(refused['code']).toBe('FSM_LOCK_LOST');
      await Promise.all([sleeper, other].map(stop));

      const { steps, errors } = await t.histories();
      expect(errors).toBe(0);
      expect(steps.get(id!)).toBe('s1,s2');
      const data = (await t.runner.get(id!)).data as FlowData;
      expect(data.by).toEqual([other.pid, other.pid]);
      const runs = await t.query('SELECT pid FROM `$runs` WHERE instance_id = ? AND step = ? ORDER BY n', [id, 's1']);
      expect(runs.map((r) => r['pid'])).toEqual([sleeper.pid, other.pid]);
      expect(await t.heldLocks()).toBe(0);
    } finally {
      await t.cleanup();
    }
  });
});
