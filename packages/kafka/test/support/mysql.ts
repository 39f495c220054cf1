import { randomBytes } from 'node:crypto';
import { createPool, MysqlOutbox, MysqlStore } from '@fsmkit/mysql';
import mysql, { type Pool, type RowDataPacket } from 'mysql2/promise';
import { unavailable } from '../../../../test/support/services.js';

export const MYSQL_URL = process.env['FSM_MYSQL_URL'] || 'mysql://root@127.0.0.1:3306/test';

/** Null when MariaDB answers; otherwise the reason (see test/support/services.ts). */
export function mysqlUnavailable(): Promise<string | null> {
  return unavailable(`MariaDB at ${MYSQL_URL}`, 'outbox integration tests', async () => {
    const conn = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 3000 });
    await conn.end();
  });
}

/** One outbox row as a test inspects it. */
export interface OutboxState {
  id: string;
  eventId: string;
  instanceId: string;
  sequence: number;
  type: string;
  sentAt: Date | null;
  claimedBy: string | null;
  attempts: number;
  lastError: { name: string; message: string; code?: string } | null;
}

async function outboxRows(pool: Pool, table: string): Promise<OutboxState[]> {
  const [rows] = await pool.query<RowDataPacket[]>(
    `SELECT id, event_id, instance_id, \`sequence\`, event_type, sent_at, claimed_by, attempts, last_error FROM \`${table}\` ORDER BY id`,
  );
  return rows.map((r) => ({
    id: String(r['id']),
    eventId: r['event_id'] as string,
    instanceId: r['instance_id'] as string,
    sequence: r['sequence'] as number,
    type: r['event_type'] as string,
    sentAt: r['sent_at'] as Date | null,
    claimedBy: r['claimed_by'] as string | null,
    attempts: r['attempts'] as number,
    lastError: r['last_error'] === null ? null : (JSON.parse(r['last_error'] as string) as OutboxState['lastError']),
  }));
}

/** A table prefix of this test alone: `t` + 8 hex digits + `_`. */
function uniquePrefix(): string {
  return `t${randomBytes(4).toString('hex')}_`;
}

/** Drops every table whose name starts with the test's own prefix. */
async function dropPrefixed(pool: Pool, prefix: string): Promise<void> {
  if (!/^t[0-9a-f]{8}_$/.test(prefix)) throw new Error(`refusing to drop the tables of prefix ${prefix}`);
  const [rows] = await pool.query<RowDataPacket[]>(
    'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND LEFT(TABLE_NAME, ?) = ?',
    [prefix.length, prefix],
  );
  if (rows.length > 0) await pool.query(`DROP TABLE IF EXISTS ${rows.map((r) => `\`${r['name'] as string}\``).join(', ')}`);
}

/** An outbox table of its own (`t<hex>_outbox`) and the pool it lives in; `drop()` removes both. */
export interface TestOutbox {
  outbox: MysqlOutbox;
  pool: Pool;
  table: string;
  rows(): Promise<OutboxState[]>;
  drop(): Promise<void>;
}

export async function testOutbox(): Promise<TestOutbox> {
  const prefix = uniquePrefix();
  const pool = createPool({ url: MYSQL_URL, poolSize: 8 });
  const outbox = new MysqlOutbox(pool, { tablePrefix: prefix });
  await outbox.ensureOutbox();
  return {
    outbox,
    pool,
    table: outbox.table,
    rows: () => outboxRows(pool, outbox.table),
    async drop() {
      await dropPrefixed(pool, prefix);
      await pool.end();
    },
  };
}

/**
 * A MySQL store with every table of the given machines under a prefix of its own, and the
 * outbox a relay drains, on one pool. `drop()` removes the tables and ends the pool.
 */
export interface TestStore extends TestOutbox {
  store: MysqlStore;
  prefix: string;
}

export async function testStore(models: Array<{ name: string }>): Promise<TestStore> {
  const prefix = uniquePrefix();
  const pool = createPool({ url: MYSQL_URL, poolSize: 12 });
  const store = new MysqlStore({ pool, tablePrefix: prefix });
  await store.ensureSchema(models);
  const outbox = new MysqlOutbox(pool, { tablePrefix: prefix });
  return {
    store,
    outbox,
    pool,
    prefix,
    table: outbox.table,
    rows: () => outboxRows(pool, outbox.table),
    async drop() {
      await dropPrefixed(pool, prefix);
      await pool.end();
    },
  };
}
