import { noopLogger, type Logger } from '@fsmkit/runtime';
import { Kafka, Partitioners, logLevel, type Admin, type LogEntry, type Producer, type RetryOptions, type TopicMessages } from 'kafkajs';
import { eventsError, missingTopicError, type PublishScope } from './events-error.js';

/** Sends ordered batches of messages. The Kafka sink and the outbox relay publish through one. */
export interface BatchPublisher {
  /** Resolves once every message is acknowledged; rejects with FsmError `FSM_EVENTS` otherwise. */
  publish(batch: TopicMessages[]): Promise<void>;
  close(): Promise<void>;
}

export interface KafkaOptions {
  /** `host:port` list. Default: `KAFKA_BROKERS` (comma-separated), else 127.0.0.1:9092. */
  brokers?: string[];
  clientId?: string;
  /** An existing kafkajs client to publish with; `brokers` then only names the brokers in errors. */
  kafka?: Kafka;
  /** When false, publishing to a topic that does not exist fails at once with FSM_EVENTS. Default true. */
  allowAutoTopicCreation?: boolean;
  /** Default 3000. */
  connectionTimeoutMs?: number;
  /** Default 30 000. */
  requestTimeoutMs?: number;
  /** kafkajs retry policy of one publish, at least 1 retry (idempotence needs it). Default 5 retries (about 10 s against a broker that is down). */
  retry?: RetryOptions;
  /** Receives kafkajs warnings and errors. Default: silent. */
  logger?: Logger;
}

export function defaultBrokers(): string[] {
  const env = process.env['KAFKA_BROKERS'];
  const list = env ? env.split(',').map((b) => b.trim()).filter((b) => b.length > 0) : [];
  return list.length > 0 ? list : ['127.0.0.1:9092'];
}

/**
 * Publishes with an idempotent kafkajs producer (acks from all replicas, one request in
 * flight per broker, so retries neither duplicate nor reorder within a publish).
 */
export class KafkaPublisher implements BatchPublisher {
  readonly brokers: readonly string[];
  private readonly kafka: Kafka;
  private readonly autoCreate: boolean;
  private readonly retry: RetryOptions;
  private producer: Promise<Producer> | null = null;
  private admin: Promise<Admin> | null = null;
  private readonly knownTopics = new Set<string>();

  constructor(options: KafkaOptions = {}) {
    this.brokers = options.brokers ?? defaultBrokers();
    this.autoCreate = options.allowAutoTopicCreation ?? true;
    this.retry = options.retry ?? { retries: 5 };
    if (this.retry.retries !== undefined && this.retry.retries < 1) {
      // kafkajs refuses it only at the first publish, with a message that hides the cause.
      throw new RangeError(`retry.retries must be at least 1, got ${this.retry.retries}: the idempotent producer needs retries to keep order`);
    }
    this.kafka =
      options.kafka ??
      new Kafka({
        clientId: options.clientId ?? 'fsmkit',
        brokers: [...this.brokers],
        connectionTimeout: options.connectionTimeoutMs ?? 3000,
        requestTimeout: options.requestTimeoutMs ?? 30_000,
        retry: this.retry,
        ...kafkaLogging(options.logger),
      });
  }

  async publish(batch: TopicMessages[]): Promise<void> {
    const count = batch.reduce((n, t) => n + t.messages.length, 0);
    if (count === 0) return;
    const scope: PublishScope = { brokers: this.brokers, topics: batch.map((t) => t.topic), count };
    if (!this.autoCreate) await this.checkTopics(scope);
    const producing = this.connect();
    try {
      await (await producing).sendBatch({ topicMessages: batch, acks: -1 });
    } catch (error) {
      // A publish that failed may or may not have landed: a fresh producer (new producer id)
      // next time, so a resend of different rows is never taken for a duplicate and dropped.
      // Only the producer this publish used: a concurrent one may already have replaced it.
      if (this.producer === producing) await this.reset();
      throw eventsError(scope, error);
    }
  }

  async close(): Promise<void> {
    await this.reset();
    const admin = this.admin;
    this.admin = null;
    if (admin) await admin.then((a) => a.disconnect()).catch(() => undefined);
  }

  private connect(): Promise<Producer> {
    if (!this.producer) {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: this.autoCreate,
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: this.retry,
      });
      this.producer = producer.connect().then(() => producer);
    }
    return this.producer;
  }

  private async reset(): Promise<void> {
    const producer = this.producer;
    this.producer = null;
    if (producer) await producer.then((p) => p.disconnect()).catch(() => undefined);
  }

  /** With auto-creation off, kafkajs retries an unknown topic for seconds: ask the broker once instead. */
  private async checkTopics(scope: PublishScope): Promise<void> {
    const unknown = scope.topics.filter((t) => !this.knownTopics.has(t));
    if (unknown.length === 0) return;
    let topics: string[];
    try {
      this.admin ??= (async () => {
        const admin = this.kafka.admin({ retry: this.retry });
        await admin.connect();
        return admin;
      })();
      topics = await (await this.admin).listTopics();
    } catch (error) {
      const admin = this.admin;
      this.admin = null;
      if (admin) await admin.then((a) => a.disconnect()).catch(() => undefined);
      throw eventsError(scope, error);
    }
    for (const t of topics) this.knownTopics.add(t);
    const missing = unknown.filter((t) => !this.knownTopics.has(t));
    if (missing.length > 0) throw missingTopicError(scope, missing);
  }
}

/** Routes kafkajs's own log lines to the caller's logger; silent by default. */
export function kafkaLogging(logger: Logger | undefined): { logLevel: logLevel; logCreator?: () => (entry: LogEntry) => void } {
  if (!logger || logger === noopLogger) return { logLevel: logLevel.NOTHING };
  return {
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      const { message, ...fields } = entry.log;
      // Retries are bounded on purpose; a failed publish resets the producer instead.
      if (message.startsWith('Limiting retries for the idempotent producer')) return;
      const text = `kafkajs ${entry.namespace}: ${message}`;
      if (entry.level === logLevel.ERROR) logger.error(text, fields);
      else logger.warn(text, fields);
    },
  };
}
