import { describe, expect, it } from 'vitest';
import { inlineValues } from '../src/inline-values.js';

const escape = (v: unknown) => `<${String(v instanceof Date ? v.toISOString() : v)}>`;

describe('inlineValues', () => {
  it('puts each value at its placeholder: plain strings quoted as they are, numbers and NULL bare', () => {
    expect(inlineValues('UPDATE t SET a = ?, b = ?, c = ? WHERE id = ?', ['{"json":{"a":"b"}}', 3.5, null, 'x'], escape)).toBe(
      `UPDATE t SET a = '{"json":{"a":"b"}}', b = 3.5, c = NULL WHERE id = 'x'`,
    );
  });

  it('hands quotes, backslashes, NUL, Ctrl-Z and dates to the driver escape', () => {
    const date = new Date('2026-11-22T10:00:00.123Z');
    for (const hostile of ["it's", 'back\\slash', 'nul\0', 'z\x1a']) {
      expect(inlineValues('SELECT ?', [hostile], escape)).toBe(`SELECT <${hostile}>`);
    }
    expect(inlineValues('SELECT ?', [date], escape)).toBe('SELECT <2026-11-22T10:00:00.123Z>');
  });

  it('refuses a value count that does not match the placeholders', () => {
    expect(() => inlineValues('SELECT ?, ?', ['a'], escape)).toThrow(RangeError);
  });
});
