export { createMysqlStore, MysqlStore, type MysqlStoreOptions } from './store.js';
export type { GroupCommitOptions } from './group-commit.js';
export { createMysqlLocker, MysqlLocker, type MysqlLockerOptions, type LockHolder } from './locker.js';
export {
  MysqlOutbox,
  type MysqlOutboxOptions,
  type MysqlOutboxRow,
  type MysqlDeadLetter,
  type MysqlDeadLetterFilter,
  type MysqlRejectOptions,
} from './outbox.js';
export { createPool, defaultUrl, DEFAULT_MYSQL_URL, type PoolSettings } from './pool.js';
export { migrate, type MigrateOptions, type MigrateResult, type PlannedStatement } from './migrate.js';
export { splitStatements } from './sql-split.js';
export { QueryTimeoutError } from './store-error.js';
export * from './schema.js';
