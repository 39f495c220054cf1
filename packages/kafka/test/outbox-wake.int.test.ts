import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRunner } from '@fsmkit/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { OutboxRelay } from '../src/index.js';
import { countingClaims } from './support/counting-outbox.js';
import { event, perInstanceSequences, range } from './support/events.js';
import { BROKERS, createTopics, deleteTopics, kafkaUnavailable, readAll, uniqueTopic } from './support/kafka.js';
import { MYSQL_URL, mysqlUnavailable, testOutbox, testStore, type TestOutbox, type TestStore } from './support/mysql.js';
import { begin, EXPECTED_TYPES, finish, parcels } from './support/parcels.js';
import { until } from './support/until.js';

const unavailable = (await kafkaUnavailable()) ?? (await mysqlUnavailable());
const here = dirname(fileURLToPath(import.meta.url));
const tsx = import.meta.resolve('tsx');
/** Far longer than any test: a relay that waited for its poll would time the test out. */
const NEVER_MS = 3_600_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(unavailable !== null)('relays woken by the commits of their process, against a real broker', () => {
  let db: TestOutbox | TestStore | undefined;
  const topics: string[] = [];
  const relays: OutboxRelay[] = [];
  const children = new Set<ChildProcess>();
  const newTopic = async (label: string, partitions: number) => {
    const t = uniqueTopic(label);
    topics.push(t);
    await createTopics([t], partitions);
    return t;
  };
  const unsent = async () => (await db!.rows()).filter((r) => r.sentAt === null).length;

  afterEach(async () => {
    for (const child of children) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    children.clear();
    await Promise.all(relays.splice(0).map((r) => r.stop()));
    await db?.drop();
    db = undefined;
    await deleteTopics(topics.splice(0));
  });

  it("a store's commits reach the broker without waiting for the relay's poll", async () => {
    const store = await testStore([parcels.model]);
    db = store;
    const topic = await newTopic('wake', 1);
    const runner = createRunner(parcels, { store: store.store, topic });
    const watched = countingClaims(db.outbox);
    const relay = new OutboxRelay({ outbox: watched.outbox, brokers: BROKERS, pollIntervalMs: NEVER_MS });
    relays.push(relay);
    relay.start();
    // Its first claim found nothing: from here on only a wake-up makes it claim before an hour.
    await until(() => watched.claims() >= 1, 30_000, 'the first claim');

    const id = await begin(runner, 0, 'delivered');
    await until(async () => (await db!.rows()).length > 0 && (await unsent()) === 0, 60_000, 'the first commits to be sent');
    await finish(runner, id, 'delivered');
    await until(async () => (await unsent()) === 0, 60_000, 'the later commits to be sent');

    const consumed = await readAll(topic);
    expect(consumed.map((m) => m.sequence)).toEqual(range(EXPECTED_TYPES.delivered.length));
    expect(consumed.map((m) => (m.value as { type: string }).type)).toEqual(EXPECTED_TYPES.delivered);
  });

  it('an enqueue outside a transaction wakes the relay too', async () => {
    db = await testOutbox();
    const topic = await newTopic('wake-enqueue', 1);
    const watched = countingClaims(db.outbox);
    const relay = new OutboxRelay({ outbox: watched.outbox, brokers: BROKERS, pollIntervalMs: NEVER_MS });
    relays.push(relay);
    relay.start();
    await until(() => watched.claims() >= 1, 30_000, 'the first claim');
    const instance = randomUUID();
    await db.outbox.enqueue([event(instance, 1, topic)]);
    await until(async () => (await unsent()) === 0, 60_000, 'the enqueued row to be sent');
    expect((await readAll(topic)).map((m) => m.sequence)).toEqual([1]);
  });

  it('relays in two other processes, polling, and one here, woken by its commits, deliver each event once, in order per instance', async () => {
    db = await testOutbox();
    const topic = await newTopic('processes', 3);
    const tablePrefix = db.table.slice(0, -'outbox'.length);
    const owners: string[] = [];
    for (let i = 0; i < 2; i++) {
      const config = { brokers: BROKERS, mysqlUrl: MYSQL_URL, tablePrefix, batchSize: 5, pollIntervalMs: 10 };
      const child = spawn(process.execPath, ['--conditions=source', '--import', tsx, join(here, 'processes', 'relay.ts'), JSON.stringify(config)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.add(child);
      createInterface({ input: child.stdout! }).on('line', (line) => owners.push((JSON.parse(line) as { owner: string }).owner));
    }
    await until(() => owners.length === 2, 60_000, 'both relay processes to run');
    const local = new OutboxRelay({ outbox: db.outbox, brokers: BROKERS, batchSize: 5, pollIntervalMs: NEVER_MS });
    relays.push(local);
    local.start();

    const instances = range(20).map(() => randomUUID());
    for (let seq = 1; seq <= 10; seq++) {
      // Each instance's events are committed one at a time, in order, as a runner commits them.
      await Promise.all(instances.map((id) => db!.outbox.enqueue([event(id, seq, topic)])));
      await sleep(20);
    }
    await until(async () => (await unsent()) === 0, 120_000, 'every row sent');
    const senders = new Set((await db.rows()).map((row) => row.claimedBy));
    for (const sender of senders) expect([...owners, local.owner]).toContain(sender);
    expect(senders.size).toBeGreaterThan(1); // the relays really did share the work
    const consumed = await readAll(topic);
    expect(consumed).toHaveLength(200);
    expect(new Set(consumed.map((m) => m.eventId)).size).toBe(200);
    for (const [, seqs] of perInstanceSequences(consumed)) expect(seqs).toEqual(range(10));
  });
});
