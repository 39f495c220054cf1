import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMysqlStore, type MysqlStore } from '@fsmkit/mysql';
import { createRunner } from '@fsmkit/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main } from '../src/index.js';
import { pongDefinition, type PingData } from './fixtures/workers/runners.js';
import { recorder } from './support/io.js';
import { dropTablesWithPrefix, MYSQL_URL, mysqlUnavailable, testPool, uniquePrefix } from './support/mysql.js';

const unavailable = await mysqlUnavailable();
const cliRoot = fileURLToPath(new URL('../', import.meta.url));
const runners = 'test/fixtures/workers/runners.ts';

describe.skipIf(unavailable !== null)('fsm start-many', () => {
  const prefix = uniquePrefix();
  let store: MysqlStore;
  let dir: string;
  const pong = () => createRunner<PingData>(pongDefinition, { store });
  const fsm = async (args: string[], tty = false) => {
    const io = Object.assign(recorder(cliRoot), tty ? { terminal: process.stderr } : {});
    const code = await main(['start-many', '-r', runners, '--url', MYSQL_URL, '--table-prefix', prefix, ...args], io);
    return { code, out: io.stdout, err: io.stderr };
  };

  beforeAll(async () => {
    store = createMysqlStore({ tablePrefix: prefix, poolSize: 2 });
    await store.ensureSchema([pongDefinition.model]);
    dir = await mkdtemp(join(tmpdir(), 'fsm-start-many-'));
  });
  afterAll(async () => {
    await store?.close();
    const pool = testPool();
    await dropTablesWithPrefix(pool, prefix);
    await pool.end();
  });

  it('starts one instance per line, prints a line per --every items without a terminal, and lists the failures', async () => {
    const file = join(dir, 'items.jsonl');
    // The third item has no `seen` list: its step throws, and the instance ends failed.
    await writeFile(file, ['{"ms":0,"seen":["a"]}', '{"ms":0,"seen":["b"]}', '', '{"ms":0}', '{"ms":0,"seen":["d"]}', '{"ms":0,"seen":["e"]}'].join('\n'));
    const run = await fsm(['-m', 'pong', '--input', file, '--every', '2', '--concurrency', '2', '--priority', '3']);
    expect(run.code).toBe(EXIT_FAILURE);
    // Items settle in any order at concurrency 2: which line first counts the failure varies.
    const lines = run.err.split('\n').filter((l) => l.includes('/5 done'));
    expect(lines.map((l) => /^fsm start-many: (\d)\/5 done, [01] failed$/.exec(l)?.[1])).toEqual(['2', '4', '5']);
    expect(lines.at(-1)).toBe('fsm start-many: 5/5 done, 1 failed');
    expect(run.err).toContain('fsm start-many: item 3 failed:');
    expect(run.out).toBe('fsm start-many: 4 started, 1 failed, 0 skipped of 5\n');
    const done = await pong().list({ status: 'done' });
    expect(done.map((i) => i.data.seen[0]).sort()).toEqual(['a', 'b', 'd', 'e']);
    expect(done.every((i) => i.priority === 3)).toBe(true);
  });

  it('chains from the done instances of a machine, drawing a bar on a terminal', async () => {
    const before = (await pong().list({ status: 'done' })).map((i) => i.id);
    const run = await fsm(['-m', 'pong', '--from', 'pong', '--stop-on-error'], true);
    expect(run.code).toBe(EXIT_OK);
    expect(run.out).toBe(`fsm start-many: ${before.length} started, 0 failed, 0 skipped of ${before.length}\n`);
    // cli-progress's bar, written through the command's error stream.
    expect(run.err).toContain(`${before.length}/${before.length}`);
    expect(run.err).toContain('\u001b[');
    const chained = (await pong().list({ status: 'done' })).filter((i) => i.chainedFrom !== null);
    expect(chained.map((i) => i.chainedFrom!.id).sort()).toEqual([...before].sort());
  });

  it('refuses bad usage before touching the database', async () => {
    expect((await fsm(['-m', 'pong'])).code).toBe(EXIT_USAGE);
    expect((await fsm(['-m', 'pong', '--input', 'x', '--from', 'pong'])).code).toBe(EXIT_USAGE);
    expect((await fsm(['-m', 'pong', '--from', 'pong', '--status', 'finished'])).code).toBe(EXIT_USAGE);
    const bad = join(dir, 'bad.jsonl');
    await writeFile(bad, '{"ms":0,"seen":[]}\n{nope}\n');
    const run = await fsm(['-m', 'pong', '--input', bad]);
    expect(run.code).toBe(EXIT_USAGE);
    expect(run.err).toContain('line 2 is not JSON');
    const good = join(dir, 'good.jsonl');
    await writeFile(good, '{"ms":0,"seen":[]}\n');
    const unknown = await fsm(['-m', 'nosuch', '--input', good]);
    expect(unknown.code).toBe(EXIT_FAILURE);
    expect(unknown.err).toContain('no machine nosuch');
  });
});
