/**
 * A worker process of the chaos test: one runner on MysqlStore + its MySQL locker, `work()`
 * until SIGTERM, as a service would run it. Prints JSON lines: `ready`, `warn`/`error` from the
 * runtime's logger (with the FsmError code), and `stopped` with its counters.
 */
import { createRunner, isFsmError, type Logger } from '../../packages/runtime/src/index.js';
import { createMysqlStore, createPool } from '../../packages/mysql/src/index.js';
import { orderMachine, type WorkerConfig } from './machine.js';

const config = JSON.parse(process.argv[2]!) as WorkerConfig;
const print = (line: Record<string, unknown>) => console.log(JSON.stringify({ ...line, pid: process.pid }));
const report = (level: string) => (message: string, fields?: Record<string, unknown>) => {
  const error = fields?.['error'];
  print({ event: level, message, id: fields?.['id'] ?? null, code: isFsmError(error) ? error.code : null, detail: error instanceof Error ? error.message : null });
};
const logger: Logger = { debug: () => undefined, info: () => undefined, warn: report('warn'), error: report('error') };

const store = createMysqlStore({ url: config.url, tablePrefix: config.prefix, poolSize: config.concurrency + 4 });
const probe = createPool({ url: config.probeUrl, poolSize: config.concurrency + 1 });
const runner = createRunner(orderMachine(config, probe), {
  store,
  locker: store.locker(),
  logger,
  topic: config.topic,
  lockLeaseMs: config.leaseMs,
  instanceLeaseMs: config.leaseMs,
  lockTimeoutMs: 60_000,
});
const worker = runner.work({ concurrency: config.concurrency, pollMs: config.pollMs, claimLeaseMs: config.leaseMs });
process.once('SIGTERM', () => {
  void (async () => {
    await worker.stop();
    await store.close();
    await probe.end();
    print({ event: 'stopped', ...worker.stats });
    process.exit(0);
  })();
});
// The test holds our stdin: when it dies, so do we, instead of working on without it.
process.stdin.on('end', () => process.exit(1)).resume();
print({ event: 'ready' });
