import { describe, expect, it } from 'vitest';
import { MemoryStore } from '@fsmkit/runtime';
import { MemoryOutbox, OutboxRelay, orderBatch, type Outbox, type OutboxRow } from '../src/index.js';
import { idleAfter } from '../src/outbox-relay.js';
import { event, interleaved, perInstanceSequences, range } from './support/events.js';
import { countingClaims } from './support/counting-outbox.js';
import { RecordingPublisher } from './support/recording-publisher.js';

const until = async (check: () => boolean, timeoutMs = 5000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('orderBatch', () => {
  it('puts each instance in sequence order, instances by their oldest row', () => {
    const row = (id: number, instanceId: string, sequence: number): OutboxRow => ({
      id, eventId: `${instanceId}${sequence}`, topic: 't', key: instanceId, instanceId, sequence, type: 'x', payload: '{}', headers: {},
    });
    const ordered = orderBatch([row(5, 'b', 2), row(3, 'a', 2), row(4, 'b', 1), row(1, 'a', 1), row(9, 'c', 1)]);
    expect(ordered.map((r) => `${r.instanceId}${r.sequence}`)).toEqual(['b1', 'b2', 'a1', 'a2', 'c1']);
  });
});

describe('OutboxRelay over a MemoryOutbox', () => {
  it('sends a claim in one batch, each instance in sequence order, and marks it sent', async () => {
    const outbox = new MemoryOutbox();
    const publisher = new RecordingPublisher();
    outbox.enqueue(interleaved(['a', 'b', 'c'], 4));
    const relay = new OutboxRelay({ outbox, publisher, batchSize: 100 });
    expect(await relay.drainOnce()).toBe(12);
    expect(publisher.batches).toHaveLength(1);
    expect(publisher.delivered.map((d) => `${d.key}${d.sequence}`)).toEqual([
      'a1', 'a2', 'a3', 'a4', 'b1', 'b2', 'b3', 'b4', 'c1', 'c2', 'c3', 'c4',
    ]);
    expect(outbox.size).toBe(0);
  });

  it('groups a batch by topic', async () => {
    const outbox = new MemoryOutbox();
    const publisher = new RecordingPublisher();
    outbox.enqueue([event('a', 1, 't1'), event('b', 1, 't2'), event('a', 2, 't1')]);
    await new OutboxRelay({ outbox, publisher }).drainOnce();
    expect(publisher.batches[0]!.map((t) => [t.topic, t.messages.length])).toEqual([
      ['t1', 2],
      ['t2', 1],
    ]);
  });

  it('keeps every row and its order through failures, and reports them', async () => {
    const outbox = new MemoryOutbox();
    const publisher = new RecordingPublisher();
    const errors: unknown[] = [];
    outbox.enqueue(interleaved(['a', 'b'], 3));
    publisher.failNext = 3;
    const relay = new OutboxRelay({ outbox, publisher, batchSize: 4, backoff: { initialMs: 1, maxMs: 5 }, onError: (e) => errors.push(e) });
    relay.start();
    await until(() => outbox.size === 0);
    await relay.stop();
    expect(errors).toHaveLength(3);
    const seqs = perInstanceSequences(publisher.delivered);
    expect(seqs.get('a')).toEqual(range(3));
    expect(seqs.get('b')).toEqual(range(3));
    expect(publisher.closed).toBe(false); // a publisher passed in belongs to the caller
  });

  it('drainOnce rejects with the failure and leaves the rows unsent and unclaimed', async () => {
    const outbox = new MemoryOutbox();
    const publisher = new RecordingPublisher();
    outbox.enqueue([event('a', 1)]);
    publisher.failNext = 1;
    const relay = new OutboxRelay({ outbox, publisher });
    await expect(relay.drainOnce()).rejects.toThrow('broker away');
    expect(outbox.pending()).toMatchObject([{ claimedBy: null, lastError: { message: 'broker away' } }]);
    expect(await relay.drainOnce()).toBe(1);
  });

  it('several relays at once deliver each event once, each instance in order', async () => {
    const outbox = new MemoryOutbox();
    const publisher = new RecordingPublisher();
    publisher.jitterMs = 8;
    const instances = range(20).map((i) => `i${i}`);
    const relays = range(4).map(() => new OutboxRelay({ outbox, publisher, batchSize: 7, pollIntervalMs: 1 }));
    for (const r of relays) r.start();
    // Events keep arriving while the relays run, as commits would.
    for (let seq = 1; seq <= 10; seq++) {
      outbox.enqueue(instances.map((id) => event(id, seq)));
      await new Promise((r) => setTimeout(r, 3));
    }
    await until(() => outbox.size === 0);
    await Promise.all(relays.map((r) => r.stop()));
    expect(publisher.delivered).toHaveLength(200);
    expect(new Set(publisher.delivered.map((d) => d.eventId)).size).toBe(200);
    for (const [, seqs] of perInstanceSequences(publisher.delivered)) expect(seqs).toEqual(range(10));
    expect(publisher.maxInFlight).toBeGreaterThan(1); // the relays really did overlap
  });

  it('stop lets the publish in flight finish and marks it sent', async () => {
    const outbox = new MemoryOutbox();
    const publisher = new RecordingPublisher();
    publisher.delayMs = 100;
    outbox.enqueue([event('a', 1)]);
    const relay = new OutboxRelay({ outbox, publisher });
    relay.start();
    await until(() => publisher.inFlight === 1);
    await relay.stop();
    expect(publisher.delivered).toHaveLength(1);
    expect(outbox.size).toBe(0);
  });

  it('notify wakes an idle relay at once', async () => {
    const outbox = new MemoryOutbox();
    const publisher = new RecordingPublisher();
    const relay = new OutboxRelay({ outbox, publisher, pollIntervalMs: 60_000 });
    relay.start();
    await new Promise((r) => setTimeout(r, 20));
    outbox.enqueue([event('a', 1)]);
    relay.notify();
    await until(() => publisher.delivered.length === 1, 1000);
    await relay.stop();
  });

  it('an enqueue wakes a running relay at once, without notify', async () => {
    const outbox = new MemoryOutbox();
    const publisher = new RecordingPublisher();
    const counted = countingClaims(outbox);
    const relay = new OutboxRelay({ outbox: counted.outbox, publisher, pollIntervalMs: 3_600_000 });
    relay.start();
    await until(() => counted.claims() >= 1); // an empty claim: the relay would now sleep an hour
    for (let seq = 1; seq <= 3; seq++) {
      outbox.enqueue([event('a', seq)]);
      await until(() => publisher.delivered.length === seq);
    }
    await relay.stop();
    outbox.enqueue([event('a', 4)]); // a stopped relay no longer watches
    expect(publisher.delivered.map((d) => d.sequence)).toEqual([1, 2, 3]);
  });

  it('claims the next rows while a send is in flight; with maxSendsInFlight 1 sends one at a time, each instance in order', async () => {
    const outbox = new MemoryOutbox();
    const publisher = new RecordingPublisher();
    publisher.delayMs = 20;
    let claimsDuringSend = 0;
    const watched: Outbox = {
      claim: (...a) => {
        if (publisher.inFlight > 0) claimsDuringSend++;
        return outbox.claim(...a);
      },
      markSent: (...a) => outbox.markSent(...a),
      markFailed: (...a) => outbox.markFailed(...a),
      watch: (listener) => outbox.watch(listener),
    };
    const relay = new OutboxRelay({ outbox: watched, publisher, batchSize: 5, pollIntervalMs: 3_600_000, maxSendsInFlight: 1 });
    relay.start();
    const instances = range(6).map((i) => `i${i}`);
    for (let seq = 1; seq <= 8; seq++) {
      outbox.enqueue(instances.map((id) => event(id, seq)));
      await new Promise((r) => setTimeout(r, 5));
    }
    await until(() => outbox.size === 0);
    await relay.stop();
    expect(claimsDuringSend).toBeGreaterThan(0);
    expect(publisher.maxInFlight).toBe(1);
    expect(new Set(publisher.delivered.map((d) => d.eventId)).size).toBe(48);
    for (const [, seqs] of perInstanceSequences(publisher.delivered)) expect(seqs).toEqual(range(8));
  });

  it('sends a claim of other instances while the previous send is in flight, never a later row of an instance in flight', async () => {
    const outbox = new MemoryOutbox();
    const publisher = new RecordingPublisher();
    publisher.delayMs = 30;
    const relay = new OutboxRelay({ outbox, publisher, batchSize: 1, pollIntervalMs: 3_600_000 });
    outbox.enqueue(interleaved(['a', 'b', 'c'], 4));
    relay.start();
    await until(() => outbox.size === 0);
    await relay.stop();
    // Each claim holds one row: a's and b's first rows go out together, never two rows of one instance.
    expect(publisher.maxInFlight).toBe(2);
    expect(new Set(publisher.delivered.map((d) => d.eventId)).size).toBe(12);
    for (const [, seqs] of perInstanceSequences(publisher.delivered)) expect(seqs).toEqual(range(4));
  });

  it('three sends in flight, each instance in order, through failures', async () => {
    const outbox = new MemoryOutbox();
    const publisher = new RecordingPublisher();
    publisher.delayMs = 5;
    publisher.jitterMs = 10;
    publisher.failNext = 3;
    const relay = new OutboxRelay({ outbox, publisher, batchSize: 2, maxSendsInFlight: 3, pollIntervalMs: 5, backoff: { initialMs: 1, maxMs: 5 } });
    relay.start();
    const instances = range(8).map((i) => `i${i}`);
    for (let seq = 1; seq <= 6; seq++) {
      outbox.enqueue(instances.map((id) => event(id, seq)));
      await new Promise((r) => setTimeout(r, 3));
    }
    await until(() => outbox.size === 0);
    await relay.stop();
    expect(publisher.maxInFlight).toBeLessThanOrEqual(3);
    expect(new Set(publisher.delivered.map((d) => d.eventId)).size).toBe(48);
    for (const [, seqs] of perInstanceSequences(publisher.delivered)) expect(seqs).toEqual(range(6));
  });

  it('a send that fails releases the rows claimed meanwhile: none is lost, each instance stays in order', async () => {
    const outbox = new MemoryOutbox();
    const publisher = new RecordingPublisher();
    publisher.delayMs = 10;
    publisher.failNext = 2;
    const errors: unknown[] = [];
    const relay = new OutboxRelay({ outbox, publisher, batchSize: 3, backoff: { initialMs: 1, maxMs: 5 }, onError: (e) => errors.push(e) });
    outbox.enqueue(interleaved(['a', 'b', 'c', 'd'], 4));
    relay.start();
    await until(() => outbox.size === 0);
    await relay.stop();
    expect(errors).toHaveLength(2);
    expect(new Set(publisher.delivered.map((d) => d.eventId)).size).toBe(16);
    for (const [, seqs] of perInstanceSequences(publisher.delivered)) expect(seqs).toEqual(range(4));
  });

  it('drains what a MemoryStore commits when the outbox is its sink', async () => {
    const outbox = new MemoryOutbox();
    const store = new MemoryStore({ sink: outbox });
    const publisher = new RecordingPublisher();
    const e = event('a', 1);
    const record = {
      id: 'a', machine: 'order', userId: null, currentState: 's1', status: 'ready' as const, direction: 'forward' as const,
      resumeFromStep: 1, saveAfterStep: true, kafkaEventTopic: 'orders.fsm', serializedState: '{}', version: 1,
      definitionHash: '0123456789abcdef', definitionVersion: 1, isGlobalLock: false, isLocalLock: false,
      pauseRequested: false, pauseReason: null, lastError: null, attempts: 0, nextRunAt: null, takeovers: 0, priority: 0, waitMessage: null, waitKey: null, waitingFor: null, parentMachine: null, parentId: null, chainedFrom: null, historySeq: 0, eventSeq: 1,
      createdAt: new Date(), updatedAt: new Date(),
    };
    await store.insert(record, [e]);
    await store.flush();
    expect(await new OutboxRelay({ outbox, publisher }).drainOnce()).toBe(1);
    expect(publisher.delivered[0]!.eventId).toBe(e.eventId);
  });

  it('refuses nonsense options', () => {
    expect(() => new OutboxRelay({ outbox: new MemoryOutbox(), publisher: new RecordingPublisher(), batchSize: 0 })).toThrow(RangeError);
    expect(() => new OutboxRelay({ outbox: new MemoryOutbox(), publisher: new RecordingPublisher(), maxSendsInFlight: 0 })).toThrow(RangeError);
  });

  it('is constructed without touching Kafka', () => {
    // A relay over an unreachable broker is created fine; only publishing fails (FSM_EVENTS, see the integration suite).
    expect(new OutboxRelay({ outbox: new MemoryOutbox(), brokers: ['127.0.0.1:1'] }).owner).toMatch(/-\d+-[0-9a-f]{8}$/);
  });
});

describe('idleAfter', () => {
  const sent = (claimed: number, n: number) => ({ claimed, sent: n, held: false });
  it('waits after an empty claim, unless the send that just ended sent rows', () => {
    expect(idleAfter(0, null)).toBe(true);
    expect(idleAfter(0, sent(0, 0))).toBe(true);
    // Rows of its instances may have queued behind it: claim again at once.
    expect(idleAfter(0, sent(5, 5))).toBe(false);
  });
  it('goes straight on while claims find rows, and waits after a send that sent none of its claim', () => {
    expect(idleAfter(3, null)).toBe(false);
    expect(idleAfter(3, sent(5, 2))).toBe(false);
    expect(idleAfter(3, sent(5, 0))).toBe(true);
    expect(idleAfter(0, sent(5, 0))).toBe(true);
  });
});
