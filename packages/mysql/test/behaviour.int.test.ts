import type { RowDataPacket } from 'mysql2/promise';
import { describe } from 'vitest';
import { behaviourSuite, type StoreFactory } from '../../runtime/test/support/behaviour-suite.js';
import { graphSuite } from '../../runtime/test/support/graph-suite.js';
import { createMysqlStore } from '../src/index.js';
import { dropTablesWithPrefix, mysqlUnavailable, rawConnection, uniquePrefix } from './support/db.js';

const unavailable = await mysqlUnavailable();

/** A separate store per fixture, as the suites expect: its own tables. */
const mysqlFixture: StoreFactory = async (machines) => {
  const prefix = uniquePrefix();
  const store = createMysqlStore({ tablePrefix: prefix, poolSize: 4 });
  await store.ensureSchema(machines.map((name) => ({ name })));
  const raw = await rawConnection();
  return {
    store,
    async corrupt(machine, id, text) {
      await raw.query(`UPDATE \`${prefix}${machine}\` SET serialized_state = ? WHERE id = ?`, [text, id]);
    },
    async committedEvents(instanceId) {
      const [rows] = await raw.query<RowDataPacket[]>(`SELECT payload FROM \`${prefix}outbox\` WHERE instance_id = ? ORDER BY sequence`, [instanceId]);
      return rows.map((r) => JSON.parse(r['payload'] as string) as { type: string; sequence: number; from: string; to: string });
    },
    async cleanup() {
      await store.close();
      await raw.end();
      await dropTablesWithPrefix(prefix);
    },
  };
};

/** Everything the runtime promises on the memory store, on MariaDB through MysqlStore. */
describe.skipIf(unavailable !== null)('MysqlStore behind the runtime', () => {
  behaviourSuite('mysql', mysqlFixture);
  graphSuite('mysql', mysqlFixture);
});
