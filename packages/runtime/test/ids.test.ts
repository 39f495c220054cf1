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
});
