import type { Outbox } from '@fsmkit/kafka';
import { EXIT_FAILURE, EXIT_OK, UsageError, type Command, type Io, parseFlags } from '../command.js';
import { commandLogger } from '../command-logger.js';
import { readSettings, SETTINGS_FLAGS } from '../settings.js';

const USAGE = `Usage: fsm relay [options]

Publishes the state-change events waiting in the MySQL outbox to Kafka with an idempotent
producer, each instance's events in order, and marks them sent. While the broker is away the
events wait and the relay retries. An event the broker refuses (topic missing, invalid or
denied; too large) holds back only its own instance: after --max-failures refusals it is set
aside as a dead letter (see fsm dead-letters), and that instance's later events wait behind it.
Sent events are deleted once older than --retention. Runs until SIGTERM or SIGINT, then
publishes what is pending and exits 0 (a second signal stops it at once). Any number of relays
may run at once.

Options:
  -c, --config <file>       config file (default: fsm.config.ts, .mts, .mjs or .js in the cwd)
      --url <url>           MySQL connection (default: FSM_MYSQL_URL, else the config's url,
                            else mysql://root@127.0.0.1:3306/test)
      --table-prefix <p>    prefix of the fsmkit tables (default: the config's, else fsm_)
      --brokers <list>      Kafka brokers, host:port,... (default: KAFKA_BROKERS, else 127.0.0.1:9092)
      --batch <n>           events per claim (default: 500)
      --max-failures <n>    refusals of one event before it becomes a dead letter (default: 10)
      --retention <hours>   delete sent events older than this; 0 at once, "forever" never (default: 24)
  -h, --help                show this help

Exit codes: 0 stopped by a signal, 1 the outbox table or the database cannot be read, 2 bad usage.`;

export const relayCommand: Command = {
  name: 'relay',
  summary: 'publish the events waiting in the MySQL outbox to Kafka, until stopped',
  usage: USAGE,
  run: runRelay,
};

async function runRelay(args: string[], io: Io): Promise<number> {
  const values = parseFlags(
    args,
    {
      ...SETTINGS_FLAGS,
      brokers: { type: 'string' },
      batch: { type: 'string' },
      'max-failures': { type: 'string' },
      retention: { type: 'string' },
    },
    USAGE,
    io,
  );
  if (values === null) return EXIT_OK;
  const batchSize = values.batch === undefined ? 500 : Number(values.batch);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`--batch must be a positive integer, got "${values.batch}"`);
  const maxFailures = values['max-failures'] === undefined ? 10 : Number(values['max-failures']);
  if (!Number.isInteger(maxFailures) || maxFailures < 1) {
    throw new UsageError(`--max-failures must be a positive integer, got "${values['max-failures']}"`);
  }
  const retentionMs = retention(values.retention);
  const brokerList = values.brokers?.split(',').map((b) => b.trim()).filter((b) => b.length > 0);
  if (brokerList !== undefined && brokerList.length === 0) throw new UsageError('--brokers must name at least one host:port');

  // Loaded here, not at the top: `fsm --help` should not pay for the drivers.
  const { url, tablePrefix } = await readSettings(values, io);
  const [mysql, kafka] = await Promise.all([import('@fsmkit/mysql'), import('@fsmkit/kafka')]);
  const brokers = brokerList ?? kafka.defaultBrokers();
  const pool = mysql.createPool({ url, poolSize: 4 });
  const mysqlOutbox = new mysql.MysqlOutbox(pool, { tablePrefix });
  const table = mysqlOutbox.table;
  try {
    // A wrong URL or prefix must fail now, not be retried forever in the background.
    await pool.query(`SELECT 1 FROM ${mysql.quoteId(table)} LIMIT 0`);
  } catch (error) {
    await pool.end();
    io.err(`fsm relay: cannot read the outbox table ${table} at ${redacted(url)}: ${(error as Error).message}\n`);
    io.err('fsm relay: check --url and --table-prefix, and that the tables exist (fsm migrate, or the generated fsm_shared.sql)\n');
    return EXIT_FAILURE;
  }

  let published = 0;
  const outbox: Outbox = {
    claim: (owner, limit, leaseMs) => mysqlOutbox.claim(owner, limit, leaseMs),
    markFailed: (owner, ids, error) => mysqlOutbox.markFailed(owner, ids, error),
    reject: (owner, id, error, options) => mysqlOutbox.reject(owner, id, error, options),
    purgeSent: (olderThanMs, limit) => mysqlOutbox.purgeSent(olderThanMs, limit),
    markSent: async (owner, ids) => {
      await mysqlOutbox.markSent(owner, ids);
      published += ids.length;
    },
  };
  const relay = new kafka.OutboxRelay({
    outbox,
    brokers,
    batchSize,
    maxFailures,
    retentionMs,
    logger: commandLogger(io, 'relay', { info: true }),
  });
  const stop = nextSignal();
  relay.start();
  io.out(`fsm relay: publishing ${table} at ${redacted(url)} to ${brokers.join(',')} (batch ${batchSize}); stop with SIGTERM or Ctrl-C\n`);

  const signal = await stop;
  io.out(`fsm relay: ${signal}: publishing what is pending, then stopping\n`);
  try {
    await relay.drainOnce();
  } catch (error) {
    io.err(`fsm relay: ${(error as Error).message}\nfsm relay: the unsent events stay in ${table} for the next relay\n`);
  }
  await relay.stop();
  await pool.end();
  io.out(`fsm relay: stopped; ${published} event(s) published\n`);
  return EXIT_OK;
}

/** `--retention` in hours as milliseconds: a non-negative number, or "forever". */
function retention(value: string | undefined): number {
  if (value === undefined) return 24 * 3_600_000;
  if (value === 'forever') return Infinity;
  const hours = Number(value);
  if (value.trim() === '' || !Number.isFinite(hours) || hours < 0) {
    throw new UsageError(`--retention must be a number of hours (0 or more) or "forever", got "${value}"`);
  }
  return hours * 3_600_000;
}

/** The error behind a log line, on the same line. */
/** Resolves on the first SIGTERM or SIGINT; the handlers go, so a second one ends the process at once. */
function nextSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

/** The URL without its password, for messages. */
function redacted(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable url)';
  }
}
