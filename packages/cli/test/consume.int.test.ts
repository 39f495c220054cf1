import { randomBytes } from 'node:crypto';
import { createMysqlStore, type MysqlStore } from '@fsmkit/mysql';
import { createRunner } from '@fsmkit/runtime';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { runConsume } from '../src/commands/consume.js';
import { EXIT_USAGE, main } from '../src/index.js';
import { parcelDefinition, type ParcelData } from './fixtures/consume/runners.js';
import { dropTablesWithPrefix, MYSQL_URL, mysqlUnavailable, testPool, uniquePrefix } from './support/mysql.js';
import { recorder } from './support/io.js';
import { unavailable as serviceUnavailable } from '../../../test/support/services.js';

const BROKERS = (process.env['KAFKA_BROKERS'] || '127.0.0.1:9092').split(',');
const kafka = new Kafka({ clientId: 'fsmkit-cli-test', brokers: BROKERS, logLevel: logLevel.NOTHING });
const skip =
  (await mysqlUnavailable()) ??
  (await serviceUnavailable(`Kafka at ${BROKERS.join(',')}`, 'fsm consume tests', async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.disconnect();
  }));
const runners = 'test/fixtures/consume/runners.ts';

async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(skip !== null)('fsm consume', () => {
  const prefixes: string[] = [];
  const topics: string[] = [];
  afterAll(async () => {
    const pool = testPool();
    for (const p of prefixes) await dropTablesWithPrefix(pool, p);
    await pool.end();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.disconnect();
  });

  it('delivers records to the waiting instance, keeps one for a wait that begins later, and stops on a signal', async () => {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const topic = `fsmkit-test-consume-${randomBytes(4).toString('hex')}`;
    topics.push(topic);
    const store: MysqlStore = createMysqlStore({ tablePrefix: prefix, poolSize: 2 });
    await store.ensureSchema([parcelDefinition.model]);
    const runner = createRunner<ParcelData>(parcelDefinition, { store });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic }], waitForLeaders: true });
    await admin.disconnect();
    try {
      const waiting = await runner.start({ parcelId: 'p-1' });
      expect(waiting.status).toBe('waiting');
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({
        topic,
        messages: [
          { key: 'p-1', value: JSON.stringify({ signedBy: 'Ada' }), headers: { 'fsm-message': 'delivered' } },
          { key: 'p-2', value: JSON.stringify({ signedBy: 'Bob' }) },
          { key: null, value: '{}' },
        ],
      });
      await producer.disconnect();

      const io = recorder(new URL('../', import.meta.url).pathname);
      const stop = new AbortController();
      const args = ['--topic', topic, '--group', `${topic}-g`, '--message', 'delivered', '--from-beginning', '--runners', runners, '--url', MYSQL_URL, '--table-prefix', prefix, '--brokers', BROKERS.join(',')];
      const exit = runConsume(args, io, stop.signal);
      await until(async () => (await runner.get(waiting.id)).status === 'done', 60_000, 'the waiting parcel to close');
      expect((await runner.get(waiting.id)).data.proof).toEqual({ signedBy: 'Ada' });
      // p-2 had nobody waiting: its message waits in the inbox, and the wait that begins takes it at once.
      await until(async () => io.stderr.includes('passed over'), 60_000, 'the keyless record to be passed over');
      const later = await runner.start({ parcelId: 'p-2' });
      expect(later.status).toBe('done');
      expect(later.data.proof).toEqual({ signedBy: 'Bob' });
      stop.abort();
      expect(await exit).toBe(0);
      expect(io.stdout).toContain('stopped after 2 deliveries, 1 passed over');
    } finally {
      await store.close();
    }
  });

  it('refuses to start without a topic or a group', async () => {
    const io = recorder();
    expect(await main(['consume', '--group', 'g'], io)).toBe(EXIT_USAGE);
    expect(io.stderr).toContain('--topic <name> is required');
  });
});
