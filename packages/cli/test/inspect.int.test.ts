import { createRunner, defineMachine, type HistoryRecord, type InstanceRecord } from '@fsmkit/runtime';
import { createMysqlStore, type MysqlStore } from '@fsmkit/mysql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main} from '../src/index.js';
import { dropTablesWithPrefix, MYSQL_URL, mysqlUnavailable, testPool, uniquePrefix, type Pool } from './support/mysql.js';
import { recorder } from './support/io.js';

const unavailable = await mysqlUnavailable();

describe.skipIf(unavailable !== null)('fsm inspect', () => {
  const prefix = uniquePrefix();
  let pool: Pool;
  let store: MysqlStore;
  const ids: Record<'done' | 'failed' | 'other', string> = { done: '', failed: '', other: '' };
  const payment = defineMachine<{ amount: number; paidAt?: Date; tags: Set<string> }>({
    name: 'payment',
    steps: { authorize: { order: 1 }, capture: { order: 2, retry: { maxAttempts: 2, backoffMs: 1 } } },
    methods: {
      authorize: (ctx) => void ctx.data.tags.add('authorized'),
      capture: (ctx) => {
        if (ctx.data.amount > 100) throw new Error('over the limit');
        ctx.data.paidAt = new Date('2026-11-22T12:00:00.000Z');
      },
    },
  });
  const inspect = async (...args: string[]) => {
    const io = recorder();
    const code = await main(['inspect', '--url', MYSQL_URL, '--table-prefix', prefix, ...args], io);
    return { code, ...io };
  };

  beforeAll(async () => {
    pool = testPool();
    store = createMysqlStore({ tablePrefix: prefix, poolSize: 2 });
    await store.ensureSchema([{ name: 'payment' }]);
    const runner = createRunner(payment, { store });
    ids.done = (await runner.start({ amount: 10, tags: new Set() }, { userId: 'ann' })).id;
    ids.failed = (await runner.start({ amount: 500, tags: new Set() }, { userId: 'bob' })).id;
    ids.other = (await runner.create({ amount: 1, tags: new Set() }, { userId: 'ann' })).id;
  });
  afterAll(async () => {
    await store?.close();
    await dropTablesWithPrefix(pool, prefix);
    await pool?.end();
  });

  it('lists instances, most recently updated first, filtered by status, user and state', async () => {
    const all = await inspect('--machine', 'payment');
    expect(all.code).toBe(EXIT_OK);
    const lines = all.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+STATUS\s+STATE\s+DIRECTION\s+USER\s+VERSION\s+UPDATED$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      [ids.other, 'ready', 'authorize'],
      [ids.failed, 'failed', 'capture'],
      [ids.done, 'done', 'done'],
    ]);

    const anns = await inspect('-m', 'payment', '--user', 'ann', '--status', 'ready,done');
    expect(anns.stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0])).toEqual([ids.other, ids.done]);
    const atCapture = await inspect('-m', 'payment', '--state', 'capture', '-n', '1');
    expect(atCapture.stdout).toContain(ids.failed);
    expect((await inspect('-m', 'payment', '--status', 'paused')).stdout).toBe('no payment instances match\n');
  });

  it('shows one instance with its data as the runtime reads it, and its history with errors', async () => {
    const failed = await inspect('-m', 'payment', '--id', ids.failed);
    expect(failed.code).toBe(EXIT_OK);
    expect(failed.stdout).toContain(`payment ${ids.failed}\n`);
    expect(failed.stdout).toMatch(/ {2}status {4}failed, forward, at capture \(step 2\)\n/);
    expect(failed.stdout).toContain('  user      bob\n');
    expect(failed.stdout).toContain('  error     Error: over the limit\n');
    expect(failed.stdout).toContain("tags: Set(1) { 'authorized' }");
    const history = failed.stdout.slice(failed.stdout.indexOf('history (3)'));
    expect(history.split('\n').slice(2, 5).map((l) => l.split(/\s{2,}/).slice(0, 5))).toEqual([
      ['1', 'forward', 'authorize', 'authorize -> capture', '1'],
      ['2', 'forward', 'capture', 'capture -> capture', '1'],
      ['3', 'forward', 'capture', 'capture -> capture', '2'],
    ]);
    expect(history).toContain('Error: over the limit');

    const done = await inspect('-m', 'payment', '--id', ids.done);
    expect(done.stdout).toContain('paidAt: 2026-11-22T12:00:00.000Z');
  });

  it('--json prints the stored records', async () => {
    const one = await inspect('-m', 'payment', '--id', ids.done, '--json');
    const parsed = JSON.parse(one.stdout) as { instance: InstanceRecord; history: HistoryRecord[] };
    expect(parsed.instance).toMatchObject({ id: ids.done, status: 'done', userId: 'ann' });
    expect(parsed.history.map((h) => h.step)).toEqual(['authorize', 'capture']);
    const list = JSON.parse((await inspect('-m', 'payment', '--json', '--user', 'bob')).stdout) as InstanceRecord[];
    expect(list.map((r) => r.id)).toEqual([ids.failed]);
  });

  it('exits 1 for an unknown instance or missing tables, and 2 for bad usage', async () => {
    const missing = await inspect('-m', 'payment', '--id', '01a20000-0000-7000-8000-000000000000');
    expect([missing.code, missing.stderr]).toEqual([EXIT_FAILURE, 'fsm inspect: no payment instance 01a20000-0000-7000-8000-000000000000\n']);
    const noTable = await inspect('-m', 'nosuchmachine');
    expect(noTable.code).toBe(EXIT_FAILURE);
    expect(noTable.stderr).toContain('fsm migrate');
    expect((await inspect()).code).toBe(EXIT_USAGE);
    expect((await inspect('-m', 'payment', '--status', 'sleeping')).stderr).toContain('unknown status "sleeping"');
    expect((await inspect('-m', 'payment', '--limit', '0')).code).toBe(EXIT_USAGE);
    expect((await inspect('-m', 'bad name; DROP TABLE x')).code).toBe(EXIT_USAGE);
  });
});
