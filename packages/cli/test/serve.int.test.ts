import { createMysqlStore, type MysqlStore } from '@fsmkit/mysql';
import { createRunner } from '@fsmkit/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runServe } from '../src/commands/serve.js';
import { EXIT_FAILURE, EXIT_OK, main } from '../src/index.js';
import { pingDefinition, pongDefinition, type PingData } from './fixtures/workers/runners.js';
import { recorder } from './support/io.js';
import { dropTablesWithPrefix, MYSQL_URL, mysqlUnavailable, uniquePrefix } from './support/mysql.js';

const unavailable = await mysqlUnavailable();
const runners = 'test/fixtures/workers/runners.ts';
const cliRoot = new URL('../', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(unavailable !== null)('fsm serve and fsm stats', () => {
  const prefix = uniquePrefix();
  let store: MysqlStore;
  let id: string;

  beforeAll(async () => {
    store = createMysqlStore({ tablePrefix: prefix, poolSize: 2 });
    await store.ensureSchema([pingDefinition.model, pongDefinition.model]);
    const ping = createRunner<PingData>(pingDefinition, { store });
    id = (await ping.start({ ms: 1, seen: [] }, { userId: 'u' })).id;
    await ping.start({ ms: 2, seen: [] }, { userId: 'v' });
  });
  afterAll(async () => {
    await dropTablesWithPrefix(store.pool, prefix);
    await store.close();
  });

  async function serve(args: string[], env: Record<string, string>) {
    const io = recorder(cliRoot);
    const stop = new AbortController();
    const exit = runServe(['--runners', runners, '--url', MYSQL_URL, '--table-prefix', prefix, '--port', '0', ...args], io, stop.signal, env);
    for (let i = 0; i < 300 && !/ on (http\S+)/.test(io.stdout); i++) {
      if ((await Promise.race([exit, sleep(20)])) !== undefined) break;
    }
    const url = / on (http:\/\/\S+) /.exec(io.stdout)?.[1];
    return { io, url, stop: async () => (stop.abort(), exit) };
  }

  it('serves the API with the tokens from the environment, and stops on a signal', async () => {
    const s = await serve([], { FSM_READ_TOKENS: 'viewer:read-token-1', FSM_OPERATE_TOKENS: 'ops-token-12' });
    expect(s.url, s.io.stderr).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${s.url}/api/fsm/ping/${id}/current`)).status).toBe(401);
    const res = await fetch(`${s.url}/api/fsm/ping/${id}/current`, { headers: { authorization: 'Bearer read-token-1' } });
    expect(await res.json()).toMatchObject({ id, state: 'done', status: 'done' });
    const paused = await fetch(`${s.url}/api/fsm/ping/${id}/pause`, { method: 'POST', headers: { authorization: 'Bearer read-token-1' } });
    expect(paused.status).toBe(403);
    const metrics = await (await fetch(`${s.url}/metrics`, { headers: { authorization: 'Bearer ops-token-12' } })).text();
    expect(metrics).toContain('fsm_instances{machine="ping",status="done"} 2');
    expect(metrics).toMatch(/^fsm_outbox_backlog \d+$/m);

    // Two events of the instance in the real outbox, one published, one that failed twice.
    const row = (seq: number, sent: boolean, attempts: number) =>
      store.pool.query(
        `INSERT INTO \`${prefix}outbox\` (event_id, topic, message_key, machine, instance_id, sequence, event_type, payload, created_at, sent_at, attempts, last_error) VALUES (UUID(), 't', ?, 'ping', ?, ?, 'step.completed', '{"data":{"secret":1}}', UTC_TIMESTAMP(3), ${sent ? 'UTC_TIMESTAMP(3)' : 'NULL'}, ?, ?)`,
        [id, id, seq, attempts, attempts > 0 ? 'broker down' : null],
      );
    await row(1, true, 0);
    await row(2, false, 2);
    const read = { headers: { authorization: 'Bearer read-token-1' } };
    const events = (await (await fetch(`${s.url}/api/fsm/ping/${id}/events`, read)).json()) as { items: Array<{ sequence: number; sentAt: string | null; attempts: number }> };
    expect(events.items.map((e: { sequence: number; sentAt: string | null; attempts: number }) => [e.sequence, e.sentAt !== null, e.attempts])).toEqual([
      [1, true, 0],
      [2, false, 2],
    ]);
    expect(JSON.stringify(events)).not.toContain('secret');
    const trouble = (await (await fetch(`${s.url}/api/trouble`, read)).json()) as { outboxFailing: unknown[] };
    expect(trouble.outboxFailing).toMatchObject([{ machine: 'ping', instanceId: id, sequence: 2, attempts: 2, lastError: 'broker down' }]);
    expect(await s.stop()).toBe(EXIT_OK);
  });

  it('without tokens: a one-time token on loopback, a refusal elsewhere', async () => {
    const s = await serve([], {});
    const token = /#token=(\S+)\)/.exec(s.io.stdout)?.[1];
    expect(token).toBeDefined();
    const res = await fetch(`${s.url}/api/fsm/pong/instances`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(await s.stop()).toBe(EXIT_OK);

    const io = recorder(cliRoot);
    expect(await runServe(['--runners', runners, '--host', '0.0.0.0', '--port', '0'], io, undefined, {})).toBe(EXIT_FAILURE);
    expect(io.stderr).toContain('refusing to listen on 0.0.0.0 without tokens');
  });

  it('fsm stats prints counts and step durations computed in SQL', async () => {
    const io = recorder(cliRoot);
    expect(await main(['stats', '--machine', 'ping', '--url', MYSQL_URL, '--table-prefix', prefix], io)).toBe(EXIT_OK);
    expect(io.stdout).toMatch(/^ping: 2 instances\n {2}by status: done 2\n/);
    expect(io.stdout).toMatch(/^first\s+forward\s+2\s+0\s/m);
    const json = recorder(cliRoot);
    expect(await main(['stats', '-m', 'ping', '--url', MYSQL_URL, '--table-prefix', prefix, '--json', '--from', '2999-01-01'], json)).toBe(EXIT_OK);
    expect(JSON.parse(json.stdout)).toMatchObject({ machine: 'ping', total: 0, steps: [] });
    const bad = recorder(cliRoot);
    expect(await main(['stats', '-m', 'ping', '--from', 'yesterday'], bad)).toBe(2);
  });
});
