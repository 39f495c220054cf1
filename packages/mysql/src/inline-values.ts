import type { SqlValue } from './rows.js';

/** Statement texts split at their placeholders, by text; the store has a few dozen. */
const splits = new Map<string, string[]>();
const MAX_SPLITS = 1024;

/**
 * Characters whose meaning inside a single-quoted literal depends on the server's sql_mode
 * (`\` is an escape unless NO_BACKSLASH_ESCAPES) or that some clients mangle (NUL, Ctrl-Z).
 */
// eslint-disable-next-line no-control-regex -- NUL and Ctrl-Z are exactly what must be found
const MODE_DEPENDENT = /[\0\\\x1a]/;
const QUOTES = /'/g;

/**
 * A SQL literal for a value, read the same by the server in every sql_mode and whatever the
 * connection's settings: a string with a backslash, NUL or Ctrl-Z goes as a hexadecimal
 * literal with a utf8mb4 introducer; any other string between single quotes with each quote
 * doubled (valid with and without NO_BACKSLASH_ESCAPES); dates as UTC text, which is what our
 * pools' `timezone: 'Z'` reads back.
 */
export function sqlLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'string') {
    if (MODE_DEPENDENT.test(value)) return `_utf8mb4 X'${Buffer.from(value, 'utf8').toString('hex')}'`;
    return value.includes("'") ? `'${value.replace(QUOTES, "''")}'` : `'${value}'`;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RangeError(`${value} cannot be written to SQL`);
    return String(value);
  }
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new RangeError('an invalid Date cannot be written to SQL');
    return `'${value.toISOString().slice(0, 23).replace('T', ' ')}'`;
  }
  if (Buffer.isBuffer(value)) return `X'${value.toString('hex')}'`;
  if (Array.isArray(value)) {
    // As mysql2 does: a list for `IN (?)`, a list of tuples for `VALUES ?`.
    return value.map((v) => (Array.isArray(v) ? `(${v.map(sqlLiteral).join(', ')})` : sqlLiteral(v))).join(', ');
  }
  throw new TypeError(`a ${typeof value} cannot be written to SQL as a literal`);
}

/** An identifier between backquotes, which no sql_mode changes. */
function identifier(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.includes('\0')) throw new TypeError(`${String(value)} is not an identifier`);
  return `\`${value.replace(/`/g, '``')}\``;
}

/**
 * Our own statement text with every `?` replaced by its value, for statements sent as text (one
 * multi-statement round trip, or text whose shape varies). Only for texts this package writes:
 * each `?` is a placeholder, and the count must match.
 */
export function inlineValues(sql: string, values: readonly SqlValue[]): string {
  let parts = splits.get(sql);
  if (parts === undefined) {
    parts = sql.split('?');
    if (splits.size < MAX_SPLITS) splits.set(sql, parts);
  }
  if (parts.length !== values.length + 1) {
    throw new RangeError(`statement has ${parts.length - 1} placeholders but ${values.length} values`);
  }
  let text = parts[0]!;
  for (let i = 0; i < values.length; i++) text += sqlLiteral(values[i]) + parts[i + 1]!;
  return text;
}

/**
 * The `queryFormat` of our pools: mysql2's placeholder rules (`?` a value, `??` an identifier,
 * extra placeholders left as they are) with literals from `sqlLiteral`, so that text queries
 * on our pools are right in every sql_mode.
 */
export function formatQuery(sql: string, values: unknown): string {
  if (values === undefined || values === null) return sql;
  const list = Array.isArray(values) ? values : [values];
  if (list.length === 0) return sql;
  let i = 0;
  return sql.replace(/\?\??/g, (match) => {
    if (i >= list.length) return match;
    const value = list[i++];
    return match === '??' ? identifier(value) : sqlLiteral(value);
  });
}
