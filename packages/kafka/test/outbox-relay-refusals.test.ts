import type { TopicMessages } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { MemoryOutbox, OutboxRelay, type BatchPublisher, type Outbox } from '../src/index.js';
import { event, perInstanceSequences, range, type Delivered } from './support/events.js';
import { RecordingPublisher } from './support/recording-publisher.js';

const until = async (check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** A kafkajs protocol error as the producer throws it. */
function kafkaError(type: string, retriable = false): Error {
  return Object.assign(new Error(`broker says ${type}`), { name: 'KafkaJSProtocolError', type, retriable });
}

/** A broker that refuses any request holding a message for which `refuse` returns an error. */
class RefusingPublisher implements BatchPublisher {
  readonly delivered: Delivered[] = [];
  readonly values: unknown[] = [];
  requests = 0;
  constructor(private readonly refuse: (topic: string, value: Record<string, unknown>, batchSize: number) => Error | null) {}

  async publish(batch: TopicMessages[]): Promise<void> {
    this.requests++;
    const size = batch.reduce((n, t) => n + t.messages.length, 0);
    for (const t of batch) {
      for (const m of t.messages) {
        const error = this.refuse(t.topic, JSON.parse(String(m.value)) as Record<string, unknown>, size);
        if (error) throw error;
      }
    }
    for (const t of batch) {
      for (const m of t.messages) {
        const value = JSON.parse(String(m.value)) as { instanceId: string; sequence: number; eventId: string };
        this.values.push(value);
        this.delivered.push({ topic: t.topic, key: String(m.key), instanceId: value.instanceId, sequence: value.sequence, eventId: value.eventId });
      }
    }
  }

  async close(): Promise<void> {}
}

const fast = { backoff: { initialMs: 1, maxMs: 4 }, pollIntervalMs: 1 };

describe('OutboxRelay with rows the broker refuses', () => {
  it('sends everything else, each instance in order, and sets the refused row aside after maxFailures', async () => {
    const outbox = new MemoryOutbox();
    outbox.enqueue(range(4).flatMap((seq) => ['a', 'b', 'c', 'd'].map((id) => event(id, seq))));
    const publisher = new RefusingPublisher((_t, v) => (v['instanceId'] === 'c' && v['sequence'] === 2 ? kafkaError('INVALID_RECORD') : null));
    const relay = new OutboxRelay({ outbox, publisher, maxFailures: 3, ...fast });
    relay.start();
    await until(async () => (await outbox.deadLetters()).length === 1);
    await relay.stop();
    const seqs = perInstanceSequences(publisher.delivered);
    for (const id of ['a', 'b', 'd']) expect(seqs.get(id)).toEqual(range(4));
    expect(seqs.get('c')).toEqual([1]);
    const [dead] = await outbox.deadLetters();
    expect(dead).toMatchObject({ instanceId: 'c', sequence: 2, failures: 3, waiting: 2, error: { message: 'broker says INVALID_RECORD' } });
    expect(outbox.size).toBe(3);

    // Retried, and the broker accepts it now: the instance's backlog follows, in order.
    publisher.delivered.length = 0;
    const healed = new OutboxRelay({ outbox, publisher: new RecordingPublisher(), ...fast });
    expect(await outbox.retryDeadLetters({ instanceIds: ['c'] })).toBe(1);
    expect(await healed.drainOnce()).toBe(3);
    expect(outbox.size).toBe(0);
  });

  it('a whole topic refused: only the first row of each of its instances counts, other topics go out', async () => {
    const outbox = new MemoryOutbox();
    outbox.enqueue([event('a', 1, 'denied'), event('b', 1, 'open'), event('a', 2, 'denied'), event('c', 1, 'denied'), event('b', 2, 'open')]);
    const publisher = new RefusingPublisher((t) => (t === 'denied' ? kafkaError('TOPIC_AUTHORIZATION_FAILED') : null));
    const relay = new OutboxRelay({ outbox, publisher, maxFailures: 1, ...fast });
    expect(await relay.drainOnce()).toBe(2);
    expect(publisher.delivered.map((d) => `${d.instanceId}${d.sequence}`)).toEqual(['b1', 'b2']);
    const dead = await outbox.deadLetters();
    expect(dead.map((d) => [d.instanceId, d.sequence, d.failures, d.waiting])).toEqual([
      ['a', 1, 1, 1],
      ['c', 1, 1, 0],
    ]);
    // Held rows are not claimed again while dead: a second pass sends nothing and returns.
    expect(await relay.drainOnce()).toBe(0);
  });

  it('a batch too large is halved until it fits; an event too large alone goes without its data', async () => {
    const outbox = new MemoryOutbox();
    outbox.enqueue(range(5).flatMap((seq) => range(8).map((i) => event(`i${i}`, seq, 't', i === 3 && seq === 4 ? { data: { huge: true } } : {}))));
    // At most 6 messages a request, and no event whose data is huge.
    const publisher = new RefusingPublisher((_t, v, size) =>
      size > 6 || (v['data'] as { huge?: boolean } | undefined)?.huge ? kafkaError('MESSAGE_TOO_LARGE') : null,
    );
    expect(await new OutboxRelay({ outbox, publisher, ...fast }).drainOnce()).toBe(40);
    for (const [, seqs] of perInstanceSequences(publisher.delivered)) expect(seqs).toEqual(range(5));
    const slim = publisher.values.filter((v) => (v as { dataOmitted?: boolean }).dataOmitted);
    expect(slim).toEqual([expect.objectContaining({ instanceId: 'i3', sequence: 4, dataOmitted: true })]);
    expect(slim[0]).not.toHaveProperty('data');
    expect(await outbox.deadLetters()).toEqual([]);
  });

  it('an event over maxMessageBytes is sent without its data from the start', async () => {
    const outbox = new MemoryOutbox();
    outbox.enqueue([event('a', 1, 't', { data: { blob: 'z'.repeat(5000) } }), event('a', 2, 't')]);
    const publisher = new RecordingPublisher();
    await new OutboxRelay({ outbox, publisher, maxMessageBytes: 2000 }).drainOnce();
    expect(publisher.batches).toHaveLength(1);
    const values = publisher.batches[0]![0]!.messages.map((m) => JSON.parse(String(m.value)) as Record<string, unknown>);
    expect(values[0]).toMatchObject({ dataOmitted: true, sequence: 1 });
    expect(values[0]).not.toHaveProperty('data');
    expect(values[1]).toMatchObject({ data: { n: 2 }, sequence: 2 });
  });

  it('a broker that is away (a retriable error) counts against no row: nothing becomes a dead letter', async () => {
    const outbox = new MemoryOutbox();
    outbox.enqueue([event('a', 1)]);
    let away = true;
    const publisher = new RefusingPublisher(() => (away ? kafkaError('NOT_LEADER_FOR_PARTITION', true) : null));
    const relay = new OutboxRelay({ outbox, publisher, maxFailures: 1, ...fast });
    for (let i = 0; i < 3; i++) await expect(relay.drainOnce()).rejects.toThrow('NOT_LEADER_FOR_PARTITION');
    expect(await outbox.deadLetters()).toEqual([]);
    away = false;
    expect(await relay.drainOnce()).toBe(1);
  });

  it('an outbox without reject: a refused row is released and retried, the rest still goes out', async () => {
    const memory = new MemoryOutbox();
    const outbox: Outbox = {
      claim: (...a) => memory.claim(...a),
      markSent: (...a) => memory.markSent(...a),
      markFailed: (...a) => memory.markFailed(...a),
    };
    memory.enqueue([event('a', 1), event('b', 1), event('a', 2)]);
    const publisher = new RefusingPublisher((_t, v) => (v['instanceId'] === 'a' ? kafkaError('INVALID_RECORD') : null));
    expect(await new OutboxRelay({ outbox, publisher, ...fast }).drainOnce()).toBe(1);
    expect(memory.pending().map((p) => [p.row.instanceId, p.row.sequence, p.claimedBy])).toEqual([
      ['a', 1, null],
      ['a', 2, null],
    ]);
  });

  it('a logger and an onError that throw never stop the loop', async () => {
    const outbox = new MemoryOutbox();
    outbox.enqueue([event('a', 1), event('a', 2)]);
    const publisher = new RecordingPublisher();
    publisher.failNext = 3;
    const boom = () => {
      throw new Error('logger down');
    };
    let calls = 0;
    const relay = new OutboxRelay({
      outbox,
      publisher,
      ...fast,
      logger: { debug: boom, info: boom, warn: boom, error: boom },
      onError: () => {
        calls++;
        throw new Error('callback down');
      },
    });
    relay.start();
    await until(() => outbox.size === 0);
    await relay.stop();
    expect(calls).toBe(3);
    expect(publisher.delivered.map((d) => d.sequence)).toEqual([1, 2]);
  });

  it('an outbox that fails to claim is retried with backoff, not given up', async () => {
    const memory = new MemoryOutbox();
    let broken = 2;
    const outbox: Outbox = {
      claim: (...a) => (broken-- > 0 ? Promise.reject(new Error('database away')) : memory.claim(...a)),
      markSent: (...a) => memory.markSent(...a),
      markFailed: (...a) => memory.markFailed(...a),
    };
    memory.enqueue([event('a', 1)]);
    const errors: unknown[] = [];
    const relay = new OutboxRelay({ outbox, publisher: new RecordingPublisher(), ...fast, onError: (e) => errors.push(e) });
    relay.start();
    await until(() => memory.size === 0);
    await relay.stop();
    expect(errors.map((e) => (e as Error).message)).toEqual(['database away', 'database away']);
  });
});

describe('OutboxRelay retention', () => {
  it('purges in batches of purgeBatchSize until fewer are left, and not at all with retention Infinity', async () => {
    const calls: Array<[number, number]> = [];
    let left = 7;
    const outbox: Outbox = {
      claim: async () => [],
      markSent: async () => undefined,
      markFailed: async () => undefined,
      purgeSent: async (olderThanMs, limit) => {
        calls.push([olderThanMs, limit]);
        const n = Math.min(left, limit);
        left -= n;
        return n;
      },
    };
    const publisher = new RecordingPublisher();
    expect(await new OutboxRelay({ outbox, publisher, retentionMs: 5000, purgeBatchSize: 3 }).purge()).toBe(7);
    expect(calls).toEqual([
      [5000, 3],
      [5000, 3],
      [5000, 3],
    ]);
    expect(await new OutboxRelay({ outbox, publisher, retentionMs: Infinity }).purge()).toBe(0);
    expect(calls).toHaveLength(3);
    expect(() => new OutboxRelay({ outbox, publisher, retentionMs: -1 })).toThrow(RangeError);
  });
});

describe('OutboxRelay loop over an outbox without reject', () => {
  it('waits pollIntervalMs between passes that sent nothing, instead of spinning on a refused row', async () => {
    const memory = new MemoryOutbox();
    const outbox: Outbox = {
      claim: (...a) => memory.claim(...a),
      markSent: (...a) => memory.markSent(...a),
      markFailed: (...a) => memory.markFailed(...a),
    };
    memory.enqueue([event('a', 1)]);
    const publisher = new RefusingPublisher(() => kafkaError('INVALID_RECORD'));
    const relay = new OutboxRelay({ outbox, publisher, pollIntervalMs: 50 });
    relay.start();
    await new Promise((r) => setTimeout(r, 300));
    await relay.stop();
    expect(publisher.requests).toBeGreaterThan(1);
    expect(publisher.requests).toBeLessThan(15);
  });
});
