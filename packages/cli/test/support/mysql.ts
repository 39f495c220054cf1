import { randomBytes } from 'node:crypto';
import { createPool, defaultUrl } from '@fsmkit/mysql';

/** The driver's pool, named without depending on the driver here. */
export type Pool = ReturnType<typeof createPool>;
export type Rows = Array<Record<string, unknown>>;

export const MYSQL_URL = defaultUrl();

/**
 * Null when MariaDB answers; otherwise the reason, printed, so the suite can skip. With
 * FSM_REQUIRE_SERVICES=1 an unreachable server fails the file instead.
 */
export async function mysqlUnavailable(): Promise<string | null> {
  const pool = createPool({ url: MYSQL_URL, poolSize: 1, connectTimeoutMs: 3000 });
  try {
    await pool.query('SELECT 1');
    return null;
  } catch (error) {
    const reason = `MariaDB at ${MYSQL_URL} is unreachable: ${(error as Error).message}`;
    if (process.env['FSM_REQUIRE_SERVICES'] === '1') throw new Error(`${reason} (FSM_REQUIRE_SERVICES=1, so this fails)`);
    console.warn(`skipping MySQL integration tests: ${reason}`);
    return reason;
  } finally {
    await pool.end();
  }
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
