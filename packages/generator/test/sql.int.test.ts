import { randomBytes } from 'node:crypto';
import { buildModel } from '@fsmkit/decorators';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emit } from '../src/emit/index.js';
import { unavailable } from '../../../test/support/services.js';

const MYSQL_URL = process.env['FSM_MYSQL_URL'] || 'mysql://root@127.0.0.1:3306/test';

/** Null when MariaDB answers; otherwise the reason (see test/support/services.ts). */
function unavailableDb(): Promise<string | null> {
  return unavailable(`MariaDB at ${MYSQL_URL}`, 'generated SQL test', async () => {
    const conn = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 3000 });
    await conn.end();
  });
}

const skip = await unavailableDb();
const prefix = `g${randomBytes(4).toString('hex')}_`;

describe.skipIf(skip !== null)('generated SQL on MariaDB', () => {
  let conn: mysql.Connection;
  const tables = async () => {
    const [rows] = await conn.query<RowDataPacket[]>(
      'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND LEFT(TABLE_NAME, ?) = ? ORDER BY TABLE_NAME',
      [prefix.length, prefix],
    );
    return rows.map((r) => r['name'] as string);
  };

  beforeAll(async () => {
    conn = await mysql.createConnection({ uri: MYSQL_URL, multipleStatements: true });
  });

  afterAll(async () => {
    for (const table of await tables()) await conn.query(`DROP TABLE \`${table}\``);
    await conn.end();
  });

  it('runs the emitted .sql files as they are, twice, and creates every table', async () => {
    const machine = (name: string) => ({
      source: `/p/src/${name}.machine.ts`,
      model: buildModel({ className: 'M', options: { name }, steps: [{ order: 1, method: 'go' }] }),
      data: { ref: { kind: 'unknown' as const, reason: 'none' as const }, schema: {} },
    });
    const files = emit([machine('order'), machine('payment_capture')], { root: '/p', outDir: '/p/gen', tablePrefix: prefix });
    const sql = files.filter((f) => f.path.endsWith('.sql'));
    expect(sql.map((f) => f.path)).toEqual(['fsm_shared.sql', 'order.sql', 'payment_capture.sql']);
    // IF NOT EXISTS everywhere: applying the files again changes nothing.
    for (let round = 0; round < 2; round++) for (const file of sql) await conn.query(file.content);
    expect(await tables()).toEqual(
      ['global_lock', 'local_lock', 'migrations', 'order', 'order_history', 'outbox', 'payment_capture', 'payment_capture_history'].map(
        (t) => prefix + t,
      ),
    );
    const [columns] = await conn.query<RowDataPacket[]>(
      'SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
      [`${prefix}order`],
    );
    expect(columns.map((c) => c['name'])).toEqual(expect.arrayContaining(['id', 'name', 'user_id', 'current_state', 'serialized_state', 'is_global_lock']));
  });
});
