import { randomUUID } from 'node:crypto';
import { MysqlOutbox } from '@fsmkit/mysql';
import mysql from 'mysql2/promise';
import { afterEach, describe, expect, it, onTestFinished as onTeardown } from 'vitest';
import { OutboxRelay, type Outbox, type OutboxRelayOptions } from '../src/index.js';
import { event, interleaved, perInstanceSequences, range } from './support/events.js';
import { BROKERS, createTopics, deleteTopics, kafkaUnavailable, readAll, uniqueTopic } from './support/kafka.js';
import { MYSQL_URL, mysqlUnavailable, testOutbox, type TestOutbox } from './support/mysql.js';

const unavailable = (await kafkaUnavailable()) ?? (await mysqlUnavailable());
const failure = { name: 'Error', message: 'broker away' };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe.skipIf(unavailable !== null)('OutboxRelay over the MySQL outbox and a real broker', () => {
  let db: TestOutbox | undefined;
  const topics: string[] = [];
  const relays: OutboxRelay[] = [];
  const newTopic = async (label: string, partitions: number) => {
    const t = uniqueTopic(label);
    topics.push(t);
    await createTopics([t], partitions);
    return t;
  };
  const relay = (outbox: Outbox, options: Partial<OutboxRelayOptions> = {}) => {
    const r = new OutboxRelay({ outbox, brokers: BROKERS, ...options });
    relays.push(r);
    return r;
  };
  const unsent = async () => (await db!.rows()).filter((r) => r.sentAt === null).length;

  afterEach(async () => {
    await Promise.all(relays.splice(0).map((r) => r.stop()));
    await db?.drop();
    db = undefined;
    await deleteTopics(topics.splice(0));
  });

  // createPool's pools send a claim's statements together; a pool of the caller's may not allow it.
  it.each([
    ['a pool that sends several statements per query', false],
    ['a pool of one statement per query', true],
  ])('claims only the start of each instance backlog, so no relay can overtake another (%s)', async (_, single) => {
    db = await testOutbox();
    const plain = single ? mysql.createPool({ uri: MYSQL_URL, connectionLimit: 2, timezone: 'Z' }) : null;
    onTeardown(async () => plain?.end());
    const outbox = plain ? new MysqlOutbox(plain, { tablePrefix: db.table.slice(0, -'outbox'.length) }) : db.outbox;
    const [a, b] = [randomUUID(), randomUUID()];
    const pairs = (rows: Array<{ instanceId: string; sequence: number }>) =>
      rows.map((r) => `${r.instanceId === a ? 'a' : 'b'}${r.sequence}`);
    await outbox.enqueue([event(a, 1), event(b, 1)]);
    const first = await outbox.claim('r1', 1, 60_000);
    expect(pairs(first)).toEqual(['a1']);
    await outbox.enqueue([event(a, 2), event(b, 2)]);
    expect(pairs(await outbox.claim('r2', 10, 60_000))).toEqual(['b1', 'b2']);
    expect(await outbox.claim('r3', 10, 60_000)).toEqual([]);
    // Releasing a:1 makes a's whole backlog claimable, in order.
    await outbox.markFailed('r1', first.map((r) => r.id), failure);
    const again = await outbox.claim('r3', 10, 60_000);
    expect(pairs(again)).toEqual(['a1', 'a2']);
    // A stale owner cannot release what another relay now holds.
    await outbox.markFailed('r1', again.map((r) => r.id), failure);
    expect(await outbox.claim('r4', 10, 60_000)).toEqual([]);
    await outbox.markSent('r3', again.map((r) => r.id));
    const rows = await db.rows();
    expect(rows.filter((r) => r.instanceId === a).map((r) => [r.sentAt !== null, r.attempts])).toEqual([
      [true, 2],
      [true, 1],
    ]);
  });

  it("never hands out a row while the claiming relay's own earlier claim holds one of its instance", async () => {
    db = await testOutbox();
    const [a, b] = [randomUUID(), randomUUID()];
    await db.outbox.enqueue([event(a, 1)]);
    await db.outbox.claim('r1', 10, 60_000);
    await db.outbox.enqueue([event(a, 2), event(b, 1)]);
    expect((await db.outbox.claim('r1', 10, 60_000)).map((r) => [r.instanceId === a ? 'a' : 'b', r.sequence])).toEqual([['b', 1]]);
  });

  it('hands out rows again once their lease expired', async () => {
    db = await testOutbox();
    const a = randomUUID();
    await db.outbox.enqueue([event(a, 1), event(a, 2)]);
    expect(await db.outbox.claim('r1', 10, 200)).toHaveLength(2);
    expect(await db.outbox.claim('r2', 10, 200)).toEqual([]);
    await sleep(300);
    expect((await db.outbox.claim('r2', 10, 200)).map((r) => r.sequence)).toEqual([1, 2]);
  });

  it('delivers every row, in order per instance, and marks them sent', async () => {
    db = await testOutbox();
    const topic = await newTopic('relay', 3);
    const instances = range(20).map(() => randomUUID());
    const events = interleaved(instances, 10, topic);
    await db.outbox.enqueue(events);
    const r = relay(db.outbox, { batchSize: 64 });
    expect(await r.drainOnce()).toBe(200);
    expect(await unsent()).toBe(0);
    expect(new Set((await db.rows()).map((row) => row.claimedBy))).toEqual(new Set([r.owner]));
    const consumed = await readAll(topic);
    expect(consumed).toHaveLength(200);
    expect(new Set(consumed.map((m) => m.eventId))).toEqual(new Set(events.map((e) => e.eventId)));
    for (const m of consumed) {
      expect(m.key).toBe(m.instanceId);
      expect(m.headers['fsm-event-id']).toBe(m.eventId);
    }
    for (const [, seqs] of perInstanceSequences(consumed)) expect(seqs).toEqual(range(10));
  });

  it('two relays at once deliver each event exactly once, in order per instance', async () => {
    db = await testOutbox();
    const topic = await newTopic('two-relays', 2);
    const instances = range(20).map(() => randomUUID());
    const [r1, r2] = [relay(db.outbox, { batchSize: 5, pollIntervalMs: 10 }), relay(db.outbox, { batchSize: 5, pollIntervalMs: 10 })];
    r1.start();
    r2.start();
    for (let seq = 1; seq <= 10; seq++) {
      await db.outbox.enqueue(instances.map((id) => event(id, seq, topic)));
      await sleep(30);
    }
    await until(async () => (await unsent()) === 0, 60_000, 'every row sent');
    const senders = new Set((await db.rows()).map((row) => row.claimedBy));
    expect(senders).toEqual(new Set([r1.owner, r2.owner]));
    const consumed = await readAll(topic);
    expect(consumed).toHaveLength(200);
    expect(new Set(consumed.map((m) => m.eventId)).size).toBe(200);
    for (const [, seqs] of perInstanceSequences(consumed)) expect(seqs).toEqual(range(10));
  });

  it('fails with FSM_EVENTS against an unreachable broker and leaves every row unsent', async () => {
    db = await testOutbox();
    await db.outbox.enqueue([event(randomUUID(), 1, 'fsmkit-test-nowhere')]);
    const r = relay(db.outbox, { brokers: ['127.0.0.1:1'], retry: { retries: 1 } });
    await expect(r.drainOnce()).rejects.toMatchObject({ code: 'FSM_EVENTS', context: { brokers: ['127.0.0.1:1'] } });
    const [row] = await db.rows();
    expect(row).toMatchObject({ sentAt: null, claimedBy: null, attempts: 1 });
  });
});
