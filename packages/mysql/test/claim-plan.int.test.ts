import type { RowDataPacket } from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { createMysqlStore } from '../src/index.js';
import { MachineSql } from '../src/machine-sql.js';
import { dropTablesWithPrefix, mysqlUnavailable, rawConnection, uniquePrefix } from './support/db.js';
import { instanceRecord } from './support/records.js';

const unavailable = await mysqlUnavailable();

/**
 * Every claim query reads an index in its ORDER BY's order, so that LIMIT ends the scan and the
 * locking read locks only what it returns: no filesort, whatever the lane.
 */
describe.skipIf(unavailable !== null)('claim query plans', () => {
  it('use ix_claim by priority and ix_status_next by age, with no filesort', async () => {
    const prefix = uniquePrefix();
    const store = createMysqlStore({ tablePrefix: prefix, poolSize: 2 });
    const raw = await rawConnection();
    try {
      await store.ensureSchema([{ name: 'plan' }]);
      const table = `\`${prefix}plan\``;
      await store.insert(instanceRecord('plan'), []);
      // Enough rows of every kind that the optimizer prefers an index to a scan.
      await raw.query(
        `INSERT INTO ${table} SELECT UUID(), name, user_id, current_state, direction, resume_from_step, save_after_step, kafka_event_topic, serialized_state, ` +
          `created_at, updated_at, is_global_lock, is_local_lock, ELT(1 + seq % 5, 'ready', 'done', 'waiting', 'done', 'failed'), version, definition_hash, ` +
          `definition_version, pause_requested, pause_reason, last_error, attempts, IF(seq % 3 = 0, UTC_TIMESTAMP(3), NULL), lease_owner, lease_expires_at, ` +
          `history_seq, event_seq, takeovers, seq % 7, wait_message, wait_key, waiting_for, parent_machine, parent_id, chained_from FROM ${table} JOIN seq_1_to_3000`,
      );
      await raw.query(`ANALYZE TABLE ${table}`);
      const sql = new MachineSql('plan', { tablePrefix: prefix });
      const plans: string[] = [];
      for (const which of ['continuing', 'ready'] as const) {
        for (const [order, due] of [['priority', 'any'], ['oldest', 'set'], ['oldest', 'none']] as const) {
          const text = sql.claimQuery(which, null, order, 1, due).replace('NOT IN (?)', "NOT IN ('x')").replace('LIMIT ? FOR UPDATE SKIP LOCKED', 'LIMIT 4');
          const [rows] = await raw.query<RowDataPacket[]>(`EXPLAIN ${text}`);
          plans.push(`${which} ${order} ${due}: ${rows.map((r) => `${String(r['key'])} ${String(r['Extra'])}`).join('; ')}`);
        }
      }
      for (const plan of plans) expect(plan).not.toContain('filesort');
      expect(plans.filter((p) => p.includes('priority')).every((p) => p.includes(': ix_claim '))).toBe(true);
      expect(plans.filter((p) => p.includes('oldest')).every((p) => p.includes(': ix_status_next '))).toBe(true);
    } finally {
      await store.close();
      await raw.end();
      await dropTablesWithPrefix(prefix);
    }
  });
});
