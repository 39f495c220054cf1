/**
 * Timers and messages, written once and run against every store (memory here, MySQL in
 * @fsmkit/mysql). Tests named "001 v1.x.y" make a bug of the seed 001 engine's release notes
 * impossible here.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createRunner, isFsmError, MemoryLocker, type MachineDefinition, type RunnerOptions, type StepContext } from '../../src/index.js';
import type { StoreFactory, StoreFixture } from './behaviour-suite.js';
import { machine } from './machines.js';

let counter = 0;
const unique = (base: string) => `${base}_${process.pid % 1000}_${++counter}`;

interface Order {
  orderId: string;
  log: string[];
  paid?: unknown;
  items?: Array<{ sku: string; qty: number }>;
}

const paymentSchema = {
  type: 'object',
  properties: { amount: { type: 'number' }, items: { type: 'array', items: { type: 'object', properties: { sku: { type: 'string' } }, required: ['sku'] } } },
  required: ['amount'],
};

/** reserve -> (wait for payment, key orderId) -> charge -> ship; a timeout goes to cancel. */
function paymentMachine(name: string, wait: { timeoutMs?: number; onTimeout?: string; declared?: boolean } = {}) {
  return machine<Order>(
    { name },
    {
      reserve: wait.declared
        ? { order: 1, waitFor: { message: 'payment', key: 'orderId', payload: paymentSchema, ...(wait.timeoutMs ? { timeoutMs: wait.timeoutMs } : {}), ...(wait.onTimeout ? { onTimeout: wait.onTimeout } : {}) } }
        : { order: 1 },
      charge: { order: 2 },
      ship: { order: 3, end: true },
      cancel: { order: 4 },
    },
    {
      reserve: (ctx) => {
        ctx.data.log.push('reserve');
        if (!wait.declared) ctx.waitFor('payment', { key: ctx.data.orderId, ...(wait.timeoutMs ? { timeoutMs: wait.timeoutMs } : {}), ...(wait.onTimeout ? { onTimeout: wait.onTimeout } : {}) });
      },
      charge: (ctx) => {
        ctx.data.log.push(`charge:${ctx.message === null ? 'none' : `${ctx.message.name}/${ctx.message.key}`}`);
        ctx.data.paid = ctx.message?.payload ?? null;
      },
      ship: (ctx) => void ctx.data.log.push(`ship:${ctx.message === null ? 'none' : 'message'}`),
      cancel: (ctx) => void ctx.data.log.push(`cancel:${ctx.message === null ? 'none' : 'message'}`),
    },
  );
}

export function waitsSuite(label: string, factory: StoreFactory): void {
  describe(`timers and messages on the ${label} store`, () => {
    const fixtures: StoreFixture[] = [];
    afterAll(async () => {
      for (const f of fixtures) await f.cleanup();
    });
    async function setup<T>(def: MachineDefinition<T>, options: RunnerOptions = {}) {
      const fixture = await factory([def.model.name]);
      fixtures.push(fixture);
      const runner = createRunner<T>(def, { store: fixture.store, locker: new MemoryLocker(), ...options });
      return { runner, fixture };
    }
    const order = (orderId = `o-${++counter}`): Order => ({ orderId, log: [] });

    describe('timers', () => {
      const sleeper = (name: string, sleep: (ctx: StepContext<Order>) => void) =>
        machine<Order>(
          { name },
          { first: { order: 1 }, second: { order: 2 } },
          { first: (ctx) => void (ctx.data.log.push('first'), sleep(ctx)), second: (ctx) => void ctx.data.log.push('second') },
        );

      it('ctx.sleep commits the step and leaves the instance waiting with its due time; run(id) before then changes nothing', async () => {
        const { runner } = await setup(sleeper(unique('sleep'), (ctx) => ctx.sleep(3_600_000)));
        const before = Date.now();
        const waiting = await runner.start(order());
        expect(waiting.status).toBe('waiting');
        expect(waiting.state).toBe('second');
        expect(waiting.data.log).toEqual(['first']);
        const stored = await runner.get(waiting.id);
        expect(stored.nextRunAt!.getTime()).toBeGreaterThanOrEqual(before + 3_600_000 - 5_000);
        expect((await runner.history(waiting.id)).map((h) => h.step)).toEqual(['first']);

        const again = await runner.run(waiting.id);
        expect(again.status).toBe('waiting');
        expect(again.version).toBe(stored.version);
        expect(again.data.log).toEqual(['first']);
        const next = await runner.next(waiting.id);
        expect(next.version).toBe(stored.version);
        expect((await runner.history(waiting.id)).length).toBe(1);
      });

      it('a worker continues a timer once due; the declared form (@Step sleep) and { until } work alike', async () => {
        const until = machine<Order>(
          { name: unique('until') },
          { first: { order: 1 }, second: { order: 2 } },
          { first: (ctx) => void (ctx.data.log.push('first'), ctx.sleep({ until: new Date(Date.now() + 20) })), second: (ctx) => void ctx.data.log.push('second') },
        );
        const declared = machine<Order>(
          { name: unique('declared') },
          { first: { order: 1, sleep: 20 }, second: { order: 2 } },
          { first: (ctx) => void ctx.data.log.push('first'), second: (ctx) => void ctx.data.log.push('second') },
        );
        for (const def of [until, declared]) {
          const { runner } = await setup(def);
          const waiting = await runner.start(order());
          expect(waiting.status).toBe('waiting');
          const worker = runner.work({ pollMs: 10 });
          try {
            await vi.waitFor(async () => expect((await runner.get(waiting.id)).status).toBe('done'), { timeout: 10_000, interval: 20 });
          } finally {
            await worker.stop();
          }
          const done = await runner.get(waiting.id);
          expect(done.data.log).toEqual(['first', 'second']);
          expect(done.nextRunAt).toBeNull();
        }
      });

      it('a bad sleep fails the step with FSM_WAIT_INVALID, nothing of it kept', async () => {
        const { runner } = await setup(sleeper(unique('badsleep'), (ctx) => ctx.sleep(Number.NaN)));
        const failed = await runner.start(order());
        expect(failed.status).toBe('failed');
        expect(failed.error?.code).toBe('FSM_WAIT_INVALID');
        expect(failed.data.log).toEqual([]);
      });
    });

    describe('messages', () => {
      it('deliver hands the payload to the waiting instance, cancels its timer in the same commit and runs it on (001 v1.1.1, v1.1.3, v1.1.5, v1.1.7)', async () => {
        const { runner } = await setup(paymentMachine(unique('pay'), { timeoutMs: 3_600_000, onTimeout: 'cancel' }));
        const waiting = await runner.start(order('o-1'));
        expect(waiting.status).toBe('waiting');
        expect(waiting.state).toBe('charge');
        const stored = await runner.get(waiting.id);
        expect(stored.nextRunAt).not.toBeNull();

        const result = await runner.deliver('payment', 'o-1', { amount: 42 });
        expect(result.outcome).toBe('delivered');
        if (result.outcome !== 'delivered') return;
        expect(result.instanceId).toBe(waiting.id);
        const done = result.instance!;
        expect(done.status).toBe('done');
        // The data the waiting step left is still there: the message is added, never replaces it (v1.1.5, v1.1.7),
        // and what one step wrote reaches the next (v1.1.3).
        expect(done.data).toEqual({ orderId: 'o-1', log: ['reserve', 'charge:payment/o-1', 'ship:none'], paid: { amount: 42 } });
        // The timer is gone with the wait (v1.1.1): nothing left for a worker to fire.
        const after = await runner.get(waiting.id);
        expect(after.nextRunAt).toBeNull();
        // Read only by the step after the wait: ship saw no message.
        expect((await runner.history(waiting.id)).map((h) => h.step)).toEqual(['reserve', 'charge', 'ship']);
        // Nobody waits now: the same message again goes to the inbox and changes nothing.
        expect(await runner.deliver('payment', 'o-1', { amount: 42 })).toEqual({ outcome: 'inboxed' });
        expect((await runner.get(waiting.id)).version).toBe(after.version);
      });

      it('a payload with arrays of objects arrives as sent (001 v1.1.4)', async () => {
        const { runner } = await setup(paymentMachine(unique('arrays'), { declared: true }));
        const waiting = await runner.start(order('o-arr'));
        const payload = { amount: 3, items: [{ sku: 'a', qty: 1 }, { sku: 'b', qty: 2 }] };
        const result = await runner.deliver('payment', 'o-arr', payload);
        expect(result.outcome === 'delivered' && result.instance?.data.paid).toEqual(payload);
        expect(waiting.status).toBe('waiting');
      });

      it('the declared form reads the key from the data and checks the payload against its schema: a bad one is refused, nothing stored', async () => {
        const { runner } = await setup(paymentMachine(unique('schema'), { declared: true }));
        const waiting = await runner.start(order('o-s'));
        const bad = await runner.deliver('payment', 'o-s', { amount: 'lots' }).catch((e: unknown) => e);
        expect(isFsmError(bad, 'FSM_INPUT_INVALID')).toBe(true);
        expect((bad as { context: { issues: Array<{ path: string }> } }).context.issues[0]!.path).toBe('/amount');
        const notJson = await runner.deliver('payment', 'o-s', { amount: 1, at: new Date() }).catch((e: unknown) => e);
        expect(isFsmError(notJson, 'FSM_INPUT_INVALID')).toBe(true);
        for (const key of ['', 'k'.repeat(192)]) {
          expect(isFsmError(await runner.deliver('payment', key, { amount: 1 }).catch((e: unknown) => e), 'FSM_INPUT_INVALID')).toBe(true);
        }
        const still = await runner.get(waiting.id);
        expect(still.status).toBe('waiting');
        expect(still.version).toBe((await runner.get(waiting.id)).version);
        const ok = await runner.deliver('payment', 'o-s', { amount: 1 });
        expect(ok.outcome === 'delivered' && ok.instance?.status).toBe('done');
      });

      it('a message that came before the wait began waits in the inbox and is taken when it begins: never lost', async () => {
        const { runner } = await setup(paymentMachine(unique('early')));
        expect(await runner.deliver('payment', 'o-early', { amount: 7 }, { messageId: 'm-early' })).toEqual({ outcome: 'inboxed' });
        const done = await runner.start(order('o-early'));
        expect(done.status).toBe('done');
        expect(done.data.paid).toEqual({ amount: 7 });
        expect(done.data.log).toEqual(['reserve', 'charge:payment/o-early', 'ship:none']);
        // Taken once: another instance waiting on the same key finds nothing and waits.
        const second = await runner.start(order('o-early'));
        expect(second.status).toBe('waiting');
        // And the id stays known: the same message again is a duplicate (naming who took it), not a second payment.
        expect(await runner.deliver('payment', 'o-early', { amount: 7 }, { messageId: 'm-early' })).toEqual({ outcome: 'duplicate', instanceId: done.id });
        expect((await runner.get(second.id)).status).toBe('waiting');
      });

      it('prune deletes the expired inbox messages and those taken before olderThan; a pruned message id is new again', async () => {
        const { runner, fixture } = await setup(paymentMachine(unique('pruneinbox')));
        const name = runner.model.name;
        await runner.start(order('o-p1'));
        expect((await runner.deliver('payment', 'o-p1', { amount: 1 }, { messageId: 'p-1' })).outcome).toBe('delivered');
        expect(await runner.deliver('payment', 'o-p2', { amount: 2 }, { messageId: 'p-2', inboxTtlMs: 1 })).toEqual({ outcome: 'inboxed' });
        expect(await runner.deliver('payment', 'o-p3', { amount: 3 }, { messageId: 'p-3' })).toEqual({ outcome: 'inboxed' });
        await new Promise((r) => setTimeout(r, 20));
        // Taken after this cutoff: kept; expired: gone; waiting and unexpired: kept.
        expect((await fixture.store.prune!(name, { olderThan: new Date(Date.now() - 3_600_000) })).inboxRows).toBe(1);
        expect(await runner.deliver('payment', 'o-p1', { amount: 1 }, { messageId: 'p-1' })).toMatchObject({ outcome: 'duplicate' });
        expect((await fixture.store.prune!(name, { olderThan: new Date(Date.now() + 3_600_000) })).inboxRows).toBe(1);
        expect(await runner.deliver('payment', 'o-p1', { amount: 1 }, { messageId: 'p-1' })).toEqual({ outcome: 'inboxed' });
        expect(await runner.deliver('payment', 'o-p3', { amount: 3 }, { messageId: 'p-3' })).toMatchObject({ outcome: 'duplicate' });
      });

      it('an expired inbox message is not taken', async () => {
        const { runner } = await setup(paymentMachine(unique('expired')));
        expect(await runner.deliver('payment', 'o-x', { amount: 1 }, { inboxTtlMs: 1 })).toEqual({ outcome: 'inboxed' });
        await new Promise((r) => setTimeout(r, 20));
        expect((await runner.start(order('o-x'))).status).toBe('waiting');
      });

      it('the same message delivered twice has one effect: with a messageId the second is a duplicate, without one it goes to the inbox', async () => {
        const { runner } = await setup(paymentMachine(unique('twice')));
        const a = await runner.start(order('o-a'));
        const first = await runner.deliver('payment', 'o-a', { amount: 1 }, { messageId: 'pay-1' });
        expect(first.outcome).toBe('delivered');
        expect(await runner.deliver('payment', 'o-a', { amount: 1 }, { messageId: 'pay-1' })).toEqual({ outcome: 'duplicate', instanceId: a.id });
        const history = await runner.history(a.id);
        expect(history.filter((h) => h.step === 'charge')).toHaveLength(1);
        expect(await runner.deliver('payment', 'o-a', { amount: 1 })).toEqual({ outcome: 'inboxed' });
        expect(await runner.history(a.id)).toHaveLength(history.length);
      });

      it('a timeout goes to onTimeout with the data the waiting step left (001 v1.2.1); a message after it changes nothing', async () => {
        const { runner } = await setup(paymentMachine(unique('timeout'), { timeoutMs: 20, onTimeout: 'cancel' }));
        const waiting = await runner.start(order('o-t'));
        expect(waiting.status).toBe('waiting');
        const worker = runner.work({ pollMs: 10 });
        try {
          await vi.waitFor(async () => expect((await runner.get(waiting.id)).status).toBe('done'), { timeout: 10_000, interval: 20 });
        } finally {
          await worker.stop();
        }
        const done = await runner.get(waiting.id);
        expect(done.data).toEqual({ orderId: 'o-t', log: ['reserve', 'cancel:none'] });
        expect(done.version).toBeGreaterThan(waiting.version);
        expect(await runner.deliver('payment', 'o-t', { amount: 1 })).toEqual({ outcome: 'inboxed' });
        expect((await runner.get(waiting.id)).version).toBe(done.version);
      });

      it('a timeout without onTimeout fails the instance with FSM_WAIT_TIMEOUT', async () => {
        const { runner } = await setup(paymentMachine(unique('notarget'), { timeoutMs: 1 }));
        const waiting = await runner.start(order('o-n'));
        await new Promise((r) => setTimeout(r, 20));
        const failed = await runner.run(waiting.id);
        expect(failed.status).toBe('failed');
        expect(failed.error?.code).toBe('FSM_WAIT_TIMEOUT');
        expect(failed.data.log).toEqual(['reserve']);
      });

      it('keys belong to the waiting step: a message for a later wait with the same key neither wakes the current one nor is lost (001 v1.1.8, v1.1.9)', async () => {
        const def = machine<Order>(
          { name: unique('twowaits') },
          {
            first: { order: 1, waitFor: { message: 'approval', key: 'orderId', timeoutMs: 3_600_000, onTimeout: 'late' } },
            second: { order: 2, waitFor: { message: 'payment', key: 'orderId' } },
            third: { order: 3, end: true },
            late: { order: 4 },
          },
          {
            first: (ctx) => void ctx.data.log.push('first'),
            second: (ctx) => void ctx.data.log.push(`second:${ctx.message?.name ?? 'none'}`),
            third: (ctx) => void ctx.data.log.push(`third:${ctx.message?.name ?? 'none'}`),
            late: (ctx) => void ctx.data.log.push('late'),
          },
        );
        const { runner } = await setup(def);
        const waiting = await runner.start(order('k-1'));
        expect((await runner.get(waiting.id)).state).toBe('second');
        expect(await runner.deliver('payment', 'k-1', { amount: 1 })).toEqual({ outcome: 'inboxed' });
        const still = await runner.get(waiting.id);
        expect(still.status).toBe('waiting');
        expect(still.version).toBe(waiting.version);
        const result = await runner.deliver('approval', 'k-1', { ok: true });
        expect(result.outcome === 'delivered' && result.instance?.data.log).toEqual(['first', 'second:approval', 'third:payment']);
        // The first wait's timer went with it: nothing is due any more (v1.1.9's stale trigger).
        expect((await runner.get(waiting.id)).nextRunAt).toBeNull();
      });

      it('resume(id) ends a message wait: the next step runs without a message', async () => {
        const { runner } = await setup(paymentMachine(unique('resume')));
        const waiting = await runner.start(order('o-r'));
        const done = await runner.resume(waiting.id);
        expect(done.status).toBe('done');
        expect(done.data.log).toEqual(['reserve', 'charge:none', 'ship:none']);
        expect(await runner.deliver('payment', 'o-r', { amount: 1 })).toEqual({ outcome: 'inboxed' });
      });

      it('a step that retries after a message reads it again; a bad waitFor fails the step with FSM_WAIT_INVALID', async () => {
        let tries = 0;
        const def = machine<Order>(
          { name: unique('retry') },
          { first: { order: 1, waitFor: { message: 'go', key: 'orderId' } }, second: { order: 2, retry: { maxAttempts: 3 } }, bad: { order: 3 } },
          {
            first: (ctx) => void ctx.data.log.push('first'),
            second: (ctx) => {
              ctx.data.log.push(`second:${JSON.stringify(ctx.message?.payload)}`);
              if (++tries < 2) throw new Error('flaky');
            },
            bad: (ctx) => ctx.waitFor('x', { key: '' }),
          },
        );
        const { runner } = await setup(def);
        await runner.start(order('o-rt'));
        const result = await runner.deliver('go', 'o-rt', 5, { messageId: 'go-1' });
        if (result.outcome !== 'delivered') throw new Error(result.outcome);
        expect(result.instance!.data.log).toEqual(['first', 'second:5']);
        expect(result.instance!.status).toBe('failed');
        expect(result.instance!.error?.code).toBe('FSM_WAIT_INVALID');
        expect(tries).toBe(2);
      });
    });
  });
}
