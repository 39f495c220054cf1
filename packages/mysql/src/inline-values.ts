import type { SqlValue } from './rows.js';

/** Statement texts split at their placeholders, by text; the store has a few dozen. */
const splits = new Map<string, string[]>();
const MAX_SPLITS = 1024;

/** Characters that need escaping in a single-quoted literal, whatever the server's sql_mode. */
// eslint-disable-next-line no-control-regex -- NUL and Ctrl-Z are exactly what must be found
const NEEDS_ESCAPE = /[\0'\\\x1a]/;

/**
 * Our own statement text with every `?` replaced by its value, as a client-side placeholder
 * would be, for statements sent as text in one multi-statement round trip. A string with no
 * quote, backslash, NUL or Ctrl-Z is valid between single quotes as it is, in every sql_mode;
 * any other value (such strings, dates) goes through the driver's `escape`, which knows the
 * connection's time zone. The driver's own formatting escapes every `"` of a JSON text
 * character by character; this costs a regular expression test instead. Only for texts this
 * package writes: each `?` is a placeholder.
 */
export function inlineValues(sql: string, values: readonly SqlValue[], escape: (value: SqlValue) => string): string {
  let parts = splits.get(sql);
  if (parts === undefined) {
    parts = sql.split('?');
    if (splits.size < MAX_SPLITS) splits.set(sql, parts);
  }
  if (parts.length !== values.length + 1) {
    throw new RangeError(`statement has ${parts.length - 1} placeholders but ${values.length} values`);
  }
  let text = parts[0]!;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const literal =
      v === null
        ? 'NULL'
        : typeof v === 'number'
          ? String(v)
          : typeof v === 'string' && !NEEDS_ESCAPE.test(v)
            ? `'${v}'`
            : escape(v);
    text += literal + parts[i + 1]!;
  }
  return text;
}
