import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FsmError } from '@fsmkit/runtime';
import { Kafka, logLevel } from 'kafkajs';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MessageConsumer, MESSAGE_HEADERS, type ConsumedRecord, type InboundMessage } from '../src/index.js';
import { BROKERS, createTopics, deleteTopics, kafkaUnavailable, uniqueTopic } from './support/kafka.js';
import { MYSQL_URL, mysqlUnavailable } from './support/mysql.js';

const skip = (await kafkaUnavailable()) ?? (await mysqlUnavailable());
const here = dirname(fileURLToPath(import.meta.url));
const tsx = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist', 'loader.mjs')).href;

const kafka = new Kafka({ clientId: 'fsmkit-test-consumer', brokers: BROKERS, logLevel: logLevel.NOTHING });

async function produce(topic: string, records: Array<{ key: string | null; value: string | null; headers?: Record<string, string> }>): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({ topic, messages: records, acks: -1 });
  } finally {
    await producer.disconnect();
  }
}

/** The group's committed offset of partition 0. */
async function committed(groupId: string, topic: string): Promise<string> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return entry!.partitions.find((p) => p.partition === 0)!.offset;
  } finally {
    await admin.disconnect();
  }
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(skip !== null)('MessageConsumer against the broker', () => {
  const topics: string[] = [];
  const consumers: MessageConsumer[] = [];
  const children = new Set<ChildProcess>();
  let pool: mysql.Pool;

  beforeAll(() => {
    pool = mysql.createPool({ uri: MYSQL_URL, connectionLimit: 4 });
  });
  afterEach(async () => {
    for (const c of consumers.splice(0)) await c.stop();
    for (const child of children) child.kill('SIGKILL');
    children.clear();
  });
  afterAll(async () => {
    await deleteTopics(topics);
    await pool.end();
  });

  async function topic(label: string): Promise<string> {
    const name = uniqueTopic(label);
    topics.push(name);
    await createTopics([name]);
    return name;
  }

  it('delivers each record as a message, in order, and commits its offset after the delivery', async () => {
    const t = await topic('consume');
    await produce(t, [
      { key: 'order-1', value: JSON.stringify({ paid: 10 }), headers: { [MESSAGE_HEADERS.message]: 'payment', [MESSAGE_HEADERS.messageId]: 'pay-1' } },
      { key: 'order-2', value: JSON.stringify({ paid: 20 }) },
      { key: 'order-3', value: 'not json' },
      { key: null, value: '{}' },
      { key: 'order-4', value: JSON.stringify({ paid: 40 }), headers: { [MESSAGE_HEADERS.message]: 'payment' } },
    ]);
    const delivered: InboundMessage[] = [];
    const rejected: Array<[ConsumedRecord, unknown]> = [];
    const groupId = `${t}-group`;
    const consumer = new MessageConsumer({
      brokers: BROKERS,
      topics: t,
      groupId,
      fromBeginning: true,
      deliver: async (m) => {
        delivered.push(m);
      },
      onRejected: (record, error) => void rejected.push([record, error]),
    });
    consumers.push(consumer);
    await consumer.start();
    await until(() => delivered.length + rejected.length === 5, 'five records');
    expect(delivered).toEqual([
      { message: 'payment', key: 'order-1', payload: { paid: 10 }, messageId: 'pay-1' },
      { message: t, key: 'order-2', payload: { paid: 20 }, messageId: `${t}/0/1` },
      { message: 'payment', key: 'order-4', payload: { paid: 40 }, messageId: `${t}/0/4` },
    ]);
    expect(rejected.map(([r, e]) => [r.offset, (e as FsmError).code])).toEqual([
      ['2', 'FSM_DESERIALIZE'],
      ['3', 'FSM_INPUT_INVALID'],
    ]);
    await until(async () => (await committed(groupId, t)) === '5', 'the committed offset to pass every record');
    expect(consumer.stats).toMatchObject({ delivered: 3, rejected: 2, skipped: 0 });
  });

  it('retries a delivery that fails for a passing reason, holding the partition, and sets aside one that cannot succeed', async () => {
    const t = await topic('retry');
    await produce(t, ['a', 'b', 'c', 'd'].map((k) => ({ key: k, value: JSON.stringify(k) })));
    const seen: string[] = [];
    let storeDown = 3;
    const consumer = new MessageConsumer({
      brokers: BROKERS,
      topics: t,
      groupId: `${t}-group`,
      fromBeginning: true,
      retryDelayMs: { first: 10, max: 40 },
      deliver: async (m) => {
        seen.push(m.key);
        if (m.key === 'b' && storeDown-- > 0) throw new FsmError('FSM_STORE', 'the database is away');
        if (m.key === 'c') throw new FsmError('FSM_INPUT_INVALID', 'payload refused');
      },
      onRejected: () => undefined,
    });
    consumers.push(consumer);
    await consumer.start();
    await until(() => seen.includes('d'), 'the last record');
    // b was tried until it went through, and nothing after it ran before it did.
    expect(seen).toEqual(['a', 'b', 'b', 'b', 'b', 'c', 'd']);
    expect(consumer.stats).toMatchObject({ delivered: 3, rejected: 1, retried: 3 });
  });

  it('a consumer killed midway loses nothing: the next one reads the uncommitted records again, and ids make them take effect once', async () => {
    const t = await topic('killed');
    const table = `fsm_consumed_${t.slice(-8)}`;
    await pool.query(`CREATE TABLE \`${table}\` (message_id VARCHAR(191) PRIMARY KEY, payload TEXT NOT NULL, deliveries INT NOT NULL)`);
    try {
      const count = 300;
      await produce(t, Array.from({ length: count }, (_, i) => ({ key: `k${i}`, value: JSON.stringify({ i }), headers: { [MESSAGE_HEADERS.messageId]: `m${i}` } })));
      const groupId = `${t}-group`;
      const config = { brokers: BROKERS, topic: t, groupId, mysqlUrl: MYSQL_URL, table };
      const child = spawn(process.execPath, ['--conditions=source', '--import', tsx, join(here, 'processes', 'consumer.ts'), JSON.stringify(config)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.add(child);
      let deliveredByChild = 0;
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line.includes('"delivered"')) deliveredByChild++;
      });
      await until(() => deliveredByChild >= 40, 'the first process to deliver some records');
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      children.delete(child);
      expect(deliveredByChild).toBeLessThan(count);

      const consumer = new MessageConsumer({
        brokers: BROKERS,
        topics: t,
        groupId,
        fromBeginning: true,
        sessionTimeoutMs: 6000,
        deliver: async (m) => {
          await pool.query(`INSERT INTO \`${table}\` (message_id, payload, deliveries) VALUES (?, ?, 1) ON DUPLICATE KEY UPDATE deliveries = deliveries + 1`, [
            m.messageId,
            JSON.stringify(m.payload),
          ]);
        },
      });
      consumers.push(consumer);
      await consumer.start();
      const rows = async () => (await pool.query<RowDataPacket[]>(`SELECT message_id, deliveries FROM \`${table}\``))[0];
      await until(async () => (await rows()).length === count, 'every record', 120_000);
      await until(async () => (await committed(groupId, t)) === String(count), 'the committed offset to reach the end');
      const ids = new Set((await rows()).map((r) => r['message_id'] as string));
      expect(ids).toEqual(new Set(Array.from({ length: count }, (_, i) => `m${i}`)));
      // The first process's committed offset never passed a record it had not delivered: the records read twice are the
      // ones after its last commit, at most those it delivered in its last moments.
      const twice = (await rows()).filter((r) => (r['deliveries'] as number) > 1).length;
      expect(twice).toBeLessThanOrEqual(deliveredByChild);
    } finally {
      await pool.query(`DROP TABLE IF EXISTS \`${table}\``);
    }
  });
});
