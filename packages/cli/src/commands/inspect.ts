import { inspect as show } from 'node:util';
import type { HistoryRecord, InstanceRecord, InstanceStatus, ListFilter } from '@fsmkit/runtime';
import { EXIT_FAILURE, EXIT_OK, UsageError, type Command, type Io, parseFlags } from '../command.js';
import { printable, printableJson } from '../printable.js';
import { readSettings, SETTINGS_FLAGS } from '../settings.js';

const STATUSES: readonly InstanceStatus[] = ['ready', 'running', 'waiting', 'idle', 'paused', 'done', 'failed', 'compensated'];

const USAGE = `Usage: fsm inspect --machine <name> [--id <id>] [options]

Shows a machine's instances as MySQL stores them. Without --id: the most recently updated
first, filtered by --status, --user and --state. With --id: that instance, its data and its
history, one line per executed handler.

Options:
  -m, --machine <name>    the machine (its tables are <prefix><name> and <prefix><name>_history)
      --id <id>           one instance and its history
  -c, --config <file>     config file (default: fsm.config.ts, .mts, .mjs or .js in the cwd)
      --url <url>         MySQL URL (default: FSM_MYSQL_URL, else the config's url, else
                          mysql://root@127.0.0.1:3306/test)
      --table-prefix <p>  prefix of the fsmkit tables (default: the config's, else fsm_)
      --status <list>     only these statuses, comma-separated: ${STATUSES.join(', ')}
      --user <id>         only this user's instances
      --state <step>      only the instances at this step
  -n, --limit <n>         at most this many instances (default 20)
      --json              JSON on stdout: the stored records (an array, or { instance, history })
  -h, --help              show this help

Exit codes: 0 ok, 1 no such instance or the database failed, 2 bad usage.`;

export const inspectCommand: Command = {
  name: 'inspect',
  summary: "list a machine's instances in MySQL, or show one with its history",
  usage: USAGE,
  run: runInspect,
};

async function runInspect(args: string[], io: Io): Promise<number> {
  const values = parseFlags(
    args,
    {
      machine: { type: 'string', short: 'm' },
      id: { type: 'string' },
      ...SETTINGS_FLAGS,
      status: { type: 'string' },
      user: { type: 'string' },
      state: { type: 'string' },
      limit: { type: 'string', short: 'n' },
      json: { type: 'boolean', default: false },
    },
    USAGE,
    io,
  );
  if (values === null) return EXIT_OK;
  const machine = values.machine;
  if (machine === undefined) throw new UsageError('--machine is required');
  const filter = listFilter(values);
  // Loaded here, not at the top: `fsm --help` should not load the MySQL driver.
  const [{ createMysqlStore }, { isFsmError, InstanceClient }] = await Promise.all([
    import('@fsmkit/mysql'),
    import('@fsmkit/runtime'),
  ]);
  const { url, tablePrefix } = await readSettings(values, io);
  const store = createMysqlStore({ poolSize: 1, url, tablePrefix });
  try {
    if (values.id === undefined) {
      const instances = await store.list(machine, filter);
      if (values.json) io.out(`${printableJson(instances, 2)}\n`);
      else io.out(instanceTable(machine, instances));
      return EXIT_OK;
    }
    const instance = await store.get(machine, values.id);
    if (instance === undefined) {
      io.err(`fsm inspect: no ${machine} instance ${printable(values.id)}\n`);
      return EXIT_FAILURE;
    }
    const history = await store.history(machine, values.id);
    if (values.json) {
      io.out(`${printableJson({ instance, history }, 2)}\n`);
      return EXIT_OK;
    }
    // Read as a runner reads it (the default serializer), through the handler-free client; a
    // row it cannot read is shown as stored.
    const read = await new InstanceClient({ machine, store }).find(values.id);
    const data =
      read === undefined || read.dataError !== undefined
        ? printable(instance.serializedState)
        : show(read.data, { depth: 6, breakLength: 100, sorted: false });
    io.out(instanceView(instance, data));
    io.out(historyTable(history));
    return EXIT_OK;
  } catch (error) {
    if (!isFsmError(error)) throw error;
    if (error.code === 'FSM_INVALID_MODEL') throw new UsageError(error.message);
    io.err(`fsm inspect: ${printable(error.message)}\n`);
    if (error.code === 'FSM_STORE') io.err('fsm inspect: check --url, --table-prefix and --machine, and that the tables exist (fsm migrate)\n');
    return EXIT_FAILURE;
  } finally {
    await store.close();
  }
}

function listFilter(values: { status?: string; user?: string; state?: string; limit?: string }): ListFilter {
  const filter: ListFilter = { orderBy: 'updatedAt', order: 'desc', limit: 20 };
  if (values.status !== undefined) {
    const statuses = values.status.split(',').map((s) => s.trim());
    const unknown = statuses.filter((s) => !(STATUSES as readonly string[]).includes(s));
    if (unknown.length > 0) throw new UsageError(`--status: unknown status ${unknown.map((s) => `"${s}"`).join(', ')}; one of ${STATUSES.join(', ')}`);
    filter.status = statuses as InstanceStatus[];
  }
  if (values.user !== undefined) filter.userId = values.user;
  if (values.state !== undefined) filter.currentState = values.state;
  if (values.limit !== undefined) {
    const limit = Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit: expected a positive whole number, got "${values.limit}"`);
    filter.limit = limit;
  }
  return filter;
}

/** Left-aligned columns, two spaces apart, the header first; stored text made printable. */
function table(header: string[], cells: string[][]): string {
  const rows = cells.map((r) => r.map(printable));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `${cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`;
  return line(header) + rows.map(line).join('');
}

const time = (d: Date | null) => (d === null ? '-' : d.toISOString());

function instanceTable(machine: string, instances: InstanceRecord[]): string {
  if (instances.length === 0) return `no ${machine} instances match\n`;
  const rows = instances.map((r) => [r.id, r.status, r.currentState, r.direction, r.userId ?? '-', String(r.version), time(r.updatedAt)]);
  return table(['ID', 'STATUS', 'STATE', 'DIRECTION', 'USER', 'VERSION', 'UPDATED'], rows);
}

function instanceView(r: InstanceRecord, data: string): string {
  const fields: Array<[string, string | null]> = [
    ['status', `${r.status}, ${r.direction}, at ${r.currentState}${r.resumeFromStep === null ? '' : ` (step ${r.resumeFromStep})`}`],
    ['user', r.userId],
    ['version', `${r.version}, definition ${r.definitionHash} v${r.definitionVersion}`],
    ['created', time(r.createdAt)],
    ['updated', time(r.updatedAt)],
    ['pause', r.pauseRequested || r.pauseReason !== null ? `${r.pauseRequested ? 'requested' : 'reason'}: ${r.pauseReason ?? '-'}` : null],
    ['error', r.lastError && `${r.lastError.name}${r.lastError.code ? ` [${r.lastError.code}]` : ''}: ${r.lastError.message}`],
    ['attempts', r.attempts > 0 ? String(r.attempts) : null],
    ['next run', r.nextRunAt && time(r.nextRunAt)],
    ['lease', r.leaseOwner ? `${r.leaseOwner} until ${time(r.leaseExpiresAt ?? null)}` : null],
    ['locks', [r.isGlobalLock && 'global', r.isLocalLock && 'local'].filter(Boolean).join(', ') || null],
    ['topic', r.kafkaEventTopic],
  ];
  const shown = fields.filter((f): f is [string, string] => f[1] !== null && f[1] !== '');
  const body = shown.map(([k, v]) => `  ${k.padEnd(9)} ${printable(v)}\n`).join('');
  // The data's own line breaks are layout; each line is made printable on its own.
  const indented = data.split('\n').map(printable).join('\n            ');
  return `${r.machine} ${printable(r.id)}\n${body}  ${'data'.padEnd(9)} ${indented}\n`;
}

function historyTable(history: HistoryRecord[]): string {
  if (history.length === 0) return '\nno history\n';
  const rows = history.map((h) => [
    String(h.seq),
    h.direction,
    h.handler,
    `${h.stateBefore} -> ${h.stateAfter}`,
    String(h.attempt),
    time(h.startedAt),
    String(h.finishedAt.getTime() - h.startedAt.getTime()),
    h.error === null ? '' : `${h.error.name}: ${h.error.message}`,
  ]);
  return `\nhistory (${history.length})\n${table(['SEQ', 'DIRECTION', 'HANDLER', 'STATES', 'ATTEMPT', 'STARTED', 'MS', 'ERROR'], rows)}`;
}
