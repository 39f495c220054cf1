/**
 * A relay process of the chaos test: an `OutboxRelay` over `MysqlOutbox` with the real kafkajs
 * producer, until SIGTERM. Prints JSON lines: `ready`, `failure` (each publish it retries, with
 * the FsmError code) and `stopped`.
 */
import { isFsmError } from '../../packages/runtime/src/index.js';
import { createPool, MysqlOutbox } from '../../packages/mysql/src/index.js';
import { OutboxRelay } from '../../packages/kafka/src/index.js';
import type { RelayConfig } from './machine.js';

const config = JSON.parse(process.argv[2]!) as RelayConfig;
const print = (line: Record<string, unknown>) => console.log(JSON.stringify({ ...line, pid: process.pid }));

const pool = createPool({ url: config.url, poolSize: 4 });
const outbox = new MysqlOutbox(pool, { tablePrefix: config.prefix });
let failures = 0;
const relay = new OutboxRelay({
  outbox,
  brokers: config.brokers,
  batchSize: config.batchSize,
  leaseMs: config.leaseMs,
  pollIntervalMs: config.pollMs,
  retry: { retries: 2 },
  backoff: { initialMs: 200, maxMs: 2000 },
  onError: (error) => {
    failures++;
    print({ event: 'failure', code: isFsmError(error) ? error.code : null, detail: error instanceof Error ? error.message.slice(0, 300) : String(error) });
  },
});
relay.start();
process.once('SIGTERM', () => {
  void (async () => {
    await relay.stop();
    await pool.end();
    print({ event: 'stopped', failures });
    process.exit(0);
  })();
});
// The test holds our stdin: when it dies, so do we, instead of working on without it.
process.stdin.on('end', () => process.exit(1)).resume();
print({ event: 'ready' });
