import { describe, expect, it } from 'vitest';
import { formatQuery, inlineValues, sqlLiteral } from '../src/inline-values.js';

describe('inlineValues', () => {
  it('puts each value at its placeholder: plain strings quoted as they are, numbers and NULL bare', () => {
    expect(inlineValues('UPDATE t SET a = ?, b = ?, c = ? WHERE id = ?', ['{"json":{"a":"b"}}', 3.5, null, 'x'])).toBe(
      `UPDATE t SET a = '{"json":{"a":"b"}}', b = 3.5, c = NULL WHERE id = 'x'`,
    );
  });

  it('refuses a value count that does not match the placeholders', () => {
    expect(() => inlineValues('SELECT ?, ?', ['a'])).toThrow(RangeError);
  });
});

describe('sqlLiteral', () => {
  it('doubles quotes, and sends backslashes, NUL and Ctrl-Z as hexadecimal: no backslash ever reaches the text', () => {
    expect(sqlLiteral("it's")).toBe("'it''s'");
    expect(sqlLiteral("'; DROP TABLE t; -- ")).toBe("'''; DROP TABLE t; -- '");
    expect(sqlLiteral('a\\b')).toBe("_utf8mb4 X'615c62'");
    expect(sqlLiteral("\\'")).toBe("_utf8mb4 X'5c27'");
    expect(sqlLiteral('nul\0')).toBe("_utf8mb4 X'6e756c00'");
    expect(sqlLiteral('z\x1a')).toBe("_utf8mb4 X'7a1a'");
    expect(sqlLiteral('é\\')).toBe("_utf8mb4 X'c3a95c'");
  });

  it('writes dates as UTC text to the millisecond, and refuses values with no literal', () => {
    expect(sqlLiteral(new Date('2026-11-22T10:00:00.123Z'))).toBe("'2026-11-22 10:00:00.123'");
    expect(sqlLiteral(true)).toBe('1');
    expect(sqlLiteral(undefined)).toBe('NULL');
    expect(() => sqlLiteral(Number.NaN)).toThrow(RangeError);
    expect(() => sqlLiteral(new Date(Number.NaN))).toThrow(RangeError);
    expect(() => sqlLiteral({ toSqlString: () => 'x' })).toThrow(TypeError);
  });
});

describe('formatQuery', () => {
  it("follows mysql2's placeholder rules: lists, tuples, identifiers, extra placeholders left alone", () => {
    expect(formatQuery('SELECT * FROM ?? WHERE a IN (?) AND b = ?', ['t`x', ['a', "b'"], 'c\\'])).toBe(
      "SELECT * FROM `t``x` WHERE a IN ('a', 'b''') AND b = _utf8mb4 X'635c'",
    );
    expect(formatQuery('INSERT INTO t VALUES ?', [[[1, 'a'], [2, null]]])).toBe("INSERT INTO t VALUES (1, 'a'), (2, NULL)");
    expect(formatQuery('SELECT ?, ?', ['a'])).toBe("SELECT 'a', ?");
    expect(formatQuery('SELECT ?', undefined)).toBe('SELECT ?');
  });
});
