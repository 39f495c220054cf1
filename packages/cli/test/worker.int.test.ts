import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createMysqlStore, type MysqlStore } from '@fsmkit/mysql';
import { createRunner } from '@fsmkit/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT_FAILURE, EXIT_USAGE, main} from '../src/index.js';
import { pingDefinition, pongDefinition, type PingData } from './fixtures/workers/runners.js';
import { dropTablesWithPrefix, MYSQL_URL, mysqlUnavailable, testPool, uniquePrefix, type Rows } from './support/mysql.js';
import { recorder } from './support/io.js';

const unavailable = await mysqlUnavailable();
const cliRoot = fileURLToPath(new URL('../', import.meta.url));
const fsm = fileURLToPath(new URL('../bin/fsm.mjs', import.meta.url));
const runners = 'test/fixtures/workers/runners.ts';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(30);
  }
}

interface Run {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();
afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

/** `fsm worker ...` as an operator runs it, in its own process. */
function fsmWorker(args: string[]): Run {
  const child = spawn(process.execPath, [fsm, 'worker', ...args], { cwd: cliRoot, env: { ...process.env, FSM_MYSQL_URL: MYSQL_URL }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  return { child, out: () => out, err: () => err, exit };
}

describe.skipIf(unavailable !== null)('fsm worker', () => {
  async function tables() {
    const prefix = uniquePrefix();
    const store: MysqlStore = createMysqlStore({ tablePrefix: prefix, poolSize: 2 });
    await store.ensureSchema([pingDefinition.model, pongDefinition.model]);
    const ping = createRunner<PingData>(pingDefinition, { store });
    const pong = createRunner<PingData>(pongDefinition, { store });
    const pool = testPool();
    return {
      prefix,
      ping,
      pong,
      rows: async (sql: string, params: unknown[] = []) => (await pool.query(sql.replaceAll('$', prefix), params))[0] as Rows,
      async cleanup() {
        await store.close();
        await dropTablesWithPrefix(pool, prefix);
        await pool.end();
      },
    };
  }

  it('drives the instances of every machine the module exports, and exits 0 on SIGTERM', async () => {
    const t = await tables();
    try {
      const run = fsmWorker(['--runners', runners, '--table-prefix', t.prefix, '--concurrency', '3', '--poll-ms', '20']);
      await until(async () => run.out().includes('SIGTERM or SIGINT stops'), 20_000, 'the worker to start');
      expect(run.out()).toContain('fsm worker: ping, pong (concurrency 3 each)');
      const ids = [];
      for (let i = 0; i < 6; i++) ids.push((await t.ping.create({ ms: 1, seen: [] }, { userId: `u${i % 2}` })).id);
      const pong = await t.pong.create({ ms: 1, seen: [] });
      await until(async () => (await t.ping.list({ status: 'done' })).length === 6 && (await t.pong.get(pong.id)).status === 'done', 20_000, 'every instance done');
      run.child.kill('SIGTERM');
      expect(await run.exit).toEqual({ code: 0, signal: null });
      expect(run.out()).toMatch(/stopped after driving \d+ instances/);
      expect(run.err()).toBe('');
      for (const id of ids) expect((await t.ping.get(id)).data.seen).toEqual(['first', 'second']);
    } finally {
      await t.cleanup();
    }
  });

  it('on SIGTERM finishes the step in flight, starts nothing more, and leaves no lease or lock held', async () => {
    const t = await tables();
    try {
      const run = fsmWorker(['--runners', runners, '--table-prefix', t.prefix, '--machine', 'ping', '--concurrency', '2', '--poll-ms', '20']);
      await until(async () => run.out().includes('SIGTERM or SIGINT stops'), 20_000, 'the worker to start');
      // Same user: the second waits until the first's lock is free.
      const slow = await t.ping.create({ ms: 600, seen: [] }, { userId: 'same' });
      await until(async () => (await t.ping.get(slow.id)).status === 'running', 10_000, 'the first step to start');
      const queued = await t.ping.create({ ms: 1, seen: [] }, { userId: 'same' });
      run.child.kill('SIGTERM');
      expect(await run.exit).toEqual({ code: 0, signal: null });

      const first = await t.ping.get(slow.id);
      expect([first.status, first.state, first.data.seen]).toEqual(['waiting', 'second', ['first']]);
      const second = await t.ping.get(queued.id);
      expect([second.status, second.data.seen]).toEqual(['ready', []]);
      const leases = await t.rows('SELECT id FROM `$ping` WHERE lease_owner IS NOT NULL OR lease_expires_at IS NOT NULL');
      expect(leases).toEqual([]);
      expect(await t.rows('SELECT lock_key FROM `$local_lock` WHERE owner IS NOT NULL OR expires_at > UTC_TIMESTAMP(3)')).toEqual([]);
      expect(run.err()).toBe('');
    } finally {
      await t.cleanup();
    }
  });

  it('exits 1 when the module has no such machine or the tables are missing, 2 without --runners', async () => {
    const none = recorder(cliRoot);
    expect(await main(['worker'], none)).toBe(EXIT_USAGE);
    expect(none.stderr).toContain('--runners <module> is required');

    const unknown = recorder(cliRoot);
    expect(await main(['worker', '--runners', runners, '--machine', 'nope'], unknown)).toBe(EXIT_FAILURE);
    expect(unknown.stderr).toContain('no machine nope in test/fixtures/workers/runners.ts: it exports ping, pong');

    const missing = recorder(cliRoot);
    expect(await main(['worker', '--runners', runners, '--table-prefix', uniquePrefix()], missing)).toBe(EXIT_FAILURE);
    expect(missing.stderr).toMatch(/fsm worker: .*ping.*doesn't exist/);

    const badPrefix = recorder(cliRoot);
    expect(await main(['worker', '--runners', runners, '--table-prefix', 'Bad-Prefix'], badPrefix)).toBe(EXIT_USAGE);

    const badAging = recorder(cliRoot);
    expect(await main(['worker', '--runners', runners, '--aging-every', '0'], badAging)).toBe(EXIT_USAGE);
    expect(badAging.stderr).toContain('--aging-every must be a positive integer');
  });
});
