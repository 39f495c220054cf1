import { describe } from 'vitest';
import { composeSuite } from '../../runtime/test/support/compose-suite.js';
import { createMysqlStore } from '../src/index.js';
import { dropTablesWithPrefix, mysqlUnavailable, uniquePrefix } from './support/db.js';

const unavailable = await mysqlUnavailable();

/** Chaining, batches and priorities on MariaDB: each fixture its own tables. */
describe.skipIf(unavailable !== null)('MysqlStore: chaining, batches, priorities', () => {
  composeSuite('mysql', async (machines) => {
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
  });
});
