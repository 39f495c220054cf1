import type { StoreFactory } from '../../../runtime/test/support/behaviour-suite.js';
import { createMysqlStore } from '../../src/index.js';
import { dropTablesWithPrefix, uniquePrefix } from './db.js';

/**
 * A store fixture of its own tables for the suites that need no corruption or event checks
 * (waits, children, chaining): every machine of a test in one store, dropped after it.
 */
export function plainStoreFixture(poolSize: number): StoreFactory {
  return async (machines) => {
    const prefix = uniquePrefix();
    const store = createMysqlStore({ tablePrefix: prefix, poolSize });
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
}
