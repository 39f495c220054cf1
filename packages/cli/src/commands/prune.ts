import type { InstanceStatus } from '@fsmkit/runtime';
import { EXIT_FAILURE, EXIT_OK, UsageError, type Command, type Io, parseFlags } from '../command.js';
import { readSettings, SETTINGS_FLAGS } from '../settings.js';

/** Kept in step with the runtime's FINISHED_STATUSES; not imported so that `fsm --help` loads no package. */
const FINISHED: readonly InstanceStatus[] = ['done', 'failed', 'compensated'];
const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

const USAGE = `Usage: fsm prune --machine <name> --older-than <age> [options]

Deletes a machine's finished instances (${FINISHED.join(', ')}) last updated longer ago than
<age>, with their history, in batches, each batch its own short transaction. Instances in any
other status are never deleted; events still in the outbox stay there.

Options:
  -m, --machine <name>     the machine (its tables are <prefix><name> and <prefix><name>_history)
      --older-than <age>   a whole number and a unit: s, m, h, d or w (30d: thirty days)
      --status <list>      only these finished statuses, comma-separated (default: all three)
      --batch-size <n>     instances per transaction (default 500, at most 10000)
  -c, --config <file>      config file (default: fsm.config.ts, .mts, .mjs or .js in the cwd)
      --url <url>          MySQL URL (default: FSM_MYSQL_URL, else the config's url, else
                           mysql://root@127.0.0.1:3306/test)
      --table-prefix <p>   prefix of the fsmkit tables (default: the config's, else fsm_)
      --json               JSON on stdout: { machine, olderThan, instances, historyRows }
  -h, --help               show this help

Exit codes: 0 ok, 1 the database failed, 2 bad usage.`;

export const pruneCommand: Command = {
  name: 'prune',
  summary: "delete a machine's finished instances older than an age, with their history",
  usage: USAGE,
  run: runPrune,
};

/** `30d` as milliseconds; a usage error for anything but a positive whole number and a unit. */
export function parseAge(text: string): number {
  const match = /^(\d+)([smhdw])$/.exec(text.trim());
  const ms = match ? Number(match[1]) * UNITS[match[2]!]! : Number.NaN;
  if (!(Number.isSafeInteger(ms) && ms > 0)) {
    throw new UsageError(`--older-than: expected a positive whole number and a unit (s, m, h, d, w), such as 30d; got "${text}"`);
  }
  return ms;
}

async function runPrune(args: string[], io: Io): Promise<number> {
  const values = parseFlags(
    args,
    {
      machine: { type: 'string', short: 'm' },
      'older-than': { type: 'string' },
      status: { type: 'string' },
      'batch-size': { type: 'string' },
      ...SETTINGS_FLAGS,
      json: { type: 'boolean', default: false },
    },
    USAGE,
    io,
  );
  if (values === null) return EXIT_OK;
  const machine = values.machine;
  if (machine === undefined) throw new UsageError('--machine is required');
  if (values['older-than'] === undefined) throw new UsageError('--older-than is required, such as --older-than 30d');
  const olderThan = new Date(Date.now() - parseAge(values['older-than']));
  let statuses: InstanceStatus[] | undefined;
  if (values.status !== undefined) {
    statuses = values.status.split(',').map((s) => s.trim()) as InstanceStatus[];
    const unknown = statuses.filter((s) => !FINISHED.includes(s));
    if (unknown.length > 0) throw new UsageError(`--status: ${unknown.map((s) => `"${s}"`).join(', ')} is not finished; one of ${FINISHED.join(', ')}`);
  }
  let batchSize: number | undefined;
  if (values['batch-size'] !== undefined) {
    batchSize = Number(values['batch-size']);
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
      throw new UsageError(`--batch-size: expected a whole number from 1 to 10000, got "${values['batch-size']}"`);
    }
  }
  // Loaded here, not at the top: `fsm --help` should not load the MySQL driver.
  const [{ createMysqlStore }, { isFsmError }] = await Promise.all([import('@fsmkit/mysql'), import('@fsmkit/runtime')]);
  const { url, tablePrefix } = await readSettings(values, io);
  const store = createMysqlStore({ poolSize: 1, url, tablePrefix });
  try {
    const result = await store.prune(machine, {
      olderThan,
      ...(statuses === undefined ? {} : { statuses }),
      ...(batchSize === undefined ? {} : { batchSize }),
    });
    if (values.json) io.out(`${JSON.stringify({ machine, olderThan: olderThan.toISOString(), ...result })}\n`);
    else io.out(`pruned ${result.instances} ${machine} instances and ${result.historyRows} history rows last updated before ${olderThan.toISOString()}\n`);
    return EXIT_OK;
  } catch (error) {
    if (!isFsmError(error)) throw error;
    if (error.code === 'FSM_INVALID_MODEL' || error.code === 'FSM_INPUT_INVALID') throw new UsageError(error.message);
    io.err(`fsm prune: ${error.message}\n`);
    if (error.code === 'FSM_STORE') io.err('fsm prune: check --url, --table-prefix and --machine, and that the tables exist (fsm migrate)\n');
    return EXIT_FAILURE;
  } finally {
    await store.close();
  }
}
