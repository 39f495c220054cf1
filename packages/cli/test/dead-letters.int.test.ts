import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createPool, MysqlOutbox } from '@fsmkit/mysql';
import type { FsmEvent } from '@fsmkit/runtime';
import { Kafka, logLevel } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT_FAILURE, EXIT_OK, main } from '../src/index.js';
import { unavailable } from '../../../test/support/services.js';
import { recorder } from './support/io.js';

const MYSQL_URL = process.env['FSM_MYSQL_URL'] || 'mysql://root@127.0.0.1:3306/test';
const BROKERS = (process.env['KAFKA_BROKERS'] || '127.0.0.1:9092').split(',').map((b) => b.trim());
const fsm = fileURLToPath(new URL('../bin/fsm.mjs', import.meta.url));
const kafka = new Kafka({ clientId: 'fsmkit-cli-test', brokers: BROKERS, logLevel: logLevel.NOTHING, retry: { retries: 3 } });
const suite = 'fsm dead-letters and relay integration tests';
const missing =
  (await unavailable(`MariaDB at ${MYSQL_URL}`, suite, async () => {
    const pool = createPool({ url: MYSQL_URL, poolSize: 1 });
    try {
      await pool.query('SELECT 1');
    } finally {
      await pool.end();
    }
  })) ??
  (await unavailable(`Kafka at ${BROKERS.join(',')} (start one with scripts/kafka.sh up)`, suite, async () => {
    const admin = new Kafka({ clientId: 'fsmkit-cli-probe', brokers: BROKERS, logLevel: logLevel.NOTHING, connectionTimeout: 2000, retry: { retries: 1 } }).admin();
    try {
      await admin.connect();
      await admin.listTopics();
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

function event(instanceId: string, sequence: number, topic: string): FsmEvent {
  return {
    eventId: randomUUID(), type: sequence === 1 ? 'instance.created' : 'step.completed', schemaVersion: 1, machine: 'ticket', topic,
    instanceId, userId: 'u1', from: `s${sequence - 1}`, to: `s${sequence}`, status: 'running', direction: 'forward',
    step: `s${sequence}`, sequence, time: new Date().toISOString(), data: { n: sequence },
  };
}

interface Run {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function fsmRelay(args: string[]): Run {
  const child = spawn(process.execPath, [fsm, 'relay', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const run: Run = { child, stdout: '', stderr: '', exit: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))) };
  child.stdout!.on('data', (chunk: Buffer) => (run.stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (run.stderr += chunk.toString()));
  return run;
}

/** Every message on `topic`, from the beginning, until `expected` distinct events arrived. */
async function readTopic(topic: string, expected: number): Promise<FsmEvent[]> {
  const out: FsmEvent[] = [];
  const ids = new Set<string>();
  const consumer = kafka.consumer({ groupId: `fsmkit-cli-test-${randomBytes(4).toString('hex')}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const e = JSON.parse(String(message.value)) as FsmEvent;
        out.push(e);
        ids.add(e.eventId);
      },
    });
    await until(() => ids.size >= expected, 60_000, `${expected} events on ${topic}`);
    await sleep(300);
  } finally {
    await consumer.disconnect();
  }
  return out;
}

describe.skipIf(missing !== null)('fsm dead-letters and a relay killed midway', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(topicPartitions: number | null) {
    const prefix = `t${randomBytes(4).toString('hex')}_`;
    const topic = `fsmkit-test-cli-dead-${randomBytes(4).toString('hex')}`;
    const pool = createPool({ url: MYSQL_URL, poolSize: 4 });
    const outbox = new MysqlOutbox(pool, { tablePrefix: prefix });
    cleanups.push(async () => {
      await pool.query(`DROP TABLE IF EXISTS \`${prefix}outbox\`, \`${prefix}outbox_failed\``);
      await pool.end();
    });
    await outbox.ensureOutbox();
    if (topicPartitions !== null) {
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: topicPartitions }], waitForLeaders: true });
      await admin.disconnect();
    }
    cleanups.push(async () => {
      const admin = kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    });
    const unsent = async () => {
      const [rows] = await pool.query(`SELECT COUNT(*) AS n FROM \`${prefix}outbox\` WHERE sent_at IS NULL`);
      return Number((rows as Array<{ n: unknown }>)[0]!.n);
    };
    return { prefix, topic, pool, outbox, unsent };
  }

  it('a relay SIGKILLed midway: the next one sends the rest, every event arrives, in order per instance', async () => {
    const { prefix, topic, pool, outbox, unsent } = await setup(3);
    const instances = Array.from({ length: 100 }, () => randomUUID());
    const total = instances.length * 30;
    for (let seq = 1; seq <= 30; seq++) await outbox.enqueue(instances.map((id) => event(id, seq, topic)));
    const args = ['--url', MYSQL_URL, '--table-prefix', prefix, '--brokers', BROKERS.join(','), '--batch', '10'];

    const first = fsmRelay(args);
    cleanups.push(async () => void first.child.kill('SIGKILL'));
    await until(async () => (await unsent()) < total - 300, 60_000, `the first relay to send some events (stderr: ${first.stderr})`);
    first.child.kill('SIGKILL');
    expect((await first.exit).signal).toBe('SIGKILL');
    const left = await unsent();
    expect(left).toBeGreaterThan(0);
    // The killed relay's claim would run out after its lease; end it now rather than wait a minute.
    await pool.query(`UPDATE \`${prefix}outbox\` SET claimed_until = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND WHERE sent_at IS NULL`);

    const second = fsmRelay(args);
    cleanups.push(async () => void second.child.kill('SIGKILL'));
    await until(async () => (await unsent()) === 0, 60_000, `the second relay to send the rest (stderr: ${second.stderr})`);
    second.child.kill('SIGTERM');
    expect(await second.exit).toEqual({ code: 0, signal: null });

    const consumed = await readTopic(topic, total);
    const firsts = new Map<string, FsmEvent>();
    const order = new Map<string, number[]>();
    for (const e of consumed) {
      const seen = firsts.get(e.eventId);
      if (seen) {
        expect(e).toEqual(seen); // a duplicate is the same event again
        continue;
      }
      firsts.set(e.eventId, e);
      order.set(e.instanceId, [...(order.get(e.instanceId) ?? []), e.sequence]);
    }
    expect(firsts.size).toBe(total);
    const expected = Array.from({ length: 30 }, (_, i) => i + 1);
    for (const id of instances) expect(order.get(id)).toEqual(expected);
  });

  it('a topic the broker refuses: the relay sets the event aside; list shows it, retry puts it back, and its instance follows in order', async () => {
    const { prefix, topic, pool, outbox, unsent } = await setup(null);
    const good = `${topic}-ok`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: good, numPartitions: 1 }], waitForLeaders: true });
    cleanups.push(async () => {
      await admin.deleteTopics({ topics: [good] }).catch(() => undefined);
      await admin.disconnect();
    });
    const stuck = randomUUID();
    const fine = randomUUID();
    await outbox.enqueue([event(stuck, 1, topic), event(fine, 1, good), event(stuck, 2, topic), event(fine, 2, good)]);
    // A topic name the broker refuses, with a terminal escape in it.
    await pool.query(`UPDATE \`${prefix}outbox\` SET topic = ? WHERE instance_id = ?`, [`${topic} \u001b[31m!`, stuck]);
    const relay = fsmRelay(['--url', MYSQL_URL, '--table-prefix', prefix, '--brokers', BROKERS.join(','), '--max-failures', '2']);
    cleanups.push(async () => void relay.child.kill('SIGKILL'));
    await until(() => relay.stderr.includes('set aside as a dead letter'), 60_000, `the dead letter (stderr: ${relay.stderr})`);
    expect(await unsent()).toBe(2);

    const common = ['--url', MYSQL_URL, '--table-prefix', prefix];
    const list = recorder();
    expect(await main(['dead-letters', 'list', ...common], list)).toBe(EXIT_OK);
    expect(list.stdout).toContain(`instance ${stuck} #1 instance.created`);
    expect(list.stdout).toContain('refused 2x, 1 event(s) waiting behind it');
    expect(list.stdout).toMatch(/FSM_EVENTS: .*invalid topic/i);
    expect(list.stdout).toContain('\\u001b[31m'); // the escape is shown, not run
    expect(list.stdout).not.toContain('\u001b');
    const json = recorder();
    expect(await main(['dead-letters', 'list', '--json', ...common], json)).toBe(EXIT_OK);
    expect(JSON.parse(json.stdout)).toMatchObject([{ instanceId: stuck, sequence: 1, failures: 2, waiting: 1 }]);

    // Fixed: the topic name is put right, the event retried, and the instance follows in order.
    await pool.query(`UPDATE \`${prefix}outbox\` SET topic = ? WHERE instance_id = ?`, [good, stuck]);
    const none = recorder();
    expect(await main(['dead-letters', 'retry', '--instance', randomUUID(), ...common], none)).toBe(EXIT_OK);
    expect(none.stdout).toContain('0 dead letter(s) put back in line');
    const retry = recorder();
    expect(await main(['dead-letters', 'retry', '--all', ...common], retry)).toBe(EXIT_OK);
    expect(retry.stdout).toContain('1 dead letter(s) put back in line');
    await until(async () => (await unsent()) === 0, 30_000, 'the retried events to be sent');
    const after = recorder();
    expect(await main(['dead-letters', 'list', ...common], after)).toBe(EXIT_OK);
    expect(after.stdout).toContain(`none in ${prefix}outbox_failed`);
    relay.child.kill('SIGTERM');
    expect((await relay.exit).code).toBe(0);
    const delivered = await readTopic(good, 4);
    expect(delivered.filter((e) => e.instanceId === stuck).map((e) => e.sequence)).toEqual([1, 2]);
  });

  it('exits 1 with the reason when the database cannot be reached', async () => {
    const io = recorder();
    expect(await main(['dead-letters', 'list', '--url', 'mysql://root@127.0.0.1:1/test'], io)).toBe(EXIT_FAILURE);
    expect(io.stderr).toMatch(/^fsm dead-letters: .*ECONNREFUSED|^fsm dead-letters: .*connect/);
  });
});
