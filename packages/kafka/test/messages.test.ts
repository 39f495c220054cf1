import { isFsmError } from '@fsmkit/runtime';
import { describe, expect, it } from 'vitest';
import { eventsError } from '../src/events-error.js';
import { KafkaSink, type BatchPublisher } from '../src/index.js';
import { byTopic, eventMessage } from '../src/messages.js';
import { event } from './support/events.js';
import { RecordingPublisher } from './support/recording-publisher.js';

const scope = { brokers: ['k1:9092', 'k2:9092'], topics: ['orders.fsm'], count: 3 };

describe('event messages', () => {
  it('keys by instance id, carries the event as JSON and the fsm headers', () => {
    const e = event('i-1', 2);
    const { topic, message } = eventMessage(e);
    expect(topic).toBe('orders.fsm');
    expect(message.key).toBe('i-1');
    expect(JSON.parse(String(message.value))).toEqual(e);
    expect(message.headers).toEqual({
      'fsm-event-type': 'step.completed',
      'fsm-schema-version': '1',
      'fsm-machine': 'order',
      'fsm-event-id': e.eventId,
    });
  });

  it('groups by topic and keeps the order within each topic', () => {
    const batch = byTopic([event('a', 1, 't1'), event('b', 1, 't2'), event('a', 2, 't1')].map(eventMessage));
    expect(batch.map((t) => [t.topic, t.messages.map((m) => `${String(m.key)}`)])).toEqual([
      ['t1', ['a', 'a']],
      ['t2', ['b']],
    ]);
  });

  it('refuses a retry policy without retries when it is built, not at the first publish', () => {
    // The idempotent producer needs retries; kafkajs would only say so once publishing.
    expect(() => new KafkaSink({ brokers: ['127.0.0.1:1'], retry: { retries: 0 } })).toThrow(/retry.retries must be at least 1, got 0/);
    expect(() => new KafkaSink({ brokers: ['127.0.0.1:1'], retry: { retries: 1 } })).not.toThrow();
  });

  it('KafkaSink sends one publish as one batch', async () => {
    const publisher = new RecordingPublisher();
    const sink = new KafkaSink({ publisher: publisher satisfies BatchPublisher });
    await sink.publish([event('a', 1, 't1'), event('b', 1, 't2')]);
    await sink.publish([]);
    expect(publisher.batches).toHaveLength(1);
    expect(publisher.delivered.map((d) => d.topic)).toEqual(['t1', 't2']);
  });
});

describe('eventsError', () => {
  it('names the brokers and says what to do when they cannot be reached', () => {
    const connection = Object.assign(new Error('Connection error: connect ECONNREFUSED'), { name: 'KafkaJSConnectionError' });
    const retries = Object.assign(new Error('Connection error: connect ECONNREFUSED'), { name: 'KafkaJSNumberOfRetriesExceeded', cause: connection });
    const error = eventsError(scope, retries);
    expect(isFsmError(error, 'FSM_EVENTS')).toBe(true);
    expect(error.message).toMatch(/^cannot reach the Kafka broker\(s\) k1:9092,k2:9092 .*check the brokers option/);
    expect(error.cause).toBe(retries);
    expect(error.context).toMatchObject({ brokers: scope.brokers, topics: scope.topics, events: 3 });
  });

  it('names the topic when the broker does not know it', () => {
    const unknown = Object.assign(new Error('This server does not host this topic-partition'), {
      name: 'KafkaJSProtocolError',
      type: 'UNKNOWN_TOPIC_OR_PARTITION',
    });
    const error = eventsError(scope, unknown);
    expect(error.code).toBe('FSM_EVENTS');
    expect(error.message).toContain('Kafka topic "orders.fsm" does not exist on k1:9092,k2:9092');
  });

  it('passes any other failure on with its kafkajs type', () => {
    const other = Object.assign(new Error('The request attempted to perform an operation on an invalid topic'), {
      name: 'KafkaJSProtocolError',
      type: 'INVALID_TOPIC_EXCEPTION',
    });
    const error = eventsError(scope, other);
    expect(error.message).toContain('publishing 3 event(s) to topic "orders.fsm" on k1:9092,k2:9092 failed');
    expect(error.message).toContain('(INVALID_TOPIC_EXCEPTION)');
    expect(error.context['kafkaError']).toBe('INVALID_TOPIC_EXCEPTION');
  });
});
