import { randomBytes } from 'node:crypto';
import { createPool } from '@fsmkit/mysql';
import mysql, { type Pool, type RowDataPacket } from 'mysql2/promise';
import { MysqlOutbox } from '@fsmkit/mysql';

export const MYSQL_URL = process.env['FSM_MYSQL_URL'] || 'mysql://root@127.0.0.1:3306/test';

/** Null when MariaDB answers; otherwise the reason, printed (or thrown under FSM_REQUIRE_SERVICES=1). */
export async function mysqlUnavailable(): Promise<string | null> {
  try {
    const conn = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 3000 });
    await conn.query('SELECT 1');
    await conn.end();
    return null;
  } catch (error) {
    const reason = `MariaDB at ${MYSQL_URL} is unreachable: ${(error as Error).message}`;
    if (process.env['FSM_REQUIRE_SERVICES'] === '1') throw new Error(`${reason} (FSM_REQUIRE_SERVICES=1, so this fails)`);
    console.warn(`skipping outbox integration tests: ${reason}`);
    return reason;
  }
}

/** An outbox table of its own (`t<hex>_outbox`) and the pool it lives in; `drop()` removes both. */
export interface TestOutbox {
  outbox: MysqlOutbox;
  pool: Pool;
  table: string;
  rows(): Promise<Array<{ id: string; instanceId: string; sequence: number; sentAt: Date | null; claimedBy: string | null; attempts: number }>>;
  drop(): Promise<void>;
}

export async function testOutbox(): Promise<TestOutbox> {
  const prefix = `t${randomBytes(4).toString('hex')}_`;
  const pool = createPool({ url: MYSQL_URL, poolSize: 8 });
  const outbox = new MysqlOutbox(pool, { tablePrefix: prefix });
  await outbox.ensureOutbox();
  const table = outbox.table;
  return {
    outbox,
    pool,
    table,
    async rows() {
      const [rows] = await pool.query<RowDataPacket[]>(
        `SELECT id, instance_id, \`sequence\`, sent_at, claimed_by, attempts FROM \`${table}\` ORDER BY id`,
      );
      return rows.map((r) => ({
        id: String(r['id']),
        instanceId: r['instance_id'] as string,
        sequence: r['sequence'] as number,
        sentAt: r['sent_at'] as Date | null,
        claimedBy: r['claimed_by'] as string | null,
        attempts: r['attempts'] as number,
      }));
    },
    async drop() {
      await pool.query(`DROP TABLE IF EXISTS \`${table}\``);
      await pool.end();
    },
  };
}
