/**
 * A parent's process killed in the middle of the step that spawns its children: a worker in
 * another process takes the step over, and the children exist once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { childrenOf } from '../../runtime/src/engine/children.js';
import type { SpawnRun } from '../../runtime/src/engine/waits.js';
import { createMysqlStore } from '../src/index.js';
import { childrenRunners, type ChildrenConfig } from './processes/children.js';
import { dropTablesWithPrefix, MYSQL_URL, mysqlUnavailable, uniquePrefix } from './support/db.js';
import { killTestProcesses, startTestProcess } from './support/process.js';

const unavailable = await mysqlUnavailable();
type Line = { event: string; pid: number; children?: string[] };

afterEach(killTestProcesses);
const startWorker = (config: ChildrenConfig) => startTestProcess<Line>('children-worker.ts', config);

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
