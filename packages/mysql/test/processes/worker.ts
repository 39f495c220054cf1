/**
 * A worker process of the tests: one runner on MysqlStore + MysqlLocker, `work()` until
 * SIGTERM. Prints JSON lines: `ready`, `entered` (with `announce`), `error`/`warn` from the
 * runtime's logger (with the FsmError code), and `stopped` with its counters.
 */
import { createRunner, isFsmError, type Logger } from '@fsmkit/runtime';
import { createMysqlStore, createPool } from '../../src/index.js';
import { flowMachine, type WorkerConfig } from './machine.js';

const config = JSON.parse(process.argv[2]!) as WorkerConfig;
const print = (line: Record<string, unknown>) => console.log(JSON.stringify({ ...line, pid: process.pid }));
const report = (level: string) => (message: string, fields?: Record<string, unknown>) => {
  const error = fields?.['error'];
  print({ event: level, message, id: fields?.['id'] ?? null, code: isFsmError(error) ? error.code : null, detail: error instanceof Error ? error.message : null });
};
const logger: Logger = { debug: () => undefined, info: () => undefined, warn: report('warn'), error: report('error') };

const store = createMysqlStore({ url: config.url, tablePrefix: config.prefix, poolSize: config.concurrency + 2 });
const probe = createPool({ url: config.url, poolSize: config.concurrency + 1 });
const runner = createRunner(flowMachine(config, probe), {
  store,
  locker: store.locker(),
  logger,
  lockLeaseMs: config.leaseMs,
  instanceLeaseMs: config.leaseMs,
  lockTimeoutMs: 60_000,
  ...(config.saveAfterStep === undefined ? {} : { saveAfterStep: config.saveAfterStep }),
});
const worker = runner.work({ concurrency: config.concurrency, pollMs: config.pollMs, claimLeaseMs: config.claimLeaseMs });
process.once('SIGTERM', () => {
  void (async () => {
    await worker.stop();
    await store.close();
    await probe.end();
    print({ event: 'stopped', ...worker.stats });
  })();
});
print({ event: 'ready' });
