/**
 * A parent's process killed in the middle of the step that spawns its children: a worker in
 * another process takes the step over, and the children exist once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { childrenOf } from '../../runtime/src/engine/children.js';
import type { SpawnRun } from '../../runtime/src/engine/waits.js';
import { createMysqlStore } from '../src/index.js';
import { childrenRunners, type ChildrenConfig } from './processes/children.js';
import { dropTablesWithPrefix, MYSQL_URL, mysqlUnavailable, uniquePrefix } from './support/db.js';

const unavailable = await mysqlUnavailable();
const here = dirname(fileURLToPath(import.meta.url));
const tsx = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist', 'loader.mjs')).href;
const script = join(here, 'processes', 'children-worker.ts');

type Line = { event: string; pid: number; children?: string[] };

const running = new Set<ChildProcess>();
afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
});

/** A worker process, and the first line it prints that passes `test`. */
function startWorker(config: ChildrenConfig) {
  const child = spawn(process.execPath, ['--conditions=source', '--import', tsx, script, JSON.stringify(config)], {
    cwd: join(here, '..'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const lines: Line[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const reader = createInterface({ input: child.stdout! });
  reader.on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as Line);
    } catch {
      // not a line of ours
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => (running.delete(child), resolve())));
  return {
    child,
    exited,
    async waitFor(event: string, ms = 30_000): Promise<Line> {
      const deadline = Date.now() + ms;
      for (;;) {
        const line = lines.find((l) => l.event === event);
        if (line) return line;
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${event} line from worker ${child.pid}; stderr:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

describe.skipIf(unavailable !== null)('child machines across a crash', () => {
  it.each([1, 2, 3])('a parent killed mid-step after spawning is taken over by another process, which spawns its children once (run %i)', async () => {
    const prefix = uniquePrefix();
    const config: ChildrenConfig = { url: MYSQL_URL, prefix, parent: 'crash_parent', child: 'crash_kid', leaseMs: 1500, hang: true };
    const store = createMysqlStore({ tablePrefix: prefix, poolSize: 4 });
    try {
      await store.ensureSchema([{ name: config.parent }, { name: config.child }]);
      const { parent, children } = childrenRunners(config, store);
      const created = await parent.create({ items: [1, 2, 3, 4, 5] });

      const first = startWorker(config);
      const entered = await first.waitFor('entered');
      expect(entered.children).toHaveLength(5);
      first.child.kill('SIGKILL');
      await first.exited;
      // Nothing of the killed step was committed: no child exists yet.
      expect(await children.list({ parentId: created.id })).toEqual([]);

      const second = startWorker({ ...config, hang: false });
      await second.waitFor('ready');
      let done = await parent.get(created.id);
      for (let i = 0; i < 600 && done.status !== 'done' && done.status !== 'failed'; i++) {
        await new Promise((r) => setTimeout(r, 50));
        done = await parent.get(created.id);
      }
      second.child.kill('SIGTERM');
      await second.waitFor('stopped');

      expect(done.status).toBe('done');
      expect(done.data.results).toEqual([2, 4, 6, 8, 10]);
      const kids = await children.list({ parentId: created.id });
      expect(kids).toHaveLength(5);
      expect(kids.every((k) => k.status === 'done')).toBe(true);
      // The step ran twice (the killed attempt, the takeover): one set of children, named by the visit that committed.
      expect((await store.get(config.parent, created.id))!.takeovers).toBe(1);
      const [row] = await parent.history(created.id);
      const spawned = row!.metadata['fsm.children'] as { visit: string; runs: SpawnRun[] };
      expect(spawned.runs).toEqual([{ machine: config.child, from: 0, count: 5, stride: 2 }]);
      expect(childrenOf(created.id, spawned.visit, spawned.runs).map((c) => c.id).sort()).toEqual(kids.map((k) => k.id).sort());
    } finally {
      await store.close();
      await dropTablesWithPrefix(prefix);
    }
  });
});
