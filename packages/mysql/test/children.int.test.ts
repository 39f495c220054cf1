import { describe } from 'vitest';
import { childrenSuite } from '../../runtime/test/support/children-suite.js';
import { createMysqlStore } from '../src/index.js';
import { dropTablesWithPrefix, mysqlUnavailable, uniquePrefix } from './support/db.js';

const unavailable = await mysqlUnavailable();

/** Child machines on MariaDB: every machine of a test in one store, so a parent's commit stores its children. */
describe.skipIf(unavailable !== null)('child machines on MysqlStore', () => {
  childrenSuite('mysql', async (machines) => {
    const prefix = uniquePrefix();
    const store = createMysqlStore({ tablePrefix: prefix, poolSize: 8 });
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
