import { describe } from 'vitest';
import { childrenSuite } from '../../runtime/test/support/children-suite.js';
import { mysqlUnavailable } from './support/db.js';
import { plainStoreFixture } from './support/fixture.js';

const unavailable = await mysqlUnavailable();

/** Child machines on MariaDB: every machine of a test in one store, so a parent's commit stores its children. */
describe.skipIf(unavailable !== null)('child machines on MysqlStore', () => {
  childrenSuite('mysql', plainStoreFixture(8));
});
