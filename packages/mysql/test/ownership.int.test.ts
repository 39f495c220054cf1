import { describe } from 'vitest';
import { ownershipSuite } from '../../runtime/test/support/ownership-suite.js';
import { createMysqlStore } from '../src/index.js';
import { dropTablesWithPrefix, mysqlUnavailable, uniquePrefix } from './support/db.js';

const unavailable = await mysqlUnavailable();

/** One owner per running instance on MariaDB: the store's own locker, its fenced commits. */
describe.skipIf(unavailable !== null)('ownership on MySQL', () => {
  ownershipSuite('mysql', async (machines) => {
    const prefix = uniquePrefix();
    const store = createMysqlStore({ tablePrefix: prefix, poolSize: 6 });
    await store.ensureSchema(machines.map((name) => ({ name })));
    return {
      store,
      locker: store.locker(),
      async cleanup() {
        await store.close();
        await dropTablesWithPrefix(prefix);
      },
    };
  });
});
