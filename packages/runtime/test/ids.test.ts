import { describe, expect, it } from 'vitest';
import { uuidv7, uuidv7Time } from '../src/index.js';

describe('uuidv7', () => {
  it('is version 7, variant 10, carries its millisecond, and sorts in creation order within one millisecond', () => {
    const now = Date.UTC(2026, 10, 22, 12, 0, 0, 5);
    const ids = Array.from({ length: 5000 }, () => uuidv7(now));
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    expect(uuidv7Time(ids[0]!)).toBe(now);
  });

  it('encodes every byte of its millisecond, and the random part differs between ids', () => {
    // Later than any id made so far in this file (ids never go back in time), each changing another byte.
    const base = Date.UTC(2027, 0, 1);
    const times = [0, 1, 0x100, 0x1_0000, 0x100_0000, 2 ** 32, 2 ** 40].map((d) => base + d).concat(2 ** 48 - 1);
    for (const t of times) {
      const id = uuidv7(t);
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(uuidv7Time(id)).toBe(t);
      expect(uuidv7(t).slice(19)).not.toBe(id.slice(19));
    }
  });
});
