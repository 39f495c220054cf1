import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Kafka, logLevel, type IHeaders } from 'kafkajs';
import type { Delivered } from './events.js';
import { unavailable } from '../../../../test/support/services.js';

export const BROKERS = (process.env['KAFKA_BROKERS'] || '127.0.0.1:9092').split(',').map((b) => b.trim());

const kafka = new Kafka({ clientId: 'fsmkit-test', brokers: BROKERS, logLevel: logLevel.NOTHING, retry: { retries: 8 } });
const script = fileURLToPath(new URL('../../../../scripts/kafka.sh', import.meta.url));
const run = promisify(execFile);

/** Null when the broker answers a metadata request; otherwise the reason (see test/support/services.ts). */
export function kafkaUnavailable(): Promise<string | null> {
  return unavailable(`Kafka at ${BROKERS.join(',')} (start one with scripts/kafka.sh up)`, 'Kafka integration tests', probeKafka);
}

/** Connects and lists topics: proof that the broker answers. */
export async function probeKafka(): Promise<void> {
  const probe = new Kafka({ clientId: 'fsmkit-test-probe', brokers: BROKERS, logLevel: logLevel.NOTHING, connectionTimeout: 2000, retry: { retries: 1 } });
  const admin = probe.admin();
  try {
    await admin.connect();
    await admin.listTopics();
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** True when the broker under test was started by scripts/kafka.sh, so a test may stop and start it. */
export async function brokerIsManaged(): Promise<boolean> {
  try {
    await run('bash', [script, 'managed']);
    return true;
  } catch {
    return false;
  }
}

export async function broker(command: 'stop' | 'start'): Promise<void> {
  await run('bash', [script, command], { timeout: 180_000 });
}

export function uniqueTopic(label: string): string {
  return `fsmkit-test-${label}-${randomBytes(4).toString('hex')}`;
}

export async function createTopics(topics: string[], numPartitions = 1): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions })), waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

export async function deleteTopics(topics: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const mine = topics.filter((t) => existing.has(t));
    if (mine.length > 0) await admin.deleteTopics({ topics: mine });
  } finally {
    await admin.disconnect();
  }
}

export async function topicExists(topic: string): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.listTopics()).includes(topic);
  } finally {
    await admin.disconnect();
  }
}

export interface Consumed extends Delivered {
  partition: number;
  offset: string;
  value: unknown;
  headers: Record<string, string>;
}

function headerText(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) out[name] = String(value);
  return out;
}

/**
 * Every message on `topic` now, in partition order: a fresh consumer group reads from the
 * beginning up to the high watermarks taken first, so duplicates show as well as gaps.
 */
export async function readAll(topic: string, timeoutMs = 60_000): Promise<Consumed[]> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const remaining = new Map(offsets.filter((o) => o.high !== o.low).map((o) => [o.partition, BigInt(o.high)]));
  const out: Consumed[] = [];
  if (remaining.size === 0) return out;
  const consumer = kafka.consumer({ groupId: `fsmkit-test-${randomBytes(4).toString('hex')}`, sessionTimeout: 10_000 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${out.length} messages of ${topic}, not all in ${timeoutMs} ms`)), timeoutMs);
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            const value = JSON.parse(String(message.value)) as { instanceId: string; sequence: number; eventId: string };
            out.push({
              topic,
              partition,
              offset: message.offset,
              key: String(message.key),
              instanceId: value.instanceId,
              sequence: value.sequence,
              eventId: value.eventId,
              value,
              headers: headerText(message.headers),
            });
            const high = remaining.get(partition);
            if (high !== undefined && BigInt(message.offset) + 1n >= high) remaining.delete(partition);
            if (remaining.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}
