import { describe } from 'vitest';
import { waitsSuite } from '../../runtime/test/support/waits-suite.js';
import { mysqlUnavailable } from './support/db.js';
import { plainStoreFixture } from './support/fixture.js';

const unavailable = await mysqlUnavailable();

/** Timers and messages on MariaDB through MysqlStore, as on the memory store. */
describe.skipIf(unavailable !== null)('MysqlStore: timers and messages', () => {
  waitsSuite('mysql', plainStoreFixture(4));
});
