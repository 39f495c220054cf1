import type { StoreFactory } from '../../../runtime/test/support/behaviour-suite.js';
import type { Connection } from 'mysql2/promise';
import { afterAll, beforeAll } from 'vitest';
import { createMysqlStore, type MysqlStore, type MysqlStoreOptions } from '../../src/index.js';
import { dropTablesWithPrefix, rawConnection, uniquePrefix } from './db.js';

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

/**
 * A store on tables of its own, with a plain connection beside it for arranging and inspecting
 * rows behind its back, for one `describe` block: made before its tests, dropped after them.
 */
export function storeWithRawConnection(machines: string[], options: Omit<MysqlStoreOptions, 'tablePrefix'>) {
  const tables = { prefix: uniquePrefix(), store: undefined as unknown as MysqlStore, raw: undefined as unknown as Connection };
  beforeAll(async () => {
    tables.store = createMysqlStore({ ...options, tablePrefix: tables.prefix });
    await tables.store.ensureSchema(machines.map((name) => ({ name })));
    tables.raw = await rawConnection();
  });
  afterAll(async () => {
    await tables.store?.close();
    await tables.raw?.end();
    await dropTablesWithPrefix(tables.prefix);
  });
  return tables;
}
