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
});
