import type { HistoryOptions } from '@fsmkit/runtime';
import type { MachineSql } from './machine-sql.js';
import { HISTORY_COLUMNS, type SqlValue } from './rows.js';
import { quoteId } from './schema.js';

const DATA_COLUMNS: ReadonlySet<string> = new Set(['data_before', 'data_after']);

/**
 * SELECT for `history`, by the `(instance_id, seq)` key: every value a placeholder, the limit
 * a checked integer, the order from a fixed pair. Without data, the two MEDIUMTEXT columns are
 * not read at all: empty strings stand in for them.
 */
export function historyQuery(
  sql: MachineSql,
  id: string,
  options: Required<Pick<HistoryOptions, 'order' | 'withData'>> & Pick<HistoryOptions, 'limit' | 'afterSeq' | 'since'>,
): { sql: string; params: SqlValue[] } {
  const columns = HISTORY_COLUMNS.map((c) => (options.withData || !DATA_COLUMNS.has(c) ? quoteId(c) : `'' AS ${quoteId(c)}`));
  const where = ['`instance_id` = ?'];
  const params: SqlValue[] = [id];
  if (options.afterSeq !== undefined) {
    where.push('`seq` > ?');
    params.push(options.afterSeq);
  }
  if (options.since !== undefined) {
    where.push('`started_at` >= ?');
    params.push(options.since);
  }
  let text = `SELECT ${columns.join(', ')} FROM ${quoteId(sql.tables.history)} WHERE ${where.join(' AND ')} ORDER BY \`seq\` ${options.order === 'desc' ? 'DESC' : 'ASC'}`;
  if (options.limit !== undefined) text += ` LIMIT ${Math.floor(options.limit)}`;
  return { sql: text, params };
}
