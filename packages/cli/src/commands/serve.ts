import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { JsonSchema } from '@fsmkit/runtime';
import type { OutboxProbe } from '@fsmkit/server';
// Types only: `fsm --help` must not load the driver.
import type { createPool as createPoolType } from '@fsmkit/mysql';
import { readSettings, SETTINGS_FLAGS } from '../settings.js';
import { stopped } from '../stopped.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type Command, type Io, parseFlags } from '../command.js';
import { loadDefinitions } from '../load-definitions.js';

const USAGE = `Usage: fsm serve --runners <module> [options]

Serves the machines the module exports over HTTP, on MySQL: the API (/api, its OpenAPI
document at /api/openapi.json), the web console at / and Prometheus metrics at /metrics.
Every request needs a bearer token: FSM_READ_TOKENS and FSM_OPERATE_TOKENS, comma-separated
(each \`token\` or \`name:token\`). Without tokens it listens on a loopback address only, with
a one-time operate token it prints. The project's config (fsm.config.ts) gives the table prefix
and where the generated event schemas are, whose data schemas the API checks new data against.

Options:
  -r, --runners <module>   module that exports machine definitions (the generated index.ts)
  -c, --config <file>      config file (default: fsm.config.ts, .mts, .mjs or .js in the cwd, if any)
      --url <url>          MySQL URL (default: FSM_MYSQL_URL, else mysql://root@127.0.0.1:3306/test)
      --table-prefix <p>   prefix of the fsmkit tables (default: the config's, else fsm_)
      --host <address>     address to listen on (default 127.0.0.1)
  -p, --port <n>           port (default 3000; 0: any free port)
      --redact <paths>     data fields shown as "[redacted]", comma-separated (card.number,email)
      --cors <origins>     origins allowed to call the API from a browser, comma-separated (default: none)
      --body-limit <bytes> largest request body (default 65536)
  -m, --machine <name>     serve only this machine (repeatable; default: every machine exported)
  -h, --help               show this help

Exit codes: 0 stopped by a signal, 1 no machine, no tokens off loopback, or the database is not ready, 2 bad usage.`;

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve the HTTP API, the web console and /metrics on MySQL',
  usage: USAGE,
  run: (args, io) => runServe(args, io),
};

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
const isLoopback = (host: string): boolean => LOOPBACK.has(host) || (isIP(host) === 4 && host.startsWith('127.'));

/** Serves until `stop` aborts; by default, until SIGTERM or SIGINT. */
export async function runServe(args: string[], io: Io, stop?: AbortSignal, env: Record<string, string | undefined> = process.env): Promise<number> {
  const values = parseFlags(
    args,
    {
      runners: { type: 'string', short: 'r' },
      ...SETTINGS_FLAGS,
      host: { type: 'string' },
      port: { type: 'string', short: 'p' },
      redact: { type: 'string' },
      cors: { type: 'string' },
      'body-limit': { type: 'string' },
      machine: { type: 'string', short: 'm', multiple: true },
    },
    USAGE,
    io,
  );
  if (values === null) return EXIT_OK;
  const settings = await readSettings(values, io);
  const runners = values.runners ?? settings.runners;
  if (!runners) throw new UsageError('--runners <module> is required (or a config file, whose runners or outDir names it)');
  const host = values.host ?? '127.0.0.1';
  const port = values.port === undefined ? 3000 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0..65535, not "${values.port}"`);
  const bodyLimit = values['body-limit'] === undefined ? undefined : Number(values['body-limit']);
  if (bodyLimit !== undefined && !(Number.isInteger(bodyLimit) && bodyLimit > 0)) throw new UsageError(`--body-limit must be a positive integer`);
  const list = (s: string | undefined) => (s ?? '').split(',').map((v) => v.trim()).filter((v) => v.length > 0);

  const { tokensFromEnv, createServer, createMetrics } = await import('@fsmkit/server');
  let tokens = tokensFromEnv(env);
  let oneTime: string | undefined;
  if (tokens.length === 0) {
    if (!isLoopback(host)) {
      io.err(`fsm serve: refusing to listen on ${host} without tokens: set FSM_READ_TOKENS and/or FSM_OPERATE_TOKENS\n`);
      return EXIT_FAILURE;
    }
    oneTime = randomBytes(18).toString('base64url');
    tokens = [{ token: oneTime, scopes: ['operate'], name: 'local' }];
  }

  const byName = await loadDefinitions(runners, io.cwd);
  const wanted = values.machine ?? [...byName.keys()];
  const unknown = wanted.filter((name) => !byName.has(name));
  if (byName.size === 0 || unknown.length > 0) {
    io.err(`fsm serve: ${runners}: ${unknown.length > 0 ? `no machine ${unknown.join(', ')}; ` : ''}it exports ${byName.size > 0 ? [...byName.keys()].join(', ') : 'no machine definition'}\n`);
    return EXIT_FAILURE;
  }

  const { createRunner, FsmError } = await import('@fsmkit/runtime');
  const { createMysqlStore, createPool, sharedTables, quoteId } = await import('@fsmkit/mysql');
  const schema = { tablePrefix: settings.tablePrefix };
  const pool = createPool({ url: settings.url, poolSize: 16 });
  const app = { close: async () => undefined } as { close(): Promise<unknown> };
  try {
    const store = createMysqlStore({ pool, ...schema });
    try {
      for (const name of wanted) await store.list(name, { limit: 1 });
    } catch (error) {
      if (!(error instanceof FsmError)) throw error;
      io.err(`fsm serve: ${error.message}\n`);
      return EXIT_FAILURE;
    }
    const outbox = outboxProbe(pool, quoteId(sharedTables(schema).outbox));
    const metrics = createMetrics({ outbox });
    const locker = metrics.observeLocker(store.locker());
    const machines = [];
    for (const name of wanted) {
      const dataSchema = settings.outDir ? await dataSchemaOf(settings.outDir, name) : undefined;
      machines.push({ runner: createRunner(byName.get(name)!, { store, locker }), ...(dataSchema ? { dataSchema } : {}) });
    }
    const server = await createServer({
      machines,
      auth: { tokens },
      redact: list(values.redact),
      ...(values.cors ? { cors: { origin: list(values.cors) } } : {}),
      ...(bodyLimit ? { bodyLimit } : {}),
      metrics,
      outbox,
    });
    app.close = () => server.close();
    const address = await server.listen({ host, port });
    io.out(`fsm serve: ${wanted.join(', ')} on ${address} (console: ${address}/${oneTime ? `#token=${oneTime}` : ''})\n`);
    if (oneTime) io.out('fsm serve: no tokens configured: the link above holds a one-time operate token for this run\n');
    await stopped(stop);
    io.out('fsm serve: stopping\n');
    return EXIT_OK;
  } finally {
    await app.close();
    await pool.end();
  }
}

type Pool = ReturnType<typeof createPoolType>;
type OutboxRow = { machine: string; instance_id: string; sequence: number; event_type: string; created_at: Date; sent_at: Date | null; attempts: number; last_error: string | null };

/** The outbox as the server reads it: backlog, an instance's events and the failing ones, never payloads. */
function outboxProbe(pool: Pool, table: string): OutboxProbe {
  const columns = '`machine`, `instance_id`, `sequence`, `event_type`, `created_at`, `sent_at`, `attempts`, `last_error`';
  const event = (r: OutboxRow) => ({
    machine: r.machine,
    instanceId: r.instance_id,
    sequence: Number(r.sequence),
    type: r.event_type,
    createdAt: r.created_at,
    sentAt: r.sent_at,
    attempts: Number(r.attempts),
    lastError: r.last_error,
  });
  return {
    backlog: async () => {
      const [rows] = await pool.query(`SELECT COUNT(*) AS n, MIN(\`created_at\`) AS oldest FROM ${table} WHERE \`sent_at\` IS NULL`);
      const row = (rows as Array<{ n: number; oldest: Date | null }>)[0]!;
      return { pending: Number(row.n), oldestCreatedAt: row.oldest };
    },
    events: async (machine, instanceId) => {
      const [rows] = await pool.query(`SELECT ${columns} FROM ${table} WHERE \`instance_id\` = ? AND \`machine\` = ? ORDER BY \`sequence\` LIMIT 500`, [instanceId, machine]);
      return (rows as OutboxRow[]).map(event);
    },
    failing: async (limit) => {
      // Pending rows only (the ix_pending index), those whose publishing failed at least once.
      const [rows] = await pool.query(`SELECT ${columns} FROM ${table} WHERE \`sent_at\` IS NULL AND \`attempts\` > 0 ORDER BY \`id\` LIMIT ?`, [limit]);
      return (rows as OutboxRow[]).map(event);
    },
  };
}

/** The data schema inside the generated event schema of a machine, when it was generated. */
async function dataSchemaOf(outDir: string, machine: string): Promise<JsonSchema | undefined> {
  const file = join(outDir, `${machine}.events.schema.json`);
  if (!existsSync(file)) return undefined;
  const events = JSON.parse(await readFile(file, 'utf8')) as { properties?: { data?: JsonSchema } };
  return events.properties?.data;
}

