import { randomBytes } from 'node:crypto';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { unavailable } from '../../../../test/support/services.js';

export const MYSQL_URL = process.env['FSM_MYSQL_URL'] || 'mysql://root@127.0.0.1:3306/test';

/** Null when MariaDB answers; otherwise the reason (see test/support/services.ts). */
export function mysqlUnavailable(): Promise<string | null> {
  return unavailable(`MariaDB at ${MYSQL_URL}`, 'MySQL integration tests', async () => {
    const conn = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 3000 });
    await conn.end();
  });
}

/** A table prefix no other test file uses: `t` + 8 hex digits + `_`. */
export function uniquePrefix(): string {
  return `t${randomBytes(4).toString('hex')}_`;
}

/** Tables of the current database whose name starts with `prefix`. */
export async function tablesWithPrefix(prefix: string): Promise<string[]> {
  const conn = await mysql.createConnection({ uri: MYSQL_URL });
  try {
    const [rows] = await conn.query<RowDataPacket[]>(
      'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND LEFT(TABLE_NAME, ?) = ?',
      [prefix.length, prefix],
    );
    return rows.map((r) => r['name'] as string).sort();
  } finally {
    await conn.end();
  }
}

export async function dropTablesWithPrefix(prefix: string): Promise<void> {
  if (!/^t[0-9a-f]{8}_$/.test(prefix)) throw new Error(`refusing to drop tables of prefix ${prefix}`);
  const tables = await tablesWithPrefix(prefix);
  if (tables.length === 0) return;
  const conn = await mysql.createConnection({ uri: MYSQL_URL });
  try {
    await conn.query(`DROP TABLE IF EXISTS ${tables.map((t) => `\`${t}\``).join(', ')}`);
  } finally {
    await conn.end();
  }
}

/** A plain connection for arranging and inspecting rows behind the store's back. */
export function rawConnection(): Promise<mysql.Connection> {
  return mysql.createConnection({ uri: MYSQL_URL, timezone: 'Z' });
}
