import { EXIT_FAILURE, EXIT_OK, UsageError, type Command, type Io, parseFlags } from '../command.js';
import { commandLogger } from '../command-logger.js';
import { loadDefinitions } from '../load-definitions.js';
import { readSettings, SETTINGS_FLAGS } from '../settings.js';
import { stopped } from '../stopped.js';

const USAGE = `Usage: fsm consume --topic <name> --group <id> [--machine <name>] [options]

Reads Kafka topics and delivers each record to the machine's instances as a message: the
instance waiting for that message name and key (the record's key) takes it and continues;
when none waits, it is kept in the inbox for a wait that begins later. The message name is the
record's "fsm-message" header, else --message, else the topic. A record's offset is committed
only once its delivery is stored, and the record's id ("fsm-message-id" header, else
topic/partition/offset) makes a record read twice take effect once. A record that can never be
delivered (no key, not JSON, an invalid payload) is reported and passed over. Runs until
SIGTERM or SIGINT.

Options:
  -t, --topic <name>       topic to read (repeatable)
  -g, --group <id>         consumer group, whose offsets are committed
  -m, --machine <name>     the machine whose instances take the messages (default: the only
                           machine the runners module exports)
      --message <name>     message name for records without an "fsm-message" header
                           (default: the topic)
      --from-beginning     a new group reads the topics from their start (default: new records)
  -r, --runners <module>   module that exports machine definitions (default: the config's
                           runners, else the generated index.ts in its outDir)
      --config <file>      config file (default: fsm.config.ts, .mts, .mjs or .js in the cwd)
      --url <url>          MySQL URL (default: FSM_MYSQL_URL, else the config's url, else
                           mysql://root@127.0.0.1:3306/test)
      --table-prefix <p>   prefix of the fsmkit tables (default: the config's, else fsm_)
      --brokers <list>     Kafka brokers, host:port,... (default: KAFKA_BROKERS, else 127.0.0.1:9092)
  -h, --help               show this help

Exit codes: 0 stopped by a signal, 1 no such machine or the database is not ready, 2 bad usage.`;

export const consumeCommand: Command = {
  name: 'consume',
  summary: 'deliver Kafka records to waiting instances as messages, until SIGTERM',
  usage: USAGE,
  run: (args, io) => runConsume(args, io),
};

/** Runs until `stop` aborts; by default, until SIGTERM or SIGINT. Exported for tests. */
export async function runConsume(args: string[], io: Io, stop?: AbortSignal): Promise<number> {
  const values = parseFlags(
    args,
    {
      topic: { type: 'string', short: 't', multiple: true },
      group: { type: 'string', short: 'g' },
      machine: { type: 'string', short: 'm' },
      message: { type: 'string' },
      'from-beginning': { type: 'boolean' },
      runners: { type: 'string', short: 'r' },
      brokers: { type: 'string' },
      ...SETTINGS_FLAGS,
    },
    USAGE,
    io,
  );
  if (values === null) return EXIT_OK;
  const topics = values.topic ?? [];
  if (topics.length === 0) throw new UsageError('--topic <name> is required');
  if (!values.group) throw new UsageError('--group <id> is required');
  const brokers = values.brokers?.split(',').map((b) => b.trim()).filter((b) => b.length > 0);
  if (brokers !== undefined && brokers.length === 0) throw new UsageError('--brokers must name at least one host:port');
  const settings = await readSettings(values, io);
  const runners = values.runners ?? settings.runners;
  if (!runners) throw new UsageError('--runners <module> is required without a config file');

  const byName = await loadDefinitions(runners, io.cwd);
  const machine = values.machine ?? (byName.size === 1 ? [...byName.keys()][0] : undefined);
  if (machine === undefined || !byName.has(machine)) {
    const found = byName.size === 0 ? 'it exports no machine definition' : `it exports ${[...byName.keys()].join(', ')}`;
    io.err(`fsm consume: ${machine === undefined ? 'name the machine with --machine' : `no machine ${machine} in ${runners}`}: ${found}\n`);
    return EXIT_FAILURE;
  }

  // Loaded here, not at the top: `fsm --help` should not load the drivers.
  const { createRunner, FsmError } = await import('@fsmkit/runtime');
  const { createMysqlStore, createPool } = await import('@fsmkit/mysql');
  const { MessageConsumer, defaultMapping } = await import('@fsmkit/kafka');
  const pool = createPool({ url: settings.url, poolSize: 4 });
  try {
    const store = createMysqlStore({ pool, tablePrefix: settings.tablePrefix });
    try {
      await store.list(machine, { limit: 1 });
    } catch (error) {
      if (!(error instanceof FsmError)) throw error;
      io.err(`fsm consume: ${error.message}\n`);
      return EXIT_FAILURE;
    }
    const logger = commandLogger(io, 'consume');
    const runner = createRunner(byName.get(machine)!, { store, locker: store.locker(), logger });
    const consumer = new MessageConsumer({
      ...(brokers ? { brokers } : {}),
      topics,
      groupId: values.group,
      fromBeginning: values['from-beginning'] === true,
      logger,
      map: (record) => {
        const m = defaultMapping(record);
        return values.message !== undefined && record.headers['fsm-message'] === undefined ? { ...m, message: values.message } : m;
      },
      deliver: (m) => runner.deliver(m.message, m.key, m.payload, { messageId: m.messageId }),
      onRejected: (record, error) => logger.error('a record cannot be delivered, passed over', { record: `${record.topic}/${record.partition}/${record.offset}`, error }),
    });
    await consumer.start();
    io.out(`fsm consume: ${topics.join(', ')} -> ${machine} (group ${values.group}); SIGTERM or SIGINT stops\n`);
    await stopped(stop);
    await consumer.stop();
    const s = consumer.stats;
    io.out(`fsm consume: stopped after ${s.delivered} deliver${s.delivered === 1 ? 'y' : 'ies'}, ${s.rejected} passed over\n`);
    return EXIT_OK;
  } finally {
    await pool.end();
  }
}
