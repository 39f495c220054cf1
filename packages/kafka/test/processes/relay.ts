/**
 * A relay in its own process, for the test of relays in several processes: an OutboxRelay over
 * the MySQL outbox of the given table prefix, polling, until SIGTERM. Prints its owner once it runs.
 */
import { createPool, MysqlOutbox } from '@fsmkit/mysql';
import { OutboxRelay } from '../../src/index.js';

interface Config {
  brokers: string[];
  mysqlUrl: string;
  tablePrefix: string;
  batchSize: number;
  pollIntervalMs: number;
}

const config = JSON.parse(process.argv[2]!) as Config;
const pool = createPool({ url: config.mysqlUrl, poolSize: 3 });
const relay = new OutboxRelay({
  outbox: new MysqlOutbox(pool, { tablePrefix: config.tablePrefix }),
  brokers: config.brokers,
  batchSize: config.batchSize,
  pollIntervalMs: config.pollIntervalMs,
});
relay.start();
console.log(JSON.stringify({ owner: relay.owner }));
process.once('SIGTERM', () => {
  void relay
    .stop()
    .then(() => pool.end())
    .then(() => process.exit(0));
});
