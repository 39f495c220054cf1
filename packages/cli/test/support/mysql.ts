import { randomBytes } from 'node:crypto';
import { createPool, defaultUrl } from '@fsmkit/mysql';
import { unavailable } from '../../../../test/support/services.js';

/** The driver's pool, named without depending on the driver here. */
export type Pool = ReturnType<typeof createPool>;
export type Rows = Array<Record<string, unknown>>;

export const MYSQL_URL = defaultUrl();

/** Null when MariaDB answers; otherwise the reason (see test/support/services.ts). */
export function mysqlUnavailable(): Promise<string | null> {
  return unavailable(`MariaDB at ${MYSQL_URL}`, 'MySQL integration tests', async () => {
    const pool = createPool({ url: MYSQL_URL, poolSize: 1, connectTimeoutMs: 3000 });
    try {
      await pool.query('SELECT 1');
    } finally {
      await pool.end();
    }
  });
}

/** A table prefix no other test file uses: `c` + 8 hex digits + `_`. */
export function uniquePrefix(): string {
  return `c${randomBytes(4).toString('hex')}_`;
}

/** A pool for arranging and inspecting rows behind the command's back. */
export function testPool(): Pool {
  return createPool({ url: MYSQL_URL, poolSize: 2 });
}

export async function tablesWithPrefix(pool: Pool, prefix: string): Promise<string[]> {
  const [rows] = await pool.query(
    'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND LEFT(TABLE_NAME, ?) = ? ORDER BY TABLE_NAME',
    [prefix.length, prefix],
  );
  return (rows as Rows).map((r) => r['name'] as string);
}

export async function dropTablesWithPrefix(pool: Pool, prefix: string): Promise<void> {
  if (!/^c[0-9a-f]{8}_$/.test(prefix)) throw new Error(`refusing to drop tables of prefix ${prefix}`);
  const tables = await tablesWithPrefix(pool, prefix);
  if (tables.length > 0) await pool.query(`DROP TABLE IF EXISTS ${tables.map((t) => `\`${t}\``).join(', ')}`);
}
