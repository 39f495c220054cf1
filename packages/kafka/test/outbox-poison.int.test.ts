import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import type { TopicMessages } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { KafkaPublisher, OutboxRelay, type BatchPublisher, type OutboxRelayOptions } from '../src/index.js';
import { event, perInstanceSequences, range } from './support/events.js';
import { BROKERS, deleteTopics, kafkaUnavailable, readAll, uniqueTopic, type Consumed } from './support/kafka.js';
import { mysqlUnavailable, testOutbox, type TestOutbox } from './support/mysql.js';

const unavailable = (await kafkaUnavailable()) ?? (await mysqlUnavailable());
const kafka = new Kafka({ clientId: 'fsmkit-test-poison', brokers: BROKERS, logLevel: logLevel.NOTHING, retry: { retries: 8 } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** A topic whose broker-side limit on a record batch is `maxMessageBytes`: size errors without megabytes of data. */
async function limitedTopic(topic: string, maxMessageBytes: number, partitions = 1): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [{ topic, numPartitions: partitions, configEntries: [{ name: 'max.message.bytes', value: String(maxMessageBytes) }] }],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
}

/** Counts the publishes that failed, then hands over to a real publisher. */
class CountingPublisher implements BatchPublisher {
  failures = 0;
  publishes = 0;
  constructor(private readonly inner: BatchPublisher) {}
  async publish(batch: TopicMessages[]): Promise<void> {
    this.publishes++;
    try {
      await this.inner.publish(batch);
    } catch (error) {
      this.failures++;
      throw error;
    }
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The first copy of each event, in the order read: what a consumer that drops duplicates by event id sees. */
function firstCopies(consumed: Consumed[]): Consumed[] {
  const seen = new Set<string>();
  return consumed.filter((m) => !seen.has(m.eventId) && seen.add(m.eventId));
}

describe.skipIf(unavailable !== null)('poison events: one row or topic the broker refuses blocks nothing else', () => {
  let db: TestOutbox | undefined;
  const topics: string[] = [];
  const relays: OutboxRelay[] = [];
  const newTopic = (label: string) => {
    const t = uniqueTopic(label);
    topics.push(t);
    return t;
  };
  const relay = (options: Partial<OutboxRelayOptions> = {}) => {
    const r = new OutboxRelay({ outbox: db!.outbox, brokers: BROKERS, backoff: { initialMs: 20, maxMs: 200 }, ...options });
    relays.push(r);
    return r;
  };
  const unsentOf = async (instances: Set<string>) => (await db!.rows()).filter((r) => r.sentAt === null && instances.has(r.instanceId)).length;

  afterEach(async () => {
    await Promise.all(relays.splice(0).map((r) => r.stop()));
    await db?.drop();
    db = undefined;
    await deleteTopics(topics.splice(0));
  });

  it('an event over the topic limit is sent without its data; the 62 others go out in order', async () => {
    db = await testOutbox();
    const topic = newTopic('too-large');
    await limitedTopic(topic, 4000, 3);
    const instances = range(21).map(() => randomUUID());
    const big = instances[7]!;
    const events = [1, 2, 3].flatMap((seq) =>
      instances.map((id) => event(id, seq, topic, id === big && seq === 2 ? { data: { blob: 'x'.repeat(20_000) } } : {})),
    );
    await db.outbox.enqueue(events);
    expect(await relay({ batchSize: 100 }).drainOnce()).toBe(63);
    expect((await db.rows()).filter((r) => r.sentAt === null)).toEqual([]);

    const delivered = firstCopies(await readAll(topic));
    expect(delivered).toHaveLength(63);
    for (const [, seqs] of perInstanceSequences(delivered)) expect(seqs).toEqual([1, 2, 3]);
    const slim = delivered.find((m) => m.instanceId === big && m.sequence === 2)!;
    expect(slim.value).toMatchObject({ dataOmitted: true, eventId: slim.eventId, sequence: 2 });
    expect(slim.value).not.toHaveProperty('data');
    expect(delivered.filter((m) => m !== slim).every((m) => (m.value as { data?: unknown }).data !== undefined)).toBe(true);
  });

  it('a backlog whose batch exceeds the limit per partition is cut until it fits, nothing dropped', async () => {
    db = await testOutbox();
    const topic = newTopic('backlog');
    await limitedTopic(topic, 6000, 1);
    const instances = range(10).map(() => randomUUID());
    const events = range(8).flatMap((seq) => instances.map((id) => event(id, seq, topic, { data: { note: 'y'.repeat(300) } })));
    await db.outbox.enqueue(events);
    const publisher = new CountingPublisher(new KafkaPublisher({ brokers: BROKERS }));
    const r = relay({ batchSize: 500, publisher });
    expect(await r.drainOnce()).toBe(80);
    expect(publisher.failures).toBeGreaterThan(0); // the broker did refuse the whole batch
    await publisher.close();

    const delivered = firstCopies(await readAll(topic));
    expect(delivered).toHaveLength(80);
    for (const [, seqs] of perInstanceSequences(delivered)) expect(seqs).toEqual(range(8));
    expect(delivered.every((m) => (m.value as { dataOmitted?: boolean }).dataOmitted === undefined)).toBe(true);
  });

  it('with maxBatchBytes under the limit the relay cuts the claim before sending: no request refused', async () => {
    db = await testOutbox();
    const topic = newTopic('fit');
    await limitedTopic(topic, 6000, 1);
    const instances = range(10).map(() => randomUUID());
    await db.outbox.enqueue(range(8).flatMap((seq) => instances.map((id) => event(id, seq, topic, { data: { note: 'y'.repeat(300) } }))));
    const publisher = new CountingPublisher(new KafkaPublisher({ brokers: BROKERS }));
    expect(await relay({ publisher, maxBatchBytes: 5000 }).drainOnce()).toBe(80);
    expect(publisher.failures).toBe(0);
    expect(publisher.publishes).toBeGreaterThan(10);
    await publisher.close();
    const delivered = await readAll(topic);
    expect(delivered).toHaveLength(80);
    for (const [, seqs] of perInstanceSequences(delivered)) expect(seqs).toEqual(range(8));
  });

  it('an invalid topic holds back only its own instances, which become dead letters with their error', async () => {
    db = await testOutbox();
    const good = newTopic('good');
    const invalid = 'fsmkit test: not a topic!';
    const goodInstances = range(10).map(() => randomUUID());
    const badInstances: string[] = [randomUUID(), randomUUID()];
    for (let seq = 1; seq <= 3; seq++) {
      await db.outbox.enqueue([
        ...goodInstances.map((id) => event(id, seq, good)),
        ...badInstances.map((id) => event(id, seq, invalid)),
      ]);
    }
    const errors: unknown[] = [];
    relay({ maxFailures: 3, pollIntervalMs: 10, onError: (e) => errors.push(e) }).start();
    await until(async () => (await unsentOf(new Set(goodInstances))) === 0, 30_000, 'the good topic to be delivered');
    await until(async () => (await db!.outbox.deadLetters()).length === 2, 30_000, 'two dead letters');

    const dead = await db.outbox.deadLetters();
    expect(dead.map((d) => d.instanceId).sort()).toEqual([...badInstances].sort());
    for (const d of dead) {
      expect(d).toMatchObject({ topic: invalid, sequence: 1, failures: 3, waiting: 2, type: 'instance.created' });
      expect(d.error.code).toBe('FSM_EVENTS');
      expect(d.error.message).toMatch(/invalid topic/i);
    }
    // The held instances' rows stay unsent, none claimed.
    const held = (await db.rows()).filter((r) => badInstances.includes(r.instanceId));
    expect(held.map((r) => [r.sentAt, r.claimedBy])).toEqual(held.map(() => [null, null]));
    expect(errors.length).toBeGreaterThanOrEqual(6);

    const delivered = await readAll(good);
    expect(delivered).toHaveLength(30);
    for (const [, seqs] of perInstanceSequences(delivered)) expect(seqs).toEqual([1, 2, 3]);
  });

  it('a missing topic (auto-creation off): dead letters wait, new events queue behind them, a retry delivers all in order', async () => {
    db = await testOutbox();
    const good = newTopic('present');
    const missing = newTopic('missing');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: good, numPartitions: 2 }], waitForLeaders: true });
    const goodInstances = range(6).map(() => randomUUID());
    const late = randomUUID();
    await db.outbox.enqueue([...goodInstances.map((id) => event(id, 1, good)), event(late, 1, missing), event(late, 2, missing)]);
    const options = { allowAutoTopicCreation: false, maxFailures: 2, pollIntervalMs: 10 };
    // Two relays race for the same rows: the refusal count and the order must hold all the same.
    relay(options).start();
    relay(options).start();
    await until(async () => (await db!.outbox.deadLetters()).length === 1, 30_000, 'the dead letter');
    await until(async () => (await unsentOf(new Set(goodInstances))) === 0, 30_000, 'the present topic to be delivered');
    const [dead] = await db.outbox.deadLetters();
    expect(dead).toMatchObject({ instanceId: late, sequence: 1, failures: 2, waiting: 1, topic: missing });
    expect(dead!.error.message).toContain('does not exist');

    // The instance goes on committing; its events wait behind the dead letter, never ahead of it.
    await db.outbox.enqueue([event(late, 3, missing), ...goodInstances.map((id) => event(id, 2, good))]);
    await until(async () => (await unsentOf(new Set(goodInstances))) === 0, 30_000, 'the second round');
    expect((await db.rows()).filter((r) => r.instanceId === late).map((r) => r.sentAt)).toEqual([null, null, null]);
    expect((await db.outbox.deadLetters())[0]).toMatchObject({ waiting: 2, failures: 2 });

    await admin.createTopics({ topics: [{ topic: missing, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    expect(await db.outbox.retryDeadLetters({ topics: ['some-other-topic'] })).toBe(0);
    expect(await db.outbox.retryDeadLetters({ topics: [missing] })).toBe(1);
    await until(async () => (await unsentOf(new Set([late]))) === 0, 30_000, 'the retried instance to be delivered');
    expect(await db.outbox.deadLetters()).toEqual([]);
    const delivered = firstCopies(await readAll(missing));
    expect(delivered.map((m) => m.sequence)).toEqual([1, 2, 3]);
    const goodDelivered = firstCopies(await readAll(good));
    expect(goodDelivered).toHaveLength(12);
  });

  it('with the broker away nothing becomes a dead letter, however long it lasts', async () => {
    db = await testOutbox();
    const a = randomUUID();
    await db.outbox.enqueue([event(a, 1, newTopic('away'))]);
    const r = relay({ brokers: ['127.0.0.1:1'], retry: { retries: 1 }, connectionTimeoutMs: 200, maxFailures: 1 });
    for (let i = 0; i < 3; i++) await expect(r.drainOnce()).rejects.toMatchObject({ code: 'FSM_EVENTS' });
    expect(await db.outbox.deadLetters()).toEqual([]);
    expect((await db.rows())[0]).toMatchObject({ sentAt: null, claimedBy: null, attempts: 3 });
  });
});
