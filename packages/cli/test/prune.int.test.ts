import { createMysqlStore, type MysqlStore } from '@fsmkit/mysql';
import { createRunner, defineMachine } from '@fsmkit/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAge } from '../src/commands/prune.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main } from '../src/index.js';
import { dropTablesWithPrefix, MYSQL_URL, mysqlUnavailable, testPool, uniquePrefix, type Pool } from './support/mysql.js';
import { recorder } from './support/io.js';

const unavailable = await mysqlUnavailable();

describe('fsm prune --older-than', () => {
  it('reads a whole number and a unit', () => {
    expect(parseAge('30d')).toBe(30 * 86_400_000);
    expect(parseAge('2w')).toBe(14 * 86_400_000);
    expect(parseAge('90m')).toBe(90 * 60_000);
    for (const bad of ['30', 'd', '-1d', '1.5h', '0s', '30 days', '']) expect(() => parseAge(bad), bad).toThrow(/--older-than/);
  });
});

describe.skipIf(unavailable !== null)('fsm prune', () => {
  const prefix = uniquePrefix();
  let pool: Pool;
  let store: MysqlStore;
  const job = defineMachine<{ fail?: boolean }>({
    name: 'job',
    steps: { work: { order: 1 }, wrap: { order: 2 } },
    methods: {
      work: (ctx) => {
        if (ctx.data.fail) throw new Error('no');
      },
      wrap: () => undefined,
    },
  });
  const prune = async (...args: string[]) => {
    const io = recorder();
    const code = await main(['prune', '--url', MYSQL_URL, '--table-prefix', prefix, ...args], io);
    return { code, ...io };
  };
  const age = (id: string, days: number) => pool.query(`UPDATE \`${prefix}job\` SET updated_at = UTC_TIMESTAMP(3) - INTERVAL ? DAY WHERE id = ?`, [days, id]);

  beforeAll(async () => {
    pool = testPool();
    store = createMysqlStore({ tablePrefix: prefix, poolSize: 2 });
    await store.ensureSchema([{ name: 'job' }]);
  });
  afterAll(async () => {
    await store?.close();
    await dropTablesWithPrefix(pool, prefix);
    await pool?.end();
  });

  it('deletes finished instances older than the age with their history, and keeps the rest', async () => {
    const runner = createRunner(job, { store });
    const oldDone = (await runner.start({})).id;
    const oldFailed = (await runner.start({ fail: true })).id;
    const oldReady = (await runner.create({})).id;
    const newDone = (await runner.start({})).id;
    for (const id of [oldDone, oldFailed, oldReady]) await age(id, 40);

    const onlyDone = await prune('--machine', 'job', '--older-than', '30d', '--status', 'done', '--json');
    expect(onlyDone.code).toBe(EXIT_OK);
    expect(JSON.parse(onlyDone.stdout)).toMatchObject({ machine: 'job', instances: 1, historyRows: 2 });
    expect(await store.get('job', oldDone)).toBeUndefined();
    expect(await store.get('job', oldFailed)).toBeDefined();

    const rest = await prune('-m', 'job', '--older-than', '30d', '--batch-size', '1');
    expect(rest.code).toBe(EXIT_OK);
    expect(rest.stdout).toMatch(/^pruned 1 job instances and 1 history rows last updated before \d{4}-/);
    expect(await store.get('job', oldFailed)).toBeUndefined();
    expect(await store.history('job', oldFailed)).toEqual([]);
    expect((await store.get('job', oldReady))?.status).toBe('ready');
    expect((await store.get('job', newDone))?.status).toBe('done');
    expect(await store.history('job', newDone)).toHaveLength(2);
  });

  it('exits 2 for bad usage and 1 when the tables are missing', async () => {
    expect((await prune('-m', 'job')).code).toBe(EXIT_USAGE);
    expect((await prune('--older-than', '1d')).code).toBe(EXIT_USAGE);
    expect((await prune('-m', 'job', '--older-than', 'soon')).stderr).toContain('--older-than');
    expect((await prune('-m', 'job', '--older-than', '1d', '--status', 'running')).stderr).toContain('"running" is not finished');
    expect((await prune('-m', 'job', '--older-than', '1d', '--batch-size', '0')).code).toBe(EXIT_USAGE);
    expect((await prune('-m', 'bad name; DROP TABLE x', '--older-than', '1d')).code).toBe(EXIT_USAGE);
    const missing = await prune('-m', 'nosuchmachine', '--older-than', '1d');
    expect(missing.code).toBe(EXIT_FAILURE);
    expect(missing.stderr).toContain('fsm migrate');
  });
});
