import { describe, expect, it } from 'vitest';
import { createRunner, isFsmError, MemoryStore } from '../src/index.js';
import { machine } from './support/machines.js';
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

describe('bad options', () => {
  const def = machine<{ n: number }>({ name: 'opts' }, { a: { order: 1 } }, { a: () => undefined });

  it('refuses a bad agingEvery, priority, chain source id or batch concurrency with FSM_INPUT_INVALID', async () => {
    const runner = createRunner(def);
    for (const agingEvery of [0, 1.5, -1]) {
      expect(() => runner.work({ agingEvery })).toThrow(expect.objectContaining({ code: 'FSM_INPUT_INVALID' }));
    }
    for (const priority of [0.5, 2 ** 31, Number.NaN]) {
      expect(isFsmError(await runner.create({ n: 1 }, { priority }).catch((e: unknown) => e), 'FSM_INPUT_INVALID')).toBe(true);
    }
    expect(isFsmError(await runner.start(undefined, { from: { instanceId: '' } }).catch((e: unknown) => e), 'FSM_INPUT_INVALID')).toBe(true);
    expect(isFsmError(await runner.startMany([{ n: 1 }], { concurrency: 0 }).catch((e: unknown) => e), 'FSM_INPUT_INVALID')).toBe(true);
    // Nothing of it was stored.
    expect(await runner.list()).toEqual([]);
  });
});
