import { EXIT_FAILURE, EXIT_OK, UsageError, type Command, type Io, parseFlags } from '../command.js';
import { readSettings, SETTINGS_FLAGS } from '../settings.js';

const USAGE = `Usage: fsm dead-letters <list|retry> [options]

An event the broker refused --max-failures times (see fsm relay) is set aside as a dead
letter; its instance's later events wait behind it, so their order holds. \`list\` shows the
dead letters, oldest first, with the error and how many events wait behind each. \`retry\` puts
them back in line with a fresh count, once the cause is fixed (topic created, ACL granted,
broker or topic limit raised): the next relay pass sends them, then the events behind them.

Options:
  -c, --config <file>       config file (default: fsm.config.ts, .mts, .mjs or .js in the cwd)
      --url <url>           MySQL connection (default: FSM_MYSQL_URL, else the config's url,
                            else mysql://root@127.0.0.1:3306/test)
      --table-prefix <p>    prefix of the fsmkit tables (default: the config's, else fsm_)
  -n, --limit <n>           list: at most this many (default: 100)
      --json                list: JSON on stdout, an array of dead letters
      --all                 retry: every dead letter
      --instance <ids>      retry: those of these instances, comma-separated
      --topic <names>       retry: those of these topics, comma-separated
      --event <ids>         retry: these events, comma-separated
  -h, --help                show this help

Exit codes: 0 ok, 1 the database failed, 2 bad usage.`;

export const deadLettersCommand: Command = {
  name: 'dead-letters',
  summary: 'list the events the broker refused for good, or put them back in line',
  usage: USAGE,
  run: runDeadLetters,
};

async function runDeadLetters(args: string[], io: Io): Promise<number> {
  const [action, ...rest] = args;
  if (action === '-h' || action === '--help') {
    io.out(`${USAGE}\n`);
    return EXIT_OK;
  }
  if (action !== 'list' && action !== 'retry') {
    throw new UsageError(action === undefined ? 'say list or retry' : `unknown action "${action}": say list or retry`);
  }
  const values = parseFlags(
    rest,
    {
      ...SETTINGS_FLAGS,
      limit: { type: 'string', short: 'n' },
      json: { type: 'boolean', default: false },
      all: { type: 'boolean', default: false },
      instance: { type: 'string' },
      topic: { type: 'string' },
      event: { type: 'string' },
    },
    USAGE,
    io,
  );
  if (values === null) return EXIT_OK;
  const limit = values.limit === undefined ? 100 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a positive integer, got "${values.limit}"`);
  const filter = {
    ...(values.instance === undefined ? {} : { instanceIds: list('--instance', values.instance) }),
    ...(values.topic === undefined ? {} : { topics: list('--topic', values.topic) }),
    ...(values.event === undefined ? {} : { eventIds: list('--event', values.event) }),
  };
  const filtered = Object.keys(filter).length > 0;
  if (action === 'list' && (filtered || values.all)) throw new UsageError('--all, --instance, --topic and --event go with retry');
  if (action === 'retry' && (values.json || values.limit !== undefined)) throw new UsageError('--json and --limit go with list');
  if (action === 'retry' && filtered === values.all) throw new UsageError('retry needs --all, or --instance, --topic or --event');

  const { url, tablePrefix } = await readSettings(values, io);
  const schema = { tablePrefix };
  // Loaded here, not at the top: `fsm --help` should not load the MySQL driver.
  const mysql = await import('@fsmkit/mysql');
  const pool = mysql.createPool({ url, poolSize: 1 });
  const outbox = new mysql.MysqlOutbox(pool, schema);
  try {
    if (action === 'retry') {
      const count = await outbox.retryDeadLetters(filter);
      io.out(`fsm dead-letters: ${count} dead letter(s) put back in line; a running relay sends them next\n`);
      return EXIT_OK;
    }
    const letters = await outbox.deadLetters({ limit });
    if (values.json) {
      io.out(`${JSON.stringify(letters, null, 2)}\n`);
      return EXIT_OK;
    }
    if (letters.length === 0) {
      io.out(`fsm dead-letters: none in ${outbox.failedTable}\n`);
      return EXIT_OK;
    }
    for (const d of letters) {
      io.out(
        `${d.deadAt.toISOString()}  event ${printable(d.eventId)}  instance ${printable(d.instanceId)} #${d.sequence} ${printable(d.type)}` +
          `  topic "${printable(d.topic)}"  refused ${d.failures}x, ${d.waiting} event(s) waiting behind it\n` +
          `  ${printable(d.error.code ? `${d.error.code}: ` : '')}${printable(d.error.message)}\n`,
      );
    }
    return EXIT_OK;
  } catch (error) {
    io.err(`fsm dead-letters: ${printable((error as Error).message)}\n`);
    return EXIT_FAILURE;
  } finally {
    await pool.end();
  }
}

function list(flag: string, value: string): string[] {
  const items = value.split(',').map((v) => v.trim()).filter((v) => v.length > 0);
  if (items.length === 0) throw new UsageError(`${flag} must name at least one value`);
  return items;
}

/** Text from the database or the broker, with control characters shown as escapes, never run by the terminal. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
