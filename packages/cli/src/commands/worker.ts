import { EXIT_FAILURE, EXIT_OK, UsageError, type Command, type Io, parseFlags } from '../command.js';
import { commandLogger } from '../command-logger.js';
import { loadDefinitions } from '../load-definitions.js';
import { readSettings, SETTINGS_FLAGS } from '../settings.js';
import { stopped } from '../stopped.js';

const USAGE = `Usage: fsm worker [--runners <module>] [options]

Claims the runnable instances of every machine the module exports and drives them: instances
waiting for their next step, retries that are due, and instances whose worker died (their
lease ran out). Any number of workers, on any number of hosts, share the work through MySQL.
SIGTERM or SIGINT stops it: the steps in flight finish and commit, claimed instances not yet
started are given back, and it exits 0. A second signal ends it at once.

Options:
  -r, --runners <module>   module that exports machine definitions (any export with \`model\`
                           and \`create\`); .ts is loaded with tsx (default: the config's
                           runners, else the generated index.ts in its outDir)
      --config <file>      config file (default: fsm.config.ts, .mts, .mjs or .js in the cwd)
      --url <url>          MySQL URL (default: FSM_MYSQL_URL, else the config's url, else
                           mysql://root@127.0.0.1:3306/test)
      --table-prefix <p>   prefix of the fsmkit tables (default: the config's, else fsm_)
      --concurrency <n>    instances driven at once, per machine (default 4)
      --poll-ms <n>        wait between claims while nothing is runnable (default 200)
      --aging-every <n>    one claimed slot in n goes to the instance due the longest,
                           whatever its priority (default 4)
      --lease-ms <n>       lock and instance leases: how soon other workers take over from a
                           worker that died (default 30000)
  -m, --machine <name>     run only this machine (repeatable; default: every machine exported)
  -h, --help               show this help

Exit codes: 0 stopped by a signal, 1 no machine to run or the database is not ready, 2 bad usage.`;

export const workerCommand: Command = {
  name: 'worker',
  summary: 'claim and drive runnable instances from MySQL until SIGTERM',
  usage: USAGE,
  run: (args, io) => runWorker(args, io),
};

/**
 * Runs workers until `stop` aborts; by default, until SIGTERM or SIGINT. Exported so that tests
 * can stop it without signalling their own process.
 */
export async function runWorker(args: string[], io: Io, stop?: AbortSignal): Promise<number> {
  const values = parseFlags(
    args,
    {
      runners: { type: 'string', short: 'r' },
      ...SETTINGS_FLAGS,
      concurrency: { type: 'string' },
      'poll-ms': { type: 'string' },
      'aging-every': { type: 'string' },
      'lease-ms': { type: 'string' },
      machine: { type: 'string', short: 'm', multiple: true },
    },
    USAGE,
    io,
  );
  if (values === null) return EXIT_OK;
  const settings = await readSettings(values, io);
  const runners = values.runners ?? settings.runners;
  if (!runners) throw new UsageError('--runners <module> is required without a config file');
  const concurrency = positive('--concurrency', values.concurrency, 4);
  const pollMs = positive('--poll-ms', values['poll-ms'], 200);
  const agingEvery = positive('--aging-every', values['aging-every'], 4);
  const leaseMs = positive('--lease-ms', values['lease-ms'], 30_000);

  const byName = await loadDefinitions(runners, io.cwd);
  const wanted = values.machine ?? [...byName.keys()];
  const unknown = wanted.filter((name) => !byName.has(name));
  if (byName.size === 0 || unknown.length > 0) {
    const found = byName.size === 0 ? 'it exports no machine definition (an object with `model` and `create`)' : `it exports ${[...byName.keys()].join(', ')}`;
    io.err(`fsm worker: ${unknown.length > 0 ? `no machine ${unknown.join(', ')} in ${runners}: ` : `${runners}: `}${found}\n`);
    return EXIT_FAILURE;
  }

  // Loaded here, not at the top: `fsm --help` should not load the database driver.
  const { createRunner, FsmError } = await import('@fsmkit/runtime');
  const { createMysqlStore, createPool } = await import('@fsmkit/mysql');
  const { url, tablePrefix } = settings;
  const pool = createPool({ url, poolSize: wanted.length * (concurrency + 1) + 1 });
  try {
    const store = createMysqlStore({ pool, tablePrefix });
    const locker = store.locker();
    const logger = commandLogger(io, 'worker');
    try {
      // Fail at start, not at every poll, when the tables are missing or the server is away.
      for (const name of wanted) await store.list(name, { limit: 1 });
    } catch (error) {
      if (!(error instanceof FsmError)) throw error;
      io.err(`fsm worker: ${error.message}\n`);
      return EXIT_FAILURE;
    }

    const workers = wanted.map((name) =>
      createRunner(byName.get(name)!, { store, locker, logger, lockLeaseMs: leaseMs, instanceLeaseMs: leaseMs }).work({ concurrency, pollMs, agingEvery }),
    );
    io.out(`fsm worker: ${wanted.join(', ')} (concurrency ${concurrency} each) on ${where(url)}; SIGTERM or SIGINT stops\n`);
    await stopped(stop);
    io.out('fsm worker: stopping: finishing the steps in flight\n');
    await Promise.all(workers.map((w) => w.stop()));
    const driven = workers.reduce((n, w) => n + w.stats.driven, 0);
    io.out(`fsm worker: stopped after driving ${driven} instance${driven === 1 ? '' : 's'}\n`);
    return EXIT_OK;
  } finally {
    await pool.end();
  }
}

function positive(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, not "${text}"`);
  return n;
}

/** The server and database of a URL, without its credentials. */
function where(url: string): string {
  try {
    const u = new URL(url);
    return `${u.host}${u.pathname}`;
  } catch {
    return 'the database';
  }
}
