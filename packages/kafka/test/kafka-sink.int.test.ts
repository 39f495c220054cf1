import { randomUUID } from 'node:crypto';
import { isFsmError, type FsmError } from '@fsmkit/runtime';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaSink, MemoryOutbox, OutboxRelay } from '../src/index.js';
import { event, interleaved, perInstanceSequences, range } from './support/events.js';
import { BROKERS, createTopics, deleteTopics, kafkaUnavailable, readAll, topicExists, uniqueTopic } from './support/kafka.js';

const unavailable = await kafkaUnavailable();

describe.skipIf(unavailable !== null)('KafkaSink against a real broker', () => {
  const topics: string[] = [];
  const topic = (label: string) => {
    const t = uniqueTopic(label);
    topics.push(t);
    return t;
  };
  afterAll(async () => {
    await deleteTopics(topics);
  });

  it('publishes events keyed by instance, with the fsm headers, in order per instance', async () => {
    const t = topic('sink');
    await createTopics([t], 3);
    const instances = range(6).map(() => randomUUID());
    const events = interleaved(instances, 5, t);
    const sink = new KafkaSink({ brokers: BROKERS });
    try {
      // Two publishes, as two commits would make them.
      await sink.publish(events.slice(0, 12));
      await sink.publish(events.slice(12));
    } finally {
      await sink.close();
    }
    const consumed = await readAll(t);
    expect(consumed).toHaveLength(30);
    const byId = new Map(events.map((e) => [e.eventId, e]));
    for (const m of consumed) {
      const sent = byId.get(m.eventId)!;
      expect(m.key).toBe(sent.instanceId);
      expect(m.value).toEqual(sent);
      expect(m.headers).toEqual({
        'fsm-event-type': sent.type,
        'fsm-schema-version': '1',
        'fsm-machine': 'order',
        'fsm-event-id': sent.eventId,
      });
    }
    // One key, one partition: each instance's events sit together, in sequence order.
    for (const id of instances) expect(new Set(consumed.filter((m) => m.key === id).map((m) => m.partition)).size).toBe(1);
    for (const [, seqs] of perInstanceSequences(consumed)) expect(seqs).toEqual(range(5));
  });

  it('spreads one publish over several topics in one batch', async () => {
    const [a, b] = [topic('multi-a'), topic('multi-b')];
    const sink = new KafkaSink({ brokers: BROKERS });
    try {
      await sink.publish([event('x', 1, a), event('y', 1, b), event('x', 2, a)]);
    } finally {
      await sink.close();
    }
    expect((await readAll(a)).map((m) => m.sequence)).toEqual([1, 2]);
    expect((await readAll(b)).map((m) => m.key)).toEqual(['y']);
  });

  it('fails with FSM_EVENTS naming the brokers when none is reachable', async () => {
    const sink = new KafkaSink({ brokers: ['127.0.0.1:1'], retry: { retries: 1 } });
    const error = await sink.publish([event('x', 1, 'fsmkit-test-unreachable')]).then(
      () => null,
      (e: unknown) => e,
    );
    await sink.close();
    expect(isFsmError(error, 'FSM_EVENTS')).toBe(true);
    expect((error as FsmError).message).toContain('cannot reach the Kafka broker(s) 127.0.0.1:1');
    expect((error as FsmError).context).toMatchObject({ brokers: ['127.0.0.1:1'], topics: ['fsmkit-test-unreachable'] });
  });

  it('fails fast with FSM_EVENTS naming the topic when it is missing and auto-creation is off', async () => {
    const missing = topic('missing');
    const sink = new KafkaSink({ brokers: BROKERS, allowAutoTopicCreation: false });
    const started = Date.now();
    const error = await sink.publish([event('x', 1, missing)]).then(
      () => null,
      (e: unknown) => e,
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(isFsmError(error, 'FSM_EVENTS')).toBe(true);
    expect((error as FsmError).message).toContain(`Kafka topic "${missing}" does not exist`);
    expect((error as FsmError).message).toContain('auto-creation is off');
    expect(await topicExists(missing)).toBe(false);
    // Once the topic exists the same sink publishes.
    await createTopics([missing]);
    await sink.publish([event('x', 1, missing)]);
    await sink.close();
    expect(await readAll(missing)).toHaveLength(1);
  });

  it('through a MemoryOutbox and relay: a refused publish leaves the events waiting, a later one sends them', async () => {
    const missing = topic('outbox-missing');
    const outbox = new MemoryOutbox();
    await outbox.publish(interleaved(['p', 'q'], 2, missing));
    const refusals: unknown[] = [];
    const relay = new OutboxRelay({
      outbox,
      brokers: BROKERS,
      allowAutoTopicCreation: false,
      backoff: { initialMs: 50, maxMs: 50 },
      onError: (e) => refusals.push(e),
    });
    try {
      expect(await relay.drainOnce()).toBe(0);
      expect(refusals).toHaveLength(2); // the first event of each instance
      expect(refusals[0]).toMatchObject({ code: 'FSM_EVENTS', context: { topics: [missing] } });
      expect(outbox.size).toBe(4);
      await createTopics([missing]);
      await new Promise((r) => setTimeout(r, 60)); // the instances' retry delay
      expect(await relay.drainOnce()).toBe(4);
    } finally {
      await relay.stop();
    }
    const seqs = perInstanceSequences(await readAll(missing));
    expect(seqs.get('p')).toEqual([1, 2]);
    expect(seqs.get('q')).toEqual([1, 2]);
  });
});
