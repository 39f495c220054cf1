import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMysqlStore, type MysqlStore } from '@fsmkit/mysql';
import { createRunner } from '@fsmkit/runtime';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { runWorker } from '../src/commands/worker.js';
import { EXIT_FAILURE, EXIT_OK, main } from '../src/index.js';
import { pingDefinition, type PingData } from './fixtures/workers/runners.js';
import { recorder } from './support/io.js';
import { dropTablesWithPrefix, MYSQL_URL, mysqlUnavailable, testPool, uniquePrefix } from './support/mysql.js';

const unavailable = await mysqlUnavailable();
const runners = fileURLToPath(new URL('./fixtures/workers/runners.ts', import.meta.url));

/** A folder whose fsm.config.mjs alone names the prefix, the connection and the machines. */
function project(config: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'fsm-settings-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'fsm.config.mjs'), `export default ${JSON.stringify({ include: ['src/**/*.machine.ts'], ...config })};\n`);
  return dir;
}

describe.skipIf(unavailable !== null)('every command reads the config file, flags win', () => {
  const prefixes: string[] = [];
  const pool = testPool();
  afterAll(async () => {
    for (const p of prefixes) await dropTablesWithPrefix(pool, p);
    await pool.end();
  });

  async function pingTables(): Promise<{ prefix: string; store: MysqlStore }> {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const store = createMysqlStore({ tablePrefix: prefix, poolSize: 2 });
    onTestFinished(() => store.close());
    await store.ensureSchema([pingDefinition.model]);
    return { prefix, store };
  }

  it('fsm inspect and fsm worker take tablePrefix, url and runners from the config', async () => {
    const { prefix, store } = await pingTables();
    const dir = project({ tablePrefix: prefix, url: MYSQL_URL, runners });
    const web = createRunner<PingData>(pingDefinition, { store });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await web.create({ ms: 1, seen: [] }, { userId: `u${i % 2}` })).id);

    const listed = recorder(dir);
    expect(await main(['inspect', '--machine', 'ping'], listed)).toBe(EXIT_OK);
    for (const id of ids) expect(listed.stdout).toContain(id);

    const stop = new AbortController();
    const io = recorder(dir);
    const worker = runWorker(['--machine', 'ping', '--concurrency', '2', '--poll-ms', '20'], io, stop.signal);
    const deadline = Date.now() + 20_000;
    while ((await web.list({ status: 'done' })).length < ids.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    stop.abort();
    expect(await worker).toBe(EXIT_OK);
    expect(io.stderr).toBe('');
    expect((await web.list({ status: 'done' })).map((r) => r.id).sort()).toEqual([...ids].sort());
    expect(io.stdout).toContain('fsm worker: ping (concurrency 2 each)');
  });

  it('a flag overrides the config, the same way in every command', async () => {
    const { prefix } = await pingTables();
    const dir = project({ tablePrefix: prefix, url: 'mysql://root@127.0.0.1:1/test', runners });

    // The config's URL is used (and fails) unless --url overrides it.
    const down = recorder(dir);
    expect(await main(['inspect', '--machine', 'ping'], down)).toBe(EXIT_FAILURE);
    expect(down.stderr).toContain('ECONNREFUSED 127.0.0.1:1');
    const up = recorder(dir);
    expect(await main(['inspect', '--machine', 'ping', '--url', MYSQL_URL], up)).toBe(EXIT_OK);
    expect(up.stdout).toBe('no ping instances match\n');

    // The config's prefix is used unless --table-prefix overrides it.
    const other = recorder(dir);
    expect(await main(['inspect', '--machine', 'ping', '--url', MYSQL_URL, '--table-prefix', `${prefix}x_`], other)).toBe(EXIT_FAILURE);
    expect(other.stderr).toContain(`${prefix}x_ping`);

    const relay = recorder(dir);
    expect(await main(['relay', '--url', MYSQL_URL, '--table-prefix', `${prefix}x_`], relay)).toBe(EXIT_FAILURE);
    expect(relay.stderr).toContain(`cannot read the outbox table ${prefix}x_outbox`);
    const relayConfig = recorder(dir);
    expect(await main(['relay'], relayConfig)).toBe(EXIT_FAILURE);
    expect(relayConfig.stderr).toContain(`cannot read the outbox table ${prefix}outbox at mysql://root@127.0.0.1:1/test`);

    const worker = recorder(dir);
    expect(await runWorker(['--url', MYSQL_URL, '--table-prefix', `${prefix}x_`, '--machine', 'ping'], worker)).toBe(EXIT_FAILURE);
    expect(worker.stderr).toContain(`${prefix}x_ping`);
  });
});
