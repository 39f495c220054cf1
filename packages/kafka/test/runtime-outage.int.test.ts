import { createRunner, isFsmError, type FsmEvent } from '@fsmkit/runtime';
import { afterAll, describe, expect, it } from 'vitest';
import { OutboxRelay } from '../src/index.js';
import { BROKERS, broker, brokerIsManaged, createTopics, deleteTopics, kafkaUnavailable, readAll, uniqueTopic, type Consumed } from './support/kafka.js';
import { mysqlUnavailable, testStore, type TestStore } from './support/mysql.js';
import { begin, EXPECTED_TYPES, expectEventsMatchHistory, finish, parcels, scenarioOf, type Scenario } from './support/parcels.js';
import { generatedArtefacts } from './support/schema.js';

const unavailable = (await kafkaUnavailable()) ?? (await mysqlUnavailable());

const INSTANCES = 100;
const OUTAGE_MS = 20_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

describe.skipIf(unavailable !== null)('a runner on the MySQL store while the broker is stopped for 20 s', () => {
  let db: TestStore | undefined;
  const topics: string[] = [];
  const relays: OutboxRelay[] = [];
  afterAll(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    await db?.drop();
    await deleteTopics(topics);
  });

  it('delivers every event of 100 instances, each instance in order, none lost', async (ctx) => {
    if (!(await brokerIsManaged())) {
      const reason = `the broker at ${BROKERS.join(',')} was not started by scripts/kafka.sh, so this test cannot stop it`;
      if (process.env['FSM_REQUIRE_SERVICES'] === '1') throw new Error(reason);
      console.warn(`skipping: ${reason}`);
      ctx.skip();
    }
    const { validateEvent } = await generatedArtefacts();
    db = await testStore([parcels.model]);
    const topic = uniqueTopic('outage');
    topics.push(topic);
    await createTopics([topic], 4);
    const runner = createRunner(parcels, { store: db.store, topic });
    const errors: unknown[] = [];
    // Two relays share the outbox, as two service replicas would.
    for (let r = 0; r < 2; r++) {
      const relay = new OutboxRelay({
        outbox: db.outbox,
        brokers: BROKERS,
        batchSize: 25,
        pollIntervalMs: 50,
        retry: { retries: 2 },
        backoff: { initialMs: 200, maxMs: 1000 },
        onError: (e) => errors.push(e),
      });
      relays.push(relay);
      relay.start();
    }
    const rows = () => db!.rows();
    const unsent = async () => (await rows()).filter((r) => r.sentAt === null).length;
    const scenarios = new Map<string, Scenario>();
    const ids: string[] = [];
    const started = async (from: number, to: number, spacingMs: number) => {
      for (let i = from; i < to; i++) {
        const scenario = scenarioOf(i);
        const id = await begin(runner, i, scenario);
        scenarios.set(id, scenario);
        ids[i] = id;
        await sleep(spacingMs);
      }
    };
    const finished = async (from: number, to: number, spacingMs: number) => {
      for (let i = from; i < to; i++) {
        await until(async () => ids[i] !== undefined, 30_000, `instance ${i} to start`);
        await finish(runner, ids[i]!, scenarioOf(i));
        await sleep(spacingMs);
      }
    };

    // Broker up: the first instances start and their events go out.
    await started(0, 10, 20);
    await until(async () => (await unsent()) === 0, 20_000, 'the events before the outage to be sent');
    const sentBefore = (await rows()).length;

    await broker('stop');
    const stoppedAt = Date.now();
    let committedWhileDown = 0;
    try {
      // Broker down: the other 90 start, and 80 of the 100 finish, while the relays fail.
      await Promise.all([started(10, INSTANCES, 100), finished(0, 80, 120)]);
      const downFor = Date.now() - stoppedAt;
      if (downFor < OUTAGE_MS) await sleep(OUTAGE_MS - downFor);
      committedWhileDown = (await rows()).length - sentBefore;
      expect(await unsent()).toBe(committedWhileDown);
    } finally {
      await broker('start');
    }
    const outageMs = Date.now() - stoppedAt;
    // Broker back: the last 20 finish; events keep flowing behind the backlog.
    await finished(80, INSTANCES, 10);
    await until(async () => (await unsent()) === 0, 60_000, 'every event to be sent after the broker came back');

    expect(outageMs).toBeGreaterThanOrEqual(OUTAGE_MS);
    expect(committedWhileDown).toBeGreaterThan(300);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => isFsmError(e, 'FSM_EVENTS'))).toBe(true);

    const outbox = await rows();
    const expectedCount = [...scenarios.values()].reduce((n, s) => n + EXPECTED_TYPES[s].length, 0);
    expect(outbox).toHaveLength(expectedCount);
    const consumed = await readAll(topic);
    // What a consumer that drops duplicates by event id keeps: every event, once.
    const firsts = new Map<string, Consumed>();
    for (const m of consumed) if (!firsts.has(m.eventId)) firsts.set(m.eventId, m);
    expect(new Set(firsts.keys())).toEqual(new Set(outbox.map((r) => r.eventId)));
    const duplicates = consumed.length - firsts.size;
    console.info(
      `outage: ${outageMs} ms, ${committedWhileDown} events committed while the broker was down, ` +
        `${consumed.length} messages read for ${expectedCount} events (${duplicates} duplicate(s)), ${errors.length} relay failure(s)`,
    );

    const perInstance = new Map<string, FsmEvent[]>();
    for (const m of firsts.values()) {
      let list = perInstance.get(m.key);
      if (!list) perInstance.set(m.key, (list = []));
      list.push(m.value as FsmEvent);
    }
    expect(perInstance.size).toBe(INSTANCES);
    for (const [id, scenario] of scenarios) {
      const events = perInstance.get(id)!;
      expect(events.map((e) => e.sequence), `order of instance ${id}`).toEqual(events.map((_, i) => i + 1));
      expect(events.map((e) => e.type)).toEqual(EXPECTED_TYPES[scenario]);
      for (const e of events) expect(validateEvent(e), JSON.stringify(validateEvent.errors)).toBe(true);
      expectEventsMatchHistory(events, await runner.history(id));
    }
  }, 150_000);
});
