import type { ListFilter } from '@fsmkit/runtime';
import type { MachineSql } from './machine-sql.js';
import type { SqlValue } from './rows.js';
import { quoteId } from './schema.js';

export interface ListQuery {
  sql: string;
  params: SqlValue[];
}

const ORDER_COLUMNS = { id: '`id`', createdAt: '`created_at`', updatedAt: '`updated_at`' } as const;

/** Largest LIMIT MySQL accepts: the documented way to say "all rows" with an OFFSET. */
const NO_LIMIT = '18446744073709551615';

/**
 * SELECT for `list`: every filter value is a placeholder; the only text spliced in comes
 * from fixed maps (order column, direction) or is a checked integer (limit, offset).
 * Returns null when the filter can match nothing (an empty `IN` list).
 */
export function listQuery(sql: MachineSql, filter: ListFilter): ListQuery | null {
  const where: string[] = [];
  const params: SqlValue[] = [];
  const equals = (column: string, value: string | string[] | undefined): boolean => {
    if (value === undefined) return true;
    const values = Array.isArray(value) ? value : [value];
    if (values.length === 0) return false;
    where.push(values.length === 1 ? `${column} = ?` : `${column} IN (${values.map(() => '?').join(', ')})`);
    params.push(...values);
    return true;
  };
  const range = (column: string, op: '>=' | '<', value: Date | undefined): void => {
    if (value === undefined) return;
    where.push(`${column} ${op} ?`);
    params.push(value);
  };

  equals('`user_id`', filter.userId);
  equals('`parent_id`', filter.parentId);
  if (!equals('`status`', filter.status) || !equals('`current_state`', filter.currentState)) return null;
  range('`created_at`', '>=', filter.createdAfter);
  range('`created_at`', '<', filter.createdBefore);
  range('`updated_at`', '>=', filter.updatedAfter);
  range('`updated_at`', '<', filter.updatedBefore);

  const orderBy = filter.orderBy ?? 'id';
  const column = ORDER_COLUMNS[orderBy];
  if (column === undefined) throw badFilter('orderBy', orderBy);
  if (filter.order !== undefined && filter.order !== 'asc' && filter.order !== 'desc') throw badFilter('order', filter.order);
  const dir = filter.order === 'desc' ? 'DESC' : 'ASC';
  // Ties on a timestamp fall back to the id, so pages never overlap.
  const order = orderBy === 'id' ? `${column} ${dir}` : `${column} ${dir}, \`id\` ${dir}`;

  let text = `SELECT ${sql.selectColumns} FROM ${quoteId(sql.tables.instances)}`;
  if (where.length > 0) text += ` WHERE ${where.join(' AND ')}`;
  text += ` ORDER BY ${order}`;
  const limit = count('limit', filter.limit);
  const offset = count('offset', filter.offset);
  if (limit !== undefined || offset !== undefined) {
    text += ` LIMIT ${limit ?? NO_LIMIT}`;
    if (offset !== undefined) text += ` OFFSET ${offset}`;
  }
  return { sql: text, params };
}

function count(name: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value < 0) throw badFilter(name, value);
  return value;
}

/** A filter the types already forbid: a programming error, not a store failure. */
function badFilter(name: string, value: unknown): RangeError {
  return new RangeError(`list filter ${name} ${JSON.stringify(value)} is not valid`);
}
