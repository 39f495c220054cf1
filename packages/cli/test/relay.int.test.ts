import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { MysqlStore } from '@fsmkit/mysql';
import { createRunner, defineMachine, type FsmEvent } from '@fsmkit/runtime';
import { Kafka, logLevel } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { unavailable } from '../../../test/support/services.js';

const MYSQL_URL = process.env['FSM_MYSQL_URL'] || 'mysql://root@127.0.0.1:3306/test';
const BROKERS = (process.env['KAFKA_BROKERS'] || '127.0.0.1:9092').split(',').map((b) => b.trim());
const fsm = fileURLToPath(new URL('../bin/fsm.mjs', import.meta.url));
const kafka = new Kafka({ clientId: 'fsmkit-cli-test', brokers: BROKERS, logLevel: logLevel.NOTHING, retry: { retries: 3 } });

/** Null when both services answer; otherwise the reason (see test/support/services.ts). */
async function servicesUnavailable(): Promise<string | null> {
  const suite = 'fsm relay integration tests';
  const db = await unavailable(`MariaDB at ${MYSQL_URL}`, suite, async () => {
    const store = new MysqlStore({ url: MYSQL_URL, poolSize: 1, connectTimeoutMs: 3000 });
    try {
      await store.pool.query('SELECT 1');
    } finally {
      await store.close();
    }
  });
  return (
    db ??
    unavailable(`Kafka at ${BROKERS.join(',')} (start one with scripts/kafka.sh up)`, suite, async () => {
      const admin = new Kafka({ clientId: 'fsmkit-cli-probe', brokers: BROKERS, logLevel: logLevel.NOTHING, connectionTimeout: 2000, retry: { retries: 1 } }).admin();
      try {
        await admin.connect();
        await admin.listTopics();
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    })
  );
}

const missing = await servicesUnavailable();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

interface Run {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `fsm relay ...` as a user runs it, in its own process. */
function fsmRelay(args: string[]): Run {
  const child = spawn(process.execPath, [fsm, 'relay', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const run: Run = {
    child,
    stdout: '',
    stderr: '',
    exit: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
  };
  child.stdout!.on('data', (chunk: Buffer) => (run.stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (run.stderr += chunk.toString()));
  return run;
}

/** Every message on `topic` now, read from the beginning by a fresh consumer group. */
async function readTopic(topic: string, expected: number): Promise<Array<{ key: string; event: FsmEvent }>> {
  const out: Array<{ key: string; event: FsmEvent }> = [];
  // A short fetch wait: disconnecting waits for the fetch in flight.
  const consumer = kafka.consumer({ groupId: `fsmkit-cli-test-${randomBytes(4).toString('hex')}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        out.push({ key: String(message.key), event: JSON.parse(String(message.value)) as FsmEvent });
      },
    });
    await until(() => out.length >= expected, 30_000, `${expected} messages on ${topic}`);
    // Anything beyond the expected count (a duplicate) would arrive with them.
    await sleep(300);
  } finally {
    await consumer.disconnect();
  }
  return out;
}

async function select(store: MysqlStore, sql: string, params: unknown[] = []): Promise<Array<Record<string, unknown>>> {
  const [rows] = await store.pool.query(sql, params);
  return rows as Array<Record<string, unknown>>;
}

const ticket = defineMachine<{ n: number; log: string[] }>({
  name: 'ticket',
  topic: 'support.tickets',
  steps: { triage: { order: 1 }, answer: { order: 2 } },
  methods: {
    triage: (ctx) => void ctx.data.log.push('triaged'),
    answer: (ctx) => void ctx.data.log.push('answered'),
  },
});
/** created, triage, answer, done. */
const EVENTS_PER_TICKET = 4;

describe.skipIf(missing !== null)('fsm relay', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup() {
    const prefix = `t${randomBytes(4).toString('hex')}_`;
    const topic = `fsmkit-test-cli-relay-${randomBytes(4).toString('hex')}`;
    const store = new MysqlStore({ url: MYSQL_URL, tablePrefix: prefix, poolSize: 4 });
    cleanups.push(async () => {
      const rows = await select(
        store,
        'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND LEFT(TABLE_NAME, ?) = ?',
        [prefix.length, prefix],
      );
      if (rows.length > 0) await store.pool.query(`DROP TABLE ${rows.map((r) => `\`${r['name'] as string}\``).join(', ')}`);
      await store.close();
    });
    await store.ensureSchema([ticket.model]);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    await admin.disconnect();
    cleanups.push(async () => {
      const cleaner = kafka.admin();
      await cleaner.connect();
      await cleaner.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await cleaner.disconnect();
    });
    const runner = createRunner(ticket, { store, topic });
    const unsent = async () => {
      const rows = await select(store, `SELECT COUNT(*) AS n FROM \`${prefix}outbox\` WHERE sent_at IS NULL`);
      return Number(rows[0]!['n']);
    };
    return { prefix, topic, runner, unsent };
  }

  it('publishes what is committed while it runs, and on SIGTERM drains the rest and exits 0', async () => {
    const { prefix, topic, runner, unsent } = await setup();
    const tickets = async (count: number) => Promise.all(Array.from({ length: count }, (_, n) => runner.start({ n, log: [] })));
    const before = await tickets(5);

    const relay = fsmRelay(['--url', MYSQL_URL, '--table-prefix', prefix, '--brokers', BROKERS.join(','), '--batch', '7']);
    cleanups.push(async () => void relay.child.kill('SIGKILL'));
    await until(() => relay.stdout.includes('fsm relay: publishing'), 20_000, `the relay to start (stderr: ${relay.stderr})`);
    expect(relay.stdout).toContain(`publishing ${prefix}outbox at ${MYSQL_URL} to ${BROKERS.join(',')} (batch 7)`);
    await until(async () => (await unsent()) === 0, 20_000, 'the relay to send the first events');

    const during = await tickets(5);
    await until(async () => (await unsent()) === 0, 20_000, 'the relay to send events committed while it runs');
    // Committed right before the signal: the drain on the way out sends them.
    const last = await tickets(5);
    relay.child.kill('SIGTERM');
    expect(await relay.exit).toEqual({ code: 0, signal: null });
    expect(await unsent()).toBe(0);
    expect(relay.stdout).toContain('SIGTERM: publishing what is pending, then stopping');
    expect(relay.stdout).toContain(`stopped; ${15 * EVENTS_PER_TICKET} event(s) published`);
    expect(relay.stderr).toBe('');

    const consumed = await readTopic(topic, 15 * EVENTS_PER_TICKET);
    expect(consumed).toHaveLength(15 * EVENTS_PER_TICKET);
    for (const instance of [...before, ...during, ...last]) {
      const events = consumed.filter((m) => m.key === instance.id).map((m) => m.event);
      expect(events.map((e) => [e.sequence, e.type])).toEqual([
        [1, 'instance.created'],
        [2, 'step.completed'],
        [3, 'step.completed'],
        [4, 'instance.done'],
      ]);
    }
  });

  it('exits 1 at once, naming the table, when the outbox table does not exist', async () => {
    const relay = fsmRelay(['--url', MYSQL_URL, '--table-prefix', `t${randomBytes(4).toString('hex')}_`, '--brokers', BROKERS.join(',')]);
    cleanups.push(async () => void relay.child.kill('SIGKILL'));
    expect(await relay.exit).toEqual({ code: 1, signal: null });
    expect(relay.stderr).toMatch(/cannot read the outbox table t[0-9a-f]{8}_outbox at mysql:\/\/.*doesn't exist/);
    expect(relay.stderr).toContain('check --url and --table-prefix');
  });
});
