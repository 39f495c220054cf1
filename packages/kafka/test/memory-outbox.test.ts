import { describe, expect, it } from 'vitest';
import { MemoryOutbox } from '../src/index.js';
import { event } from './support/events.js';

const failure = { name: 'Error', message: 'broker away' };

describe('MemoryOutbox', () => {
  it('is an event sink: published events wait as rows with key, headers and the event as payload', async () => {
    const outbox = new MemoryOutbox();
    const e = event('a', 1);
    await outbox.publish([e]);
    const [row] = await outbox.claim('r1', 10, 1000);
    expect(row).toMatchObject({ eventId: e.eventId, topic: 'orders.fsm', key: 'a', instanceId: 'a', sequence: 1, type: 'instance.created' });
    expect(JSON.parse(row!.payload)).toEqual(e);
    expect(row!.headers).toEqual({
      'fsm-event-type': 'instance.created',
      'fsm-schema-version': '1',
      'fsm-machine': 'order',
      'fsm-event-id': e.eventId,
    });
  });

  it('never claims a row while an earlier row of its instance is claimed by someone else', async () => {
    const outbox = new MemoryOutbox();
    outbox.enqueue([event('a', 1), event('b', 1)]);
    expect((await outbox.claim('r1', 1, 10_000)).map((r) => [r.instanceId, r.sequence])).toEqual([['a', 1]]);
    outbox.enqueue([event('a', 2), event('b', 2)]);
    // r2 may take b's whole backlog but nothing of a until a:1 is settled.
    expect((await outbox.claim('r2', 10, 10_000)).map((r) => [r.instanceId, r.sequence])).toEqual([
      ['b', 1],
      ['b', 2],
    ]);
    expect(await outbox.claim('r3', 10, 10_000)).toEqual([]);
  });

  it("nor while the claiming relay's own earlier claim holds one: a relay may claim again before marking", async () => {
    const outbox = new MemoryOutbox();
    outbox.enqueue([event('a', 1)]);
    await outbox.claim('r1', 10, 10_000);
    outbox.enqueue([event('a', 2), event('b', 1)]);
    expect((await outbox.claim('r1', 10, 10_000)).map((r) => [r.instanceId, r.sequence])).toEqual([['b', 1]]);
  });

  it('releases a failed claim to anyone, and a sent row is gone', async () => {
    const outbox = new MemoryOutbox();
    outbox.enqueue([event('a', 1), event('a', 2)]);
    const first = await outbox.claim('r1', 1, 10_000);
    await outbox.markFailed('r1', first.map((r) => r.id), failure);
    expect(outbox.pending()[0]).toMatchObject({ claimedBy: null, attempts: 1, lastError: failure });
    const again = await outbox.claim('r2', 10, 10_000);
    expect(again.map((r) => r.sequence)).toEqual([1, 2]);
    await outbox.markSent('r2', again.map((r) => r.id));
    expect(outbox.size).toBe(0);
  });

  it('does not let one relay release rows another relay holds now', async () => {
    let now = 0;
    const outbox = new MemoryOutbox({ now: () => now });
    outbox.enqueue([event('a', 1)]);
    const ids = (await outbox.claim('r1', 10, 100)).map((r) => r.id);
    now = 200; // r1's lease expired: r2 takes over.
    expect(await outbox.claim('r2', 10, 100)).toHaveLength(1);
    await outbox.markFailed('r1', ids, failure);
    expect(outbox.pending()[0]!.claimedBy).toBe('r2');
    expect(await outbox.claim('r3', 10, 100)).toEqual([]);
  });

  it('hands out rows whose lease expired', async () => {
    let now = 0;
    const outbox = new MemoryOutbox({ now: () => now });
    outbox.enqueue([event('a', 1), event('a', 2)]);
    expect(await outbox.claim('r1', 10, 100)).toHaveLength(2);
    now = 99;
    expect(await outbox.claim('r2', 10, 100)).toEqual([]);
    now = 101;
    expect((await outbox.claim('r2', 10, 100)).map((r) => r.sequence)).toEqual([1, 2]);
  });

  it('holds an instance back after a refusal, for a delay that doubles, then sets the row aside as a dead letter', async () => {
    let now = 0;
    const outbox = new MemoryOutbox({ now: () => now });
    outbox.enqueue([event('a', 1), event('b', 1), event('a', 2)]);
    const options = { maxFailures: 3, backoff: { initialMs: 100, maxMs: 150 } };
    const refuse = async (owner: string) => {
      const claim = await outbox.claim(owner, 10, 1000);
      const head = claim.find((r) => r.instanceId === 'a' && r.sequence === 1)!;
      await outbox.markFailed(owner, claim.filter((r) => r !== head).map((r) => r.id), failure);
      return outbox.reject(owner, head.id, failure, options);
    };
    expect(await refuse('r1')).toBe('retry');
    // Held for 100 ms: a's rows stay out of claims, b's do not.
    expect((await outbox.claim('r2', 10, 1000)).map((r) => `${r.instanceId}${r.sequence}`)).toEqual(['b1']);
    await outbox.markSent('r2', [2]);
    now = 100;
    expect(await refuse('r3')).toBe('retry');
    now = 249; // the second delay is 200, capped at 150
    expect(await outbox.claim('r4', 10, 1000)).toEqual([]);
    now = 251;
    expect(await refuse('r5')).toBe('dead');
    now = 1_000_000;
    expect(await outbox.claim('r6', 10, 1000)).toEqual([]);
    expect(await outbox.deadLetters()).toEqual([
      expect.objectContaining({ instanceId: 'a', sequence: 1, failures: 3, waiting: 1, error: failure, deadAt: new Date(251) }),
    ]);
    // A stale owner's refusal counts nothing.
    expect(await outbox.reject('r1', 1, failure, options)).toBe('retry');
    expect((await outbox.deadLetters())[0]!.failures).toBe(3);
    expect(await outbox.retryDeadLetters({ topics: ['elsewhere'] })).toBe(0);
    expect(await outbox.retryDeadLetters()).toBe(1);
    const claim = await outbox.claim('r7', 10, 1000);
    expect(claim.map((r) => r.sequence)).toEqual([1, 2]);
    // Sent at last: the refusal record goes, and a later refusal starts a fresh count.
    await outbox.markSent('r7', claim.map((r) => r.id));
    expect(await outbox.deadLetters()).toEqual([]);
    expect(outbox.size).toBe(0);
  });

  it('is bounded: a batch that does not fit is refused whole with FSM_EVENTS, and accepted again once drained', async () => {
    const outbox = new MemoryOutbox({ maxRows: 3 });
    outbox.enqueue([event('a', 1), event('a', 2)]);
    let error: unknown;
    try {
      await outbox.publish([event('a', 3), event('a', 4)]);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'FSM_EVENTS', context: { limit: 3, unsent: 2, events: 2 } });
    expect((error as Error).message).toContain('memory outbox is full');
    expect(outbox.size).toBe(2);
    await outbox.publish([event('a', 3)]);
    const claim = await outbox.claim('r1', 10, 1000);
    await outbox.markSent('r1', claim.map((r) => r.id));
    await outbox.publish([event('a', 4), event('a', 5)]);
    expect(outbox.size).toBe(2);
    expect(() => new MemoryOutbox({ maxRows: 0 })).toThrow(RangeError);
  });
});
