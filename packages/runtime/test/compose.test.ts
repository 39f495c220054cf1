import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../src/index.js';
import { agingSlots } from '../src/worker.js';
import { composeSuite } from './support/compose-suite.js';

composeSuite('memory', async () => ({
  store: new MemoryStore(),
  corrupt: async () => undefined,
  committedEvents: async () => [],
  cleanup: async () => {},
}));

describe('agingSlots', () => {
  it('gives every n-th claimed slot to the aging lane, however the slots are split into claims', () => {
    expect([0, 1, 2, 3, 4, 5].map((slots) => agingSlots(slots, 1, 3))).toEqual([0, 0, 1, 0, 0, 1]);
    expect(agingSlots(0, 10, 4)).toBe(2);
    expect(agingSlots(2, 2, 4)).toBe(1);
    expect(agingSlots(7, 1, 1)).toBe(1);
    // Over any run of claims, exactly one slot in n.
    let slots = 0;
    let aged = 0;
    for (const free of [3, 1, 4, 1, 5, 9, 2, 6]) {
      aged += agingSlots(slots, free, 4);
      slots += free;
    }
    expect(aged).toBe(Math.floor(slots / 4));
  });
});
