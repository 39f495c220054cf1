import { describe, expect, it } from 'vitest';
import { createRunner, MemoryStore, type EventSink, type StepContext } from '../src/index.js';
import { machine } from './support/machines.js';

describe('nothing lost, nothing stuck (memory store)', () => {
  it('an instance past its history limit ends failed with FSM_HISTORY_LIMIT instead of growing forever', async () => {
    let turns = 0;
    const def = machine<{ n: number }>(
      { name: 'looping' },
      { spin: { order: 1, next: ['spin', 'stop'] }, stop: { order: 2 } },
      {
        spin: (ctx: StepContext<{ n: number }>) => {
          turns++;
          ctx.data.n++;
          return ctx.goto('spin');
        },
        stop: () => undefined,
      },
    );
    const runner = createRunner(def, { maxHistory: 5 });
    const ended = await runner.start({ n: 0 });
    expect([ended.status, ended.error?.code]).toEqual(['failed', 'FSM_HISTORY_LIMIT']);
    expect(turns).toBe(6);
    expect((await runner.history(ended.id)).length).toBe(5);
    expect(ended.data.n).toBe(5);
  });

  it('importInstance refuses history rows of another instance, and stores nothing then', async () => {
    const def = machine<{ n: number }>({ name: 'portable' }, { a: { order: 1 }, b: { order: 2 } }, { a: () => undefined, b: () => undefined });
    const source = createRunner(def);
    const one = await source.start({ n: 1 });
    const two = await source.start({ n: 2 });
    const text = await source.exportInstance(one.id);
    const foreign = JSON.parse(await source.exportInstance(two.id)) as { history: unknown[] };
    const tampered = JSON.parse(text) as { history: unknown[] };
    tampered.history[1] = foreign.history[1];
    const store = new MemoryStore();
    const target = createRunner(def, { store });
    await expect(target.importInstance(JSON.stringify(tampered))).rejects.toMatchObject({ code: 'FSM_DESERIALIZE' });
    expect(await store.list('portable')).toEqual([]);
    const restored = await target.importInstance(text);
    expect((await target.history(restored.id)).map((h) => h.step)).toEqual(['a', 'b']);
  });

  it('a logger that throws, and a sink that fails, never fail a step or leave a rejection unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const throwing = () => {
        throw new Error('logger down');
      };
      const logger = { debug: throwing, info: throwing, warn: throwing, error: throwing };
      const sink: EventSink = { publish: () => Promise.reject(new Error('broker down')) };
      const store = new MemoryStore({ sink, logger });
      const def = machine<{ n: number }>({ name: 'noisy', topic: 'noisy.fsm' }, { a: { order: 1 } }, { a: () => undefined });
      const runner = createRunner(def, { store, logger });
      runner.on('after', () => {
        throw new Error('audit hook down');
      });
      expect((await runner.start({ n: 1 })).status).toBe('done');
      await store.flush();
      await new Promise((r) => setTimeout(r, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('a step that is not done yet', () => {
  it('pause(reason, { rerun: true }) pauses before the step completes; resume runs it again', async () => {
    const def = machine<{ intent?: string; confirmed?: boolean; calls: number; shipped?: boolean }>(
      { name: 'confirming' },
      { charge: { order: 1, back: 'refund' }, ship: { order: 2 } },
      {
        charge: (ctx) => {
          ctx.data.calls++;
          ctx.data.intent ??= `pi-${ctx.data.calls}`;
          if (!ctx.data.confirmed) ctx.pause('awaiting confirmation', { rerun: true });
        },
        ship: (ctx) => void (ctx.data.shipped = true),
        refund: () => undefined,
      },
    );
    const runner = createRunner(def);
    const waiting = await runner.start({ calls: 0 });
    expect([waiting.status, waiting.state, waiting.pauseReason, waiting.data.intent]).toEqual(['paused', 'charge', 'awaiting confirmation', 'pi-1']);
    expect(await runner.history(waiting.id)).toEqual([]);
    const done = await runner.resume(waiting.id, { confirmed: true });
    expect([done.status, done.data.calls, done.data.intent, done.data.shipped]).toEqual(['done', 2, 'pi-1', true]);
    expect((await runner.history(waiting.id)).map((h) => h.step)).toEqual(['charge', 'ship']);
  });
});

describe('statistics', () => {
  it('runner.stats() counts by status and state and times steps, from the store', async () => {
    const def = machine<{ n: number }>({ name: 'counted' }, { a: { order: 1 }, b: { order: 2 } }, { a: (ctx) => void (ctx.data.n > 1 && ctx.pause('hold')), b: () => undefined });
    const runner = createRunner(def);
    await runner.start({ n: 1 });
    await runner.start({ n: 2 });
    await runner.create({ n: 3 });
    const stats = await runner.stats();
    expect(stats.total).toBe(3);
    expect(stats.byStatus).toMatchObject({ done: 1, paused: 1, ready: 1 });
    expect(stats.byState).toMatchObject({ done: 1, b: 1, a: 1 });
    expect(stats.steps.map((s) => [s.step, s.count])).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
  });
});
