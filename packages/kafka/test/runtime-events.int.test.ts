import { createRunner, isFsmError, MemoryStore, type FsmError, type FsmEvent, type Logger } from '@fsmkit/runtime';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KafkaSink, OutboxRelay, type OutboxRelayOptions } from '../src/index.js';
import { BROKERS, createTopics, deleteTopics, kafkaUnavailable, readAll, topicExists, uniqueTopic, type Consumed } from './support/kafka.js';
import { mysqlUnavailable, testStore, type TestStore } from './support/mysql.js';
import {
  begin,
  EXPECTED_TYPES,
  expectEventsMatchHistory,
  finish,
  parcels,
  play,
  scenarioOf,
  SCENARIOS,
  type ParcelRunner,
  type Scenario,
} from './support/parcels.js';
import { generatedArtefacts, type ParcelArtefacts } from './support/schema.js';
import { until } from './support/until.js';

const kafkaDown = await kafkaUnavailable();
const unavailable = kafkaDown ?? (await mysqlUnavailable());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


/** Messages per instance key, in the order the consumer read them (one instance, one partition). */
function byInstance(consumed: Consumed[]): Map<string, Consumed[]> {
  const map = new Map<string, Consumed[]>();
  for (const m of consumed) {
    let list = map.get(m.key);
    if (!list) map.set(m.key, (list = []));
    list.push(m);
  }
  return map;
}

/** A failing call's error, or null when it succeeded. */
async function failure(work: Promise<unknown>): Promise<unknown> {
  return work.then(
    () => null,
    (error: unknown) => error,
  );
}

/**
 * Checks what a consumer read for each instance against the runner: one message per state
 * change, in order (sequence 1..n), with the scenario's event types, telling the history's
 * story, ending in the instance's final state; every value valid against the generated event
 * schema, every message keyed by its instance and carrying the documented headers.
 */
async function expectDelivered(
  consumed: Consumed[],
  runner: ParcelRunner,
  instances: Map<string, Scenario>,
  artefacts: ParcelArtefacts,
  topic: string,
): Promise<void> {
  const grouped = byInstance(consumed);
  expect(new Set(grouped.keys())).toEqual(new Set(instances.keys()));
  for (const [id, scenario] of instances) {
    const messages = grouped.get(id)!;
    const events = messages.map((m) => m.value as FsmEvent);
    expect(events.map((e) => e.sequence), `sequence of ${scenario} instance ${id}`).toEqual(events.map((_, i) => i + 1));
    expect(events.map((e) => e.type), `types of ${scenario} instance ${id}`).toEqual(EXPECTED_TYPES[scenario]);
    expect(new Set(messages.map((m) => m.partition)).size).toBe(1);
    for (const m of messages) {
      const e = m.value as FsmEvent;
      expect(artefacts.validateEvent(e), `${e.type}: ${JSON.stringify(artefacts.validateEvent.errors)}`).toBe(true);
      expect(artefacts.validateHeaders(m.headers), JSON.stringify(artefacts.validateHeaders.errors)).toBe(true);
      expect(m.key).toBe(id);
      expect(m.headers).toEqual({
        'fsm-event-type': e.type,
        'fsm-schema-version': '1',
        'fsm-machine': 'parcel',
        'fsm-event-id': e.eventId,
      });
      expect(e).toMatchObject({ machine: 'parcel', topic, instanceId: id, schemaVersion: 1 });
    }
    expectEventsMatchHistory(events, await runner.history(id));
    const end = await runner.get(id);
    const last = events.at(-1)!;
    expect({ to: last.to, status: last.status }).toEqual({ to: end.state, status: end.status });
  }
}

describe.skipIf(unavailable !== null)('a runner on the MySQL store, its outbox and a relay, against a real broker', () => {
  let artefacts: ParcelArtefacts;
  let db: TestStore | undefined;
  const topics: string[] = [];
  const relays: OutboxRelay[] = [];

  beforeAll(async () => {
    artefacts = await generatedArtefacts();
  });
  afterEach(async () => {
    await Promise.all(relays.splice(0).map((r) => r.stop()));
    await db?.drop();
    db = undefined;
    await deleteTopics(topics.splice(0));
  });

  const newTopic = async (label: string, partitions?: number) => {
    const t = uniqueTopic(label);
    topics.push(t);
    if (partitions !== undefined) await createTopics([t], partitions);
    return t;
  };
  const relay = (options: Partial<OutboxRelayOptions> = {}) => {
    const r = new OutboxRelay({ outbox: db!.outbox, brokers: BROKERS, pollIntervalMs: 20, ...options });
    relays.push(r);
    return r;
  };
  const unsent = async () => (await db!.rows()).filter((r) => r.sentAt === null).length;

  it('publishes one event per state change, in order per instance, each valid against the generated schema', async () => {
    db = await testStore([parcels.model]);
    const topic = await newTopic('runtime', 3);
    const runner = createRunner(parcels, { store: db.store, topic });
    relay({ batchSize: 7 }).start();

    const instances = new Map<string, Scenario>();
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const scenario = scenarioOf(i);
        instances.set(await play(runner, i, scenario), scenario);
      }),
    );
    const expectedCount = [...instances.values()].reduce((n, s) => n + EXPECTED_TYPES[s].length, 0);
    expect((await db.rows()).length).toBe(expectedCount);
    await until(async () => (await unsent()) === 0, 30_000, 'the relay to send every row');

    const consumed = await readAll(topic);
    expect(consumed).toHaveLength(expectedCount);
    expect(new Set(consumed.map((m) => m.eventId))).toEqual(new Set((await db.rows()).map((r) => r.eventId)));
    await expectDelivered(consumed, runner, instances, artefacts, topic);
    // The machine's channel in the AsyncAPI document is the decorator's topic (the runner overrode it here).
    expect(artefacts.asyncapi.channels['parcel']!.address).toBe('logistics.parcels');
    expect(artefacts.asyncapi.components.messages['parcelEvent']!.payload.schema.$ref).toBe('./parcel.events.schema.json');
  });

  it('a relay that crashed after publishing causes duplicates only, which consumers drop by event id', async () => {
    db = await testStore([parcels.model]);
    const topic = await newTopic('crash', 2);
    const runner = createRunner(parcels, { store: db.store, topic });
    const instances = new Map<string, Scenario>();
    for (let i = 0; i < 3; i++) instances.set(await play(runner, i, SCENARIOS[i]!), SCENARIOS[i]!);
    const total = SCENARIOS.reduce((n, s) => n + EXPECTED_TYPES[s].length, 0);

    // The first relay publishes its claim, then dies before marking it sent.
    const crashing = new OutboxRelay({
      outbox: { claim: (...a) => db!.outbox.claim(...a), markFailed: (...a) => db!.outbox.markFailed(...a), markSent: () => Promise.reject(new Error('crashed')) },
      brokers: BROKERS,
      batchSize: 10,
      leaseMs: 500,
    });
    relays.push(crashing);
    await expect(crashing.drainOnce()).rejects.toThrow('crashed');
    await crashing.stop();
    const claimed = (await db.rows()).filter((r) => r.claimedBy === crashing.owner && r.sentAt === null);
    expect(claimed).toHaveLength(10);

    // Once its lease runs out another relay sends those rows again, then the rest.
    await sleep(800);
    const survivor = relay();
    expect(await survivor.drainOnce()).toBe(total);
    expect(await unsent()).toBe(0);

    const consumed = await readAll(topic);
    expect(consumed).toHaveLength(total + 10);
    const seen = new Map<string, Consumed>();
    const firsts: Consumed[] = [];
    for (const m of consumed) {
      const earlier = seen.get(m.eventId);
      if (earlier) {
        // A duplicate is the same message again, after the first copy.
        expect(m.value).toEqual(earlier.value);
        expect(m.headers).toEqual(earlier.headers);
        continue;
      }
      seen.set(m.eventId, m);
      firsts.push(m);
    }
    expect(new Set(consumed.filter((m) => firsts.indexOf(m) === -1).map((m) => m.eventId))).toEqual(new Set(claimed.map((r) => r.eventId)));
    await expectDelivered(firsts, runner, instances, artefacts, topic);
  });

  it('an unreachable broker: the relay fails with FSM_EVENTS, state changes commit, events wait until a relay reaches it', async () => {
    db = await testStore([parcels.model]);
    const topic = await newTopic('unreachable', 2);
    const runner = createRunner(parcels, { store: db.store, topic });
    const errors: unknown[] = [];
    const broken = relay({
      brokers: ['127.0.0.1:1'],
      retry: { retries: 1 },
      connectionTimeoutMs: 500,
      backoff: { initialMs: 20, maxMs: 100 },
      onError: (e) => errors.push(e),
    });
    broken.start();

    // The runner keeps committing while the relay fails.
    const instances = new Map<string, Scenario>();
    for (let i = 0; i < 3; i++) instances.set(await play(runner, i, SCENARIOS[i]!), SCENARIOS[i]!);
    await until(() => errors.length >= 2, 10_000, 'the relay to report failures');
    await broken.stop();

    const error = errors[0] as FsmError;
    expect(isFsmError(error, 'FSM_EVENTS')).toBe(true);
    expect(error.message).toContain('cannot reach the Kafka broker(s) 127.0.0.1:1');
    expect(error.message).toContain('The state changes are committed');
    expect(error.context).toMatchObject({ brokers: ['127.0.0.1:1'], topics: [topic] });
    const direct = await failure(relay({ brokers: ['127.0.0.1:1'], retry: { retries: 1 }, connectionTimeoutMs: 500 }).drainOnce());
    expect(isFsmError(direct, 'FSM_EVENTS')).toBe(true);

    const rows = await db.rows();
    const total = SCENARIOS.reduce((n, s) => n + EXPECTED_TYPES[s].length, 0);
    expect(rows).toHaveLength(total);
    expect(rows.every((r) => r.sentAt === null && r.claimedBy === null)).toBe(true);
    expect(rows.filter((r) => r.attempts > 0).every((r) => r.lastError?.code === 'FSM_EVENTS')).toBe(true);
    for (const [id, scenario] of instances) expect((await runner.get(id)).status).toBe(scenario === 'lost' ? 'compensated' : 'done');

    // Nothing was lost: a relay that reaches the broker sends it all, in order.
    expect(await relay().drainOnce()).toBe(total);
    await expectDelivered(await readAll(topic), runner, instances, artefacts, topic);
  });

  it('a missing topic with auto-creation off is refused fast with FSM_EVENTS; the events wait until it exists', async () => {
    db = await testStore([parcels.model]);
    const topic = await newTopic('absent');
    const runner = createRunner(parcels, { store: db.store, topic });
    const id = await begin(runner, 1, 'held');
    const refusals: unknown[] = [];
    const strict = relay({ allowAutoTopicCreation: false, backoff: { initialMs: 50, maxMs: 50 }, onError: (e) => refusals.push(e) });

    const started = Date.now();
    // The refusal holds back this instance only: the pass ends without error, and reports it.
    expect(await strict.drainOnce()).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    const [error] = refusals;
    expect(isFsmError(error, 'FSM_EVENTS')).toBe(true);
    expect((error as FsmError).message).toContain(`Kafka topic "${topic}" does not exist`);
    expect((error as FsmError).context).toMatchObject({ topics: [topic] });
    expect(await topicExists(topic)).toBe(false);

    // The runner goes on; its events pile up in the outbox.
    await finish(runner, id, 'held');
    expect((await runner.get(id)).status).toBe('done');
    const rows = await db.rows();
    expect(rows.map((r) => r.sentAt)).toEqual(EXPECTED_TYPES.held.map(() => null));

    await createTopics([topic]);
    await sleep(60); // the instance's retry delay after the refusal
    expect(await strict.drainOnce()).toBe(EXPECTED_TYPES.held.length);
    await expectDelivered(await readAll(topic), runner, new Map([[id, 'held']]), artefacts, topic);
  });
});

describe.skipIf(kafkaDown !== null)('a runner on the memory store with a KafkaSink (best effort), against a real broker', () => {
  let artefacts: ParcelArtefacts;
  const topics: string[] = [];
  beforeAll(async () => {
    artefacts = await generatedArtefacts();
  });
  afterEach(async () => {
    await deleteTopics(topics.splice(0));
  });

  it('publishes every state change straight away, in order per instance', async () => {
    const topic = uniqueTopic('memory');
    topics.push(topic);
    await createTopics([topic], 2);
    const sink = new KafkaSink({ brokers: BROKERS });
    const store = new MemoryStore({ sink });
    const runner = createRunner(parcels, { store, topic });
    const instances = new Map<string, Scenario>();
    try {
      await Promise.all(
        Array.from({ length: 6 }, async (_, i) => {
          instances.set(await play(runner, i, scenarioOf(i)), scenarioOf(i));
        }),
      );
      await store.flush();
    } finally {
      await sink.close();
    }
    const consumed = await readAll(topic);
    expect(consumed.map((m) => m.eventId).sort()).toEqual(store.outbox.map((e) => e.eventId).sort());
    await expectDelivered(consumed, runner, instances, artefacts, topic);
  });

  it('an unreachable broker: the state changes stand, the failure is logged as FSM_EVENTS', async () => {
    const logged: Array<{ message: string; error: unknown }> = [];
    const logger: Logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: (message, fields) => logged.push({ message, error: fields?.['error'] }),
    };
    const sink = new KafkaSink({ brokers: ['127.0.0.1:1'], retry: { retries: 1 }, connectionTimeoutMs: 500 });
    const store = new MemoryStore({ sink, logger });
    const runner = createRunner(parcels, { store, topic: 'fsmkit-test-nowhere' });
    try {
      const id = await play(runner, 1, 'delivered');
      await store.flush();
      expect((await runner.get(id)).status).toBe('done');
      expect(store.outbox.map((e) => e.type)).toEqual(EXPECTED_TYPES.delivered);
    } finally {
      await sink.close();
    }
    // start() and run() each committed several times: every commit's publish failed and was logged.
    expect(logged.length).toBeGreaterThanOrEqual(2);
    for (const entry of logged) {
      expect(entry.message).toContain('event publish failed');
      expect(isFsmError(entry.error, 'FSM_EVENTS')).toBe(true);
      expect((entry.error as FsmError).message).toContain('cannot reach the Kafka broker(s) 127.0.0.1:1');
    }
  });
});
