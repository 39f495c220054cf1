import { describe } from 'vitest';
import type { StoreFactory } from '../../runtime/test/support/behaviour-suite.js';
import { waitsSuite } from '../../runtime/test/support/waits-suite.js';
import { createMysqlStore } from '../src/index.js';
import { dropTablesWithPrefix, mysqlUnavailable, uniquePrefix } from './support/db.js';

const unavailable = await mysqlUnavailable();

const mysqlFixture: StoreFactory = async (machines) => {
  const prefix = uniquePrefix();
  const store = createMysqlStore({ tablePrefix: prefix, poolSize: 4 });
  await store.ensureSchema(machines.map((name) => ({ name })));
  return {
    store,
    corrupt: async () => undefined,
    committedEvents: async () => [],
    async cleanup() {
      await store.close();
      await dropTablesWithPrefix(prefix);
    },
  };
};

/** Timers and messages on MariaDB through MysqlStore, as on the memory store. */
describe.skipIf(unavailable !== null)('MysqlStore: timers and messages', () => {
  waitsSuite('mysql', mysqlFixture);
});
