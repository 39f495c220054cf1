import { describe } from 'vitest';
import { composeSuite } from '../../runtime/test/support/compose-suite.js';
import { mysqlUnavailable } from './support/db.js';
import { plainStoreFixture } from './support/fixture.js';

const unavailable = await mysqlUnavailable();

/** Chaining, batches and priorities on MariaDB: each fixture its own tables. */
describe.skipIf(unavailable !== null)('MysqlStore: chaining, batches, priorities', () => {
  composeSuite('mysql', plainStoreFixture(4));
});
