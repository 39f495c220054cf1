/**
 * Chaining, batches and priorities, written once and run against every store (the memory store
 * here, the MySQL store in @fsmkit/mysql).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createRunner, isFsmError, MemoryLocker, type MachineDefinition, type StartManyProgress } from '../../src/index.js';
import { machine } from './machines.js';
import type { StoreFactory, StoreFixture } from './behaviour-suite.js';

let counter = 0;
const unique = (base: string) => `${base}_${process.pid % 1000}_${++counter}`;

interface Quote {
  n: number;
  log: string[];
  fail?: boolean;
  hold?: boolean;
}

/** double, then add one; fails on `fail` (no retry), pauses before `add` on `hold`. */
function quoteMachine(name: string) {
  return machine<Quote>(
    { name },
    { double: { order: 1, retry: { maxAttempts: 2, backoffMs: 1 } }, add: { order: 2 } },
    {
      double: (ctx) => {
        // The first attempt fails once the data says so: history then holds a failed visit too.
        if (ctx.data.log.includes('flaky') && ctx.attempt === 1) throw new Error('flaky');
        ctx.data.n *= 2;
        ctx.data.log.push('double');
        if (ctx.data.hold) ctx.pause('held');
      },
      add: (ctx) => {
        if (ctx.data.fail) throw new Error(`refused ${ctx.data.n}`);
        ctx.data.n += 1;
        ctx.data.log.push('add');
      },
    },
  );
}

interface Invoice {
  total: number;
  from: string;
  note?: string;
}

function invoiceMachine(name: string, seen: string[] = []) {
  return machine<Invoice>({ name }, { bill: { order: 1 } }, { bill: (ctx) => void seen.push(`${ctx.data.from}:${ctx.data.total}`) });
}

export function composeSuite(label: string, factory: StoreFactory): void {
  describe(`chaining, batches and priorities on the ${label} store`, () => {
    const fixtures: StoreFixture[] = [];
    afterAll(async () => {
      for (const f of fixtures) await f.cleanup();
    });
    async function setup<A, B>(a: MachineDefinition<A>, b: MachineDefinition<B>) {
      const fixture = await factory([a.model.name, b.model.name]);
      fixtures.push(fixture);
      const locker = new MemoryLocker();
      return {
        store: fixture.store,
        source: createRunner<A>(a, { store: fixture.store, locker }),
        target: createRunner<B>(b, { store: fixture.store, locker }),
      };
    }

    describe('chaining', () => {
      it('starts from the final data of a done instance through an async transform, and keeps the link', async () => {
        const seen: string[] = [];
        const { source, target } = await setup(quoteMachine(unique('quote')), invoiceMachine(unique('invoice'), seen));
        const quote = await source.start({ n: 5, log: [] });
        expect(quote.data.n).toBe(11);

        const invoice = await target.start(
          { note: 'merged over the transform' },
          {
            from: {
              instanceId: quote.id,
              machine: source.model.name,
              transform: async (data, link) => {
                await Promise.resolve();
                return { total: (data as Quote).n, from: link.id };
              },
            },
          },
        );
        expect(invoice.status).toBe('done');
        expect(invoice.data).toEqual({ total: 11, from: quote.id, note: 'merged over the transform' });
        expect(seen).toEqual([`${quote.id}:11`]);
        expect(invoice.chainedFrom).toEqual({ machine: source.model.name, id: quote.id });
        // Stored: read back from the store, not from the call's own memory.
        expect((await target.get(invoice.id)).chainedFrom).toEqual({ machine: source.model.name, id: quote.id });
        // The source is left as it was.
        expect(await source.get(quote.id)).toMatchObject({ status: 'done', version: quote.version, chainedFrom: null });
      });

      it("starts from the data after a step's last completed visit, not from a failed attempt nor from later steps", async () => {
        const { source, target } = await setup(quoteMachine(unique('quote')), quoteMachine(unique('requote')));
        const quote = await source.start({ n: 3, log: ['flaky'] });
        expect(quote.status).toBe('done');
        expect(quote.data.n).toBe(7);
        const history = await source.history(quote.id);
        expect(history.filter((h) => h.step === 'double').map((h) => h.error === null)).toEqual([false, true]);

        const created = await target.create(undefined, { from: { instanceId: quote.id, machine: source.model.name, step: 'double' } });
        expect(created.status).toBe('ready');
        expect(created.data).toEqual({ n: 6, log: ['flaky', 'double'] });
        expect((await target.get(created.id)).chainedFrom).toEqual({ machine: source.model.name, id: quote.id, step: 'double' });
        // From a paused instance too: a step it completed is enough.
        const held = await source.start({ n: 1, log: [], hold: true });
        expect(held.status).toBe('paused');
        const next = await target.start(undefined, { from: { instanceId: held.id, machine: source.model.name, step: 'double', transform: (d) => ({ ...(d as Quote), hold: false }) } });
        expect(next.data.n).toBe(2 * 2 + 1);
      });

      it('chains within one machine by default', async () => {
        const { source } = await setup(quoteMachine(unique('quote')), invoiceMachine(unique('invoice')));
        const first = await source.start({ n: 1, log: [] });
        const second = await source.start(undefined, { from: { instanceId: first.id } });
        expect(second.data.n).toBe(3 * 2 + 1);
        expect(second.chainedFrom).toEqual({ machine: source.model.name, id: first.id });
      });

      it('refuses with a typed error, storing nothing, when the source is missing, not done, or never completed the step', async () => {
        const { source, target } = await setup(quoteMachine(unique('quote')), invoiceMachine(unique('invoice')));
        const from = (instanceId: string, step?: string) => ({ from: { instanceId, machine: source.model.name, step, transform: (d: unknown) => ({ total: (d as Quote).n, from: 'x' }) } });
        const missing = await target.start(undefined, from('0190d3f4-0000-7000-8000-000000000000')).catch((e: unknown) => e);
        expect(isFsmError(missing, 'FSM_NOT_FOUND')).toBe(true);

        const held = await source.start({ n: 1, log: [], hold: true });
        const notDone = await target.start(undefined, from(held.id)).catch((e: unknown) => e);
        expect(isFsmError(notDone, 'FSM_SOURCE_NOT_DONE')).toBe(true);
        expect((notDone as Error).message).toContain('paused');

        for (const step of ['add', 'nosuchstep']) {
          const never = await target.start(undefined, from(held.id, step)).catch((e: unknown) => e);
          expect(isFsmError(never, 'FSM_SOURCE_STEP_NOT_COMPLETED')).toBe(true);
          expect((never as { context: Record<string, unknown> }).context).toMatchObject({ machine: source.model.name, id: held.id, step });
        }
        expect(await target.list()).toEqual([]);
      });
    });

    describe('batches', () => {
      it('starts every item at most `concurrency` at once, reports progress as items settle, and returns results in item order', async () => {
        const { target: runner } = await setup(invoiceMachine(unique('unused')), quoteMachine(unique('quote')));
        let running = 0;
        let most = 0;
        // The first item in waits for a second one to come in: two run at once whatever the store's speed.
        let second: () => void = () => {};
        const bothIn = new Promise<void>((resolve) => (second = resolve));
        runner.on('before', async (e) => {
          if (e.name !== 'double') return;
          running++;
          most = Math.max(most, running);
          if (running === 2) second();
          if (most === 1) await Promise.race([bothIn, new Promise((r) => setTimeout(r, 10_000))]);
        });
        runner.on('after', (e) => void (e.name === 'double' && running--));
        const progress: StartManyProgress[] = [];
        const items: Quote[] = [1, 2, 3, 4, 5, 6].map((n) => ({ n, log: [], fail: n === 3 }));
        const results = await runner.startMany(items, { concurrency: 2, onProgress: (p) => progress.push(p) });

        expect(results.map((r) => [r.index, r.status])).toEqual([
          [0, 'started'],
          [1, 'started'],
          [2, 'failed'],
          [3, 'started'],
          [4, 'started'],
          [5, 'started'],
        ]);
        expect(results.map((r) => (r.status === 'started' ? r.instance.data.n : null))).toEqual([3, 5, null, 9, 11, 13]);
        const failed = results[2]!;
        expect(failed.status === 'failed' && isFsmError(failed.error, 'FSM_STEP_FAILED') && failed.instance?.status).toBe('failed');
        expect(most).toBeLessThanOrEqual(2);
        expect(most).toBe(2);
        expect(progress.map((p) => p.done)).toEqual([1, 2, 3, 4, 5, 6]);
        expect(progress.every((p) => p.total === 6)).toBe(true);
        expect(progress.at(-1)).toEqual({ done: 6, total: 6, failed: 1 });
        expect(await runner.list({ status: 'done' })).toHaveLength(5);
      });

      it('stops at the first failure: items not started say so, and nothing of them is stored', async () => {
        const { target: runner } = await setup(invoiceMachine(unique('unused')), quoteMachine(unique('quote')));
        const progress: StartManyProgress[] = [];
        const results = await runner.startMany(
          [{ n: 1, log: [] }, { n: 2, log: [] }, { n: 3, log: [], fail: true }, { n: 4, log: [] }, { n: 5, log: [] }],
          { concurrency: 1, stopOnError: true, onProgress: (p) => progress.push(p) },
        );
        expect(results.map((r) => r.status)).toEqual(['started', 'started', 'failed', 'skipped', 'skipped']);
        expect(progress).toEqual([
          { done: 1, total: 5, failed: 0 },
          { done: 2, total: 5, failed: 0 },
          { done: 3, total: 5, failed: 1 },
        ]);
        expect((await runner.list()).map((i) => [i.data.n, i.status])).toEqual([[3, 'done'], [5, 'done'], [6, 'failed']]);
      });

      it('reports an item that cannot be started as failed, with its error, and goes on', async () => {
        const { target: runner } = await setup(invoiceMachine(unique('unused')), quoteMachine(unique('quote')));
        const results = await runner.startMany([{ n: 1, log: [] }, { n: 2, log: [] }], { create: (_data, index) => ({ priority: index === 0 ? 1.5 : 0 }) });
        expect(results.map((r) => r.status)).toEqual(['failed', 'started']);
        const first = results[0]!;
        expect(first.status === 'failed' && isFsmError(first.error, 'FSM_INPUT_INVALID')).toBe(true);
      });

      it('starts one chained instance per source a filter lists, in list order, each linked to its source', async () => {
        const seen: string[] = [];
        const { source, target } = await setup(quoteMachine(unique('quote')), invoiceMachine(unique('invoice'), seen));
        const quotes = [];
        for (const n of [1, 2, 3]) quotes.push(await source.start({ n, log: [] }));
        await source.start({ n: 9, log: [], hold: true });

        const progress: StartManyProgress[] = [];
        const results = await target.startMany(
          { from: { machine: source.model.name, filter: { status: 'done' }, transform: (d) => ({ total: (d as Quote).n, from: 'quote' }) } },
          { concurrency: 3, onProgress: (p) => progress.push(p) },
        );
        expect(results.map((r) => [r.status, r.source])).toEqual(quotes.map((q) => ['started', q.id]));
        expect(results.map((r) => r.status === 'started' && [r.instance.data.total, r.instance.chainedFrom?.id])).toEqual(quotes.map((q) => [q.data.n, q.id]));
        expect(seen.sort()).toEqual(['quote:3', 'quote:5', 'quote:7']);
        expect(progress.at(-1)).toEqual({ done: 3, total: 3, failed: 0 });
      });
    });

    describe('priorities', () => {
      const t0 = Date.now() - 3_600_000;
      const at = (seconds: number) => new Date(t0 + seconds * 1000);

      it('claims the highest priority first, then the earliest due; stores and shows the priority', async () => {
        const { target: runner, store } = await setup(invoiceMachine(unique('unused')), quoteMachine(unique('quote')));
        const made: Record<string, string> = {};
        for (const [name, priority, due] of [
          ['low-early', 0, 10],
          ['high-late', 5, 40],
          ['mid', 2, 20],
          ['high-early', 5, 30],
          ['negative', -1, 0],
          ['low-late', 0, 50],
        ] as const) {
          made[name] = (await runner.create({ n: 0, log: [name] }, { priority, runAt: at(due) })).id;
        }
        expect((await runner.get(made['high-late']!)).priority).toBe(5);
        const order: string[] = [];
        for (;;) {
          const [id] = await store.claim!(runner.model.name, { owner: 'w', limit: 1, leaseMs: 60_000 });
          if (id === undefined) break;
          order.push((await runner.get(id)).data.log[0]!);
        }
        expect(order).toEqual(['high-early', 'high-late', 'mid', 'low-early', 'low-late', 'negative']);
      });

      it('gives the aging lane the instance due the longest, whatever its priority, and the rest by priority', async () => {
        const { target: runner, store } = await setup(invoiceMachine(unique('unused')), quoteMachine(unique('quote')));
        const old = (await runner.create({ n: 0, log: ['old-low'] }, { priority: -10, runAt: at(0) })).id;
        for (let i = 1; i <= 4; i++) await runner.create({ n: i, log: [`high-${i}`] }, { priority: 10, runAt: at(100 + i) });
        const claim = async (limit: number, oldest: number) =>
          Promise.all((await store.claim!(runner.model.name, { owner: 'w', limit, leaseMs: 60_000, oldest })).map(async (id) => (await runner.get(id)).data.log[0]));
        expect(await claim(1, 0)).toEqual(['high-1']);
        expect(await claim(2, 1)).toEqual(['old-low', 'high-2']);
        expect(await claim(5, 5)).toEqual(['high-3', 'high-4']);
        expect((await runner.get(old)).priority).toBe(-10);
      });

      it('counts an instance to run at once as due since its creation in the aging lane, so a scheduled one is not starved by new ones', async () => {
        const { target: runner, store } = await setup(invoiceMachine(unique('unused')), quoteMachine(unique('quote')));
        const scheduled = (await runner.create({ n: 0, log: ['scheduled'] }, { priority: -1, runAt: at(0) })).id;
        for (let i = 1; i <= 3; i++) await runner.create({ n: i, log: [`now-${i}`] }, { priority: 5 });
        expect(await store.claim!(runner.model.name, { owner: 'w', limit: 1, leaseMs: 60_000, oldest: 1 })).toEqual([scheduled]);
        // By priority, the ones to run at once come first.
        const next = await store.claim!(runner.model.name, { owner: 'w', limit: 3, leaseMs: 60_000 });
        expect(await Promise.all(next.map(async (id) => (await runner.get(id)).data.log[0]))).toEqual(['now-1', 'now-2', 'now-3']);
      });

      it('claimers racing through both lanes never get the same instance, and miss none (repeated)', async () => {
        const { target: runner, store } = await setup(invoiceMachine(unique('unused')), quoteMachine(unique('quote')));
        for (let round = 0; round < 5; round++) {
          const ids = new Set<string>();
          for (let i = 0; i < 24; i++) ids.add((await runner.create({ n: i, log: [] }, { priority: i % 4, runAt: at(i % 7) })).id);
          const got: string[] = [];
          await Promise.all(
            [0, 1, 2, 3].map(async (w) => {
              for (;;) {
                const claimed = await store.claim!(runner.model.name, { owner: `w${w}`, limit: 3, leaseMs: 600_000, oldest: w % 2 });
                if (claimed.length === 0) return;
                got.push(...claimed.filter((id) => ids.has(id)));
              }
            }),
          );
          expect(got).toHaveLength(ids.size);
          expect(new Set(got)).toEqual(ids);
        }
      });

      it('a worker hands every agingEvery-th slot to the oldest due, so a low priority is not starved', async () => {
        const { target: runner } = await setup(invoiceMachine(unique('unused')), quoteMachine(unique('quote')));
        await runner.create({ n: 0, log: ['low'] }, { priority: 0, runAt: at(0) });
        for (let i = 1; i <= 5; i++) await runner.create({ n: i, log: [`high-${i}`] }, { priority: 3, runAt: at(100 + i) });
        const ran: string[] = [];
        runner.on('before', (e) => void (e.name === 'double' && ran.push(e.ctx.data.log[0]!)));
        // One at a time, so that the order of claims is the order of runs.
        const worker = runner.work({ concurrency: 1, pollMs: 5, agingEvery: 3 });
        const deadline = Date.now() + 20_000;
        while ((await runner.list({ status: 'done' })).length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        await worker.stop();
        expect(ran).toEqual(['high-1', 'high-2', 'low', 'high-3', 'high-4', 'high-5']);
      });
    });
  });
}
