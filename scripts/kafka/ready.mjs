// Exits 0 when the broker at argv[2] (host:port) answers a metadata request, 1 otherwise.
// Used by scripts/kafka.sh: a TCP connect alone is not enough, the broker accepts
// connections a while before it can serve metadata.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const broker = process.argv[2] ?? '127.0.0.1:9092';
const require = createRequire(fileURLToPath(new URL('../../packages/kafka/package.json', import.meta.url)));

let Kafka, logLevel;
try {
  ({ Kafka, logLevel } = require('kafkajs'));
} catch {
  console.error('kafkajs is not installed: run `pnpm install` in the repository first');
  process.exit(2);
}

const kafka = new Kafka({
  clientId: 'fsmkit-kafka-ready',
  brokers: [broker],
  logLevel: logLevel.NOTHING,
  connectionTimeout: 1000,
  requestTimeout: 2000,
  retry: { retries: 0 },
});
const admin = kafka.admin();
try {
  await admin.connect();
  await admin.listTopics();
  process.exitCode = 0;
} catch {
  process.exitCode = 1;
} finally {
  await admin.disconnect().catch(() => undefined);
}
