import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { EXIT_FAILURE, EXIT_OK, UsageError, type Command, type Io, parseFlags } from '../command.js';
import { loadDefinitions } from '../load-definitions.js';
import { readSettings, SETTINGS_FLAGS } from '../settings.js';

const USAGE = `Usage: fsm start-many --machine <name> (--input <file.jsonl> | --from <machine>) [options]

Starts one instance of a machine per item, several at once, and runs each as \`start\` does:
from the data items of a JSON Lines file (one JSON value a line), or chained from the
instances of a source machine (their final data, or their data after --step). Shows a
progress bar on a terminal, and a line per --every items otherwise; then lists the items
that failed.

Options:
  -m, --machine <name>     the machine to start (exported by the runners module)
  -i, --input <file>       JSON Lines file of data items
      --from <machine>     chain from this machine's instances (default filter: --status done)
      --status <status>    which source instances (repeatable; default done)
      --step <step>        start from each source's data after this step instead of its final data
      --user-id <id>       user id of every new instance
      --priority <n>       priority of every new instance (integer; default 0)
      --concurrency <n>    items started at once (default 4)
      --stop-on-error      start no more items after the first failure
      --every <n>          without a terminal, a progress line every n items (default 100)
  -r, --runners <module>   module that exports machine definitions (default: the config's)
      --config <file>      config file (default: fsm.config.ts, .mts, .mjs or .js in the cwd)
      --url <url>          MySQL URL (default: FSM_MYSQL_URL, else the config's url)
      --table-prefix <p>   prefix of the fsmkit tables (default: the config's, else fsm_)
  -h, --help               show this help

Exit codes: 0 every item started, 1 some failed or the database is not ready, 2 bad usage.`;

export const startManyCommand: Command = {
  name: 'start-many',
  summary: 'start many instances from a JSON Lines file or from the instances of another machine',
  usage: USAGE,
  run: (args, io) => runStartMany(args, io),
};

async function runStartMany(args: string[], io: Io): Promise<number> {
  const values = parseFlags(
    args,
    {
      machine: { type: 'string', short: 'm' },
      input: { type: 'string', short: 'i' },
      from: { type: 'string' },
      status: { type: 'string', multiple: true },
      step: { type: 'string' },
      'user-id': { type: 'string' },
      priority: { type: 'string' },
      concurrency: { type: 'string' },
      'stop-on-error': { type: 'boolean', default: false },
      every: { type: 'string' },
      runners: { type: 'string', short: 'r' },
      ...SETTINGS_FLAGS,
    },
    USAGE,
    io,
  );
  if (values === null) return EXIT_OK;
  if (values.machine === undefined) throw new UsageError('--machine <name> is required');
  if ((values.input === undefined) === (values.from === undefined)) throw new UsageError('give either --input <file.jsonl> or --from <machine>');
  if (values.input !== undefined && (values.status !== undefined || values.step !== undefined)) throw new UsageError('--status and --step go with --from');
  const concurrency = integer('--concurrency', values.concurrency, 4, 1);
  const every = integer('--every', values.every, 100, 1);
  const priority = integer('--priority', values.priority, 0, -2_147_483_648);
  const settings = await readSettings(values, io);
  const runners = values.runners ?? settings.runners;
  if (!runners) throw new UsageError('--runners <module> is required without a config file');
  const items = values.input === undefined ? undefined : await readLines(resolve(io.cwd, values.input));

  const byName = await loadDefinitions(runners, io.cwd);
  const definition = byName.get(values.machine);
  if (definition === undefined) {
    io.err(`fsm start-many: no machine ${values.machine} in ${runners}; it exports ${[...byName.keys()].join(', ') || 'no machine definition'}\n`);
    return EXIT_FAILURE;
  }

  // Loaded here, not at the top: `fsm --help` should not load the database driver.
  const [{ createRunner, FsmError, INSTANCE_STATUSES }, { createMysqlStore, createPool }] = await Promise.all([import('@fsmkit/runtime'), import('@fsmkit/mysql')]);
  const statuses = (values.status ?? ['done']).map((status) => {
    const known = INSTANCE_STATUSES.find((s) => s === status);
    if (known === undefined) throw new UsageError(`--status ${status} is not a status; one of ${INSTANCE_STATUSES.join(', ')}`);
    return known;
  });
  const pool = createPool({ url: settings.url, poolSize: concurrency + 1 });
  try {
    const store = createMysqlStore({ pool, tablePrefix: settings.tablePrefix });
    const runner = createRunner(definition, { store });
    const create = { priority, ...(values['user-id'] === undefined ? {} : { userId: values['user-id'] }) };
    const progress = await progressOutput(io, every);
    let results;
    try {
      results = await runner.startMany(
        items ?? {
          from: {
            machine: values.from,
            filter: { status: statuses },
            ...(values.step === undefined ? {} : { step: values.step }),
          },
        },
        { concurrency, stopOnError: values['stop-on-error'], create, onProgress: progress.update },
      );
    } catch (error) {
      if (!(error instanceof FsmError)) throw error;
      io.err(`fsm start-many: ${error.message}\n`);
      return EXIT_FAILURE;
    } finally {
      progress.stop();
    }
    const count = (status: string) => results.filter((r) => r.status === status).length;
    const failed = results.filter((r) => r.status === 'failed');
    for (const r of failed.slice(0, 20)) {
      const what = r.source === undefined ? `item ${r.index + 1}` : `source ${r.source}`;
      io.err(`fsm start-many: ${what} failed: ${r.error instanceof Error ? r.error.message : String(r.error)}\n`);
    }
    if (failed.length > 20) io.err(`fsm start-many: ... and ${failed.length - 20} more failed\n`);
    io.out(`fsm start-many: ${count('started')} started, ${failed.length} failed, ${count('skipped')} skipped of ${results.length}\n`);
    return failed.length === 0 ? EXIT_OK : EXIT_FAILURE;
  } finally {
    await pool.end();
  }
}

interface Progress {
  update(p: { done: number; total: number; failed: number }): void;
  stop(): void;
}

/** A bar (cli-progress) on a terminal; otherwise a plain line every `every` items and at the end. */
async function progressOutput(io: Io, every: number): Promise<Progress> {
  if (io.terminal === undefined) {
    return {
      update: (p) => {
        if (p.done % every === 0 || p.done === p.total) io.err(`fsm start-many: ${p.done}/${p.total} done, ${p.failed} failed\n`);
      },
      stop: () => undefined,
    };
  }
  const { SingleBar, Presets } = (await import('cli-progress')).default;
  // On a terminal, the bar writes through `io.err` (what tests record); readline's cursor moves are escape codes written the same way.
  const stream = { isTTY: true, columns: 80, write: (text: string) => (io.err(text), true) } as unknown as NodeJS.WritableStream;
  const bar = new SingleBar({ stream, format: 'starting {bar} {value}/{total} | {failed} failed | eta {eta_formatted}', hideCursor: true }, Presets.shades_classic);
  let started = false;
  return {
    update: (p) => {
      if (!started) {
        bar.start(p.total, 0, { failed: 0 });
        started = true;
      }
      bar.update(p.done, { failed: p.failed });
    },
    stop: () => started && bar.stop(),
  };
}

/** Data items of a JSON Lines file; blank lines are skipped, a bad line is a usage error naming it. */
async function readLines(file: string): Promise<unknown[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read --input ${file}: ${(error as Error).message}`);
  }
  const items: unknown[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      items.push(JSON.parse(line));
    } catch (error) {
      throw new UsageError(`--input ${file} line ${i + 1} is not JSON: ${(error as Error).message}`);
    }
  });
  return items;
}

function integer(flag: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > 2_147_483_647) throw new UsageError(`${flag} must be an integer of ${min} or more, not "${text}"`);
  return n;
}
