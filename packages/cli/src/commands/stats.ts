import type { MachineStats } from '@fsmkit/runtime';
import { EXIT_FAILURE, EXIT_OK, UsageError, type Command, type Io, parseFlags } from '../command.js';
import { readSettings, SETTINGS_FLAGS } from '../settings.js';

const USAGE = `Usage: fsm stats --machine <name> [options]

Statistics of a machine's instances in MySQL, computed by the database: counts by status and
by state, and per step the number of runs, failures and durations (average, p50, p95, p99).

Options:
  -m, --machine <name>    the machine
      --from <time>       instances created, and steps started, at or after this time (ISO 8601)
      --to <time>         ... and before this time
  -c, --config <file>     config file (default: fsm.config.ts, .mts, .mjs or .js in the cwd)
      --url <url>         MySQL URL (default: FSM_MYSQL_URL, else the config's url, else
                          mysql://root@127.0.0.1:3306/test)
      --table-prefix <p>  prefix of the fsmkit tables (default: the config's, else fsm_)
      --json              the statistics as JSON on stdout
  -h, --help              show this help

Exit codes: 0 ok, 1 the database failed, 2 bad usage.`;

export const statsCommand: Command = {
  name: 'stats',
  summary: "a machine's counts by status and state, and step durations, from MySQL",
  usage: USAGE,
  run: runStats,
};

function time(flag: string, text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) throw new UsageError(`${flag}: not a time: "${text}"`);
  return d;
}

async function runStats(args: string[], io: Io): Promise<number> {
  const values = parseFlags(
    args,
    {
      machine: { type: 'string', short: 'm' },
      from: { type: 'string' },
      to: { type: 'string' },
      ...SETTINGS_FLAGS,
      json: { type: 'boolean', default: false },
    },
    USAGE,
    io,
  );
  if (values === null) return EXIT_OK;
  const machine = values.machine;
  if (machine === undefined) throw new UsageError('--machine is required');
  const from = time('--from', values.from);
  const to = time('--to', values.to);
  const [{ createMysqlStore }, { isFsmError }] = await Promise.all([import('@fsmkit/mysql'), import('@fsmkit/runtime')]);
  const { url, tablePrefix } = await readSettings(values, io);
  const store = createMysqlStore({ poolSize: 3, url, tablePrefix });
  try {
    const stats = await store.stats(machine, { ...(from ? { from } : {}), ...(to ? { to } : {}) });
    io.out(values.json ? `${JSON.stringify(stats, null, 2)}\n` : statsText(stats));
    return EXIT_OK;
  } catch (error) {
    if (!isFsmError(error)) throw error;
    if (error.code === 'FSM_INVALID_MODEL') throw new UsageError(error.message);
    io.err(`fsm stats: ${error.message}\n`);
    return EXIT_FAILURE;
  } finally {
    await store.close();
  }
}

function table(header: string[], rows: string[][], right: Set<number>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `${cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()}\n`;
  return line(header) + rows.map(line).join('');
}

const ms = (v: number): string => (v >= 1000 ? `${(v / 1000).toFixed(2)}s` : `${v.toFixed(1)}ms`);

function statsText(s: MachineStats): string {
  const counts = (o: Record<string, number | undefined>) =>
    Object.entries(o)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || '-';
  let out = `${s.machine}: ${s.total} instance${s.total === 1 ? '' : 's'}\n  by status: ${counts(s.byStatus)}\n  by state:  ${counts(s.byState)}\n\n`;
  if (s.steps.length === 0) return `${out}no step ran\n`;
  out += table(
    ['STEP', 'DIRECTION', 'RUNS', 'FAILED', 'AVG', 'P50', 'P95', 'P99'],
    s.steps.map((x) => [x.step, x.direction, String(x.count), String(x.failures), ms(x.avgMs), ms(x.p50Ms), ms(x.p95Ms), ms(x.p99Ms)]),
    new Set([2, 3, 4, 5, 6, 7]),
  );
  return out;
}
