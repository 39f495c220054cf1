/**
 * A worker process of the child-machine tests: workers of a parent machine and of its child
 * machine on MysqlStore until SIGTERM. Prints JSON lines: `ready`, `entered` (see `hang`) and
 * `stopped`.
 */
import { createMysqlStore } from '../../src/index.js';
import { childrenRunners, type ChildrenConfig } from './children.js';

const config = JSON.parse(process.argv[2]!) as ChildrenConfig;
const store = createMysqlStore({ url: config.url, tablePrefix: config.prefix, poolSize: 6 });
const { parent, children } = childrenRunners(config, store);
const work = { concurrency: 4, pollMs: 20, claimLeaseMs: config.leaseMs };
const workers = [parent.work(work), children.work(work)];
process.once('SIGTERM', () => {
  void (async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await store.close();
    console.log(JSON.stringify({ event: 'stopped', pid: process.pid }));
  })();
});
console.log(JSON.stringify({ event: 'ready', pid: process.pid }));
