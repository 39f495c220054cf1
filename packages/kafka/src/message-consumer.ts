import { FsmError, noopLogger, type Logger } from '@fsmkit/runtime';
import { Kafka, type Consumer, type EachMessagePayload, type KafkaMessage } from 'kafkajs';
import { defaultBrokers, kafkaLogging, type KafkaOptions } from './publisher.js';

/** A consumed record, as a mapping function sees it. */
export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  /** The value as text (UTF-8); null for a tombstone. */
  value: string | null;
  headers: Record<string, string>;
  timestamp: string;
}

/** One message for the runtime, as `runner.deliver` takes it. */
export interface InboundMessage {
  /** The message name a step waits for (`ctx.waitFor(name, ...)`). */
  message: string;
  /** The correlation key. */
  key: string;
  payload: unknown;
  /** Deliveries with the same id take effect once: a record read again after a crash is not delivered twice. */
  messageId: string;
}

/** Header names the default mapping reads. */
export const MESSAGE_HEADERS = {
  /** The message name; without it, the record's topic is the name. */
  message: 'fsm-message',
  /** The message id; without it, `topic/partition/offset`, which is stable across reads of one record. */
  messageId: 'fsm-message-id',
} as const;

export interface MessageConsumerOptions extends Omit<KafkaOptions, 'allowAutoTopicCreation'> {
  /** The topics to read. */
  topics: string | string[];
  /** The consumer group; offsets are committed for it. */
  groupId: string;
  /**
   * Takes one message: resolves once it is durably taken (a waiting instance continued, or the
   * message kept in the inbox). Usually `(m) => runner.deliver(m.message, m.key, m.payload, { messageId: m.messageId })`.
   */
  deliver: (message: InboundMessage) => Promise<unknown>;
  /** From a record to a message; null skips the record. Default: see `defaultMapping`. */
  map?: (record: ConsumedRecord) => InboundMessage | null | Promise<InboundMessage | null>;
  /**
   * A record that can never be delivered (its value is not JSON, the payload is invalid, ...):
   * called, then the record is passed over so that the partition goes on. Default: logged.
   */
  onRejected?: (record: ConsumedRecord, error: unknown) => void | Promise<void>;
  /** Read a new group's topics from their start. Default false (new records only). */
  fromBeginning?: boolean;
  /** Partitions handled at once (records of one partition are always delivered in order). Default 1. */
  partitionsConsumedConcurrently?: number;
  /** How long the group waits for a silent member (a killed process) before giving its partitions to another. Default 30 000 (kafkajs). */
  sessionTimeoutMs?: number;
  /** Backoff between attempts of a delivery that failed for a passing reason (database down, instance busy). Default 200 ms doubling to 10 s. */
  retryDelayMs?: { first: number; max: number };
}

export interface MessageConsumerStats {
  delivered: number;
  skipped: number;
  rejected: number;
  /** Failed attempts that were tried again. */
  retried: number;
}

/** Errors that pass: the delivery is tried again, the record's offset is not committed. */
const PASSING = new Set(['FSM_STORE', 'FSM_INSTANCE_BUSY', 'FSM_STALE_VERSION', 'FSM_LOCK_TIMEOUT', 'FSM_LOCK_BUSY', 'FSM_LOCK_LOST', 'FSM_EVENTS']);

/** A typed fsmkit error other than a passing one will fail again: the record is set aside. Anything else (a lost connection) passes. */
export function isPassing(error: unknown): boolean {
  return !(error instanceof FsmError) || PASSING.has(error.code);
}

/**
 * The default mapping: the name from the `fsm-message` header (else the topic), the key from
 * the record key, the payload the record value parsed as JSON, the id from `fsm-message-id`
 * (else topic/partition/offset). A record without a key cannot be correlated: it is rejected.
 */
export function defaultMapping(record: ConsumedRecord): InboundMessage {
  if (record.key === null || record.key === '') {
    throw new FsmError('FSM_INPUT_INVALID', `record ${recordName(record)} has no key: a message needs its correlation key`, {
      context: { topic: record.topic, partition: record.partition, offset: record.offset },
    });
  }
  let payload: unknown = null;
  if (record.value !== null) {
    try {
      payload = JSON.parse(record.value);
    } catch (cause) {
      throw new FsmError('FSM_DESERIALIZE', `record ${recordName(record)} is not JSON`, {
        cause,
        context: { topic: record.topic, partition: record.partition, offset: record.offset },
      });
    }
  }
  return {
    message: record.headers[MESSAGE_HEADERS.message] ?? record.topic,
    key: record.key,
    payload,
    messageId: record.headers[MESSAGE_HEADERS.messageId] ?? recordName(record),
  };
}

/**
 * Reads topics and delivers each record as a message. A record's offset is committed only
 * after its delivery resolved (or it was set aside as undeliverable), so a consumer killed
 * midway leaves the record to the next one; deliveries are idempotent by message id, so the
 * record read again takes effect once. Records of one partition are delivered in order: a
 * delivery that fails for a passing reason is retried, holding its partition, until it succeeds
 * or the consumer stops.
 */
export class MessageConsumer {
  private readonly kafka: Kafka;
  private readonly logger: Logger;
  private consumer: Consumer | null = null;
  private stopping = false;
  readonly stats: MessageConsumerStats = { delivered: 0, skipped: 0, rejected: 0, retried: 0 };

  constructor(private readonly options: MessageConsumerOptions) {
    if (options.groupId.trim() === '') throw new TypeError('groupId must not be empty');
    const topics = typeof options.topics === 'string' ? [options.topics] : options.topics;
    if (topics.length === 0) throw new TypeError('topics must name at least one topic');
    this.logger = options.logger ?? noopLogger;
    this.kafka =
      options.kafka ??
      new Kafka({
        clientId: options.clientId ?? 'fsmkit-consumer',
        brokers: [...(options.brokers ?? defaultBrokers())],
        connectionTimeout: options.connectionTimeoutMs ?? 3000,
        requestTimeout: options.requestTimeoutMs ?? 30_000,
        ...(options.retry ? { retry: options.retry } : {}),
        ...kafkaLogging(options.logger),
      });
  }

  /** Joins the group and starts delivering; resolves once consuming has begun. */
  async start(): Promise<void> {
    if (this.consumer) throw new Error('the consumer is already started');
    this.stopping = false;
    const consumer = this.kafka.consumer({
      groupId: this.options.groupId,
      ...(this.options.sessionTimeoutMs !== undefined ? { sessionTimeout: this.options.sessionTimeoutMs, heartbeatInterval: Math.max(100, Math.floor(this.options.sessionTimeoutMs / 5)) } : {}),
    });
    this.consumer = consumer;
    await consumer.connect();
    const topics = typeof this.options.topics === 'string' ? [this.options.topics] : this.options.topics;
    await consumer.subscribe({ topics, fromBeginning: this.options.fromBeginning ?? false });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 1,
      eachMessage: (payload) => this.handle(payload),
    });
  }

  /** Stops reading: a delivery under way finishes (and is committed), none starts. */
  async stop(): Promise<void> {
    this.stopping = true;
    const consumer = this.consumer;
    this.consumer = null;
    if (consumer) await consumer.disconnect();
  }

  private async handle({ topic, partition, message, heartbeat }: EachMessagePayload): Promise<void> {
    const record = consumedRecord(topic, partition, message);
    let inbound: InboundMessage | null;
    try {
      inbound = await (this.options.map ?? defaultMapping)(record);
    } catch (error) {
      await this.reject(record, error);
      return this.commit(record);
    }
    if (inbound === null) {
      this.stats.skipped++;
      return this.commit(record);
    }
    let delay = this.options.retryDelayMs?.first ?? 200;
    for (;;) {
      try {
        await this.options.deliver(inbound);
        this.stats.delivered++;
        return this.commit(record);
      } catch (error) {
        if (!isPassing(error)) {
          await this.reject(record, error);
          return this.commit(record);
        }
        // Throwing leaves the offset uncommitted and makes kafkajs read the record again.
        if (this.stopping) throw error;
        this.stats.retried++;
        this.logger.warn('fsmkit consumer: a delivery failed, trying again', { record: recordName(record), delayMs: delay, error: String(error) });
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, this.options.retryDelayMs?.max ?? 10_000);
        // A long outage must not cost the group its member: tell the coordinator we are alive.
        await heartbeat().catch(() => undefined);
      }
    }
  }

  private async reject(record: ConsumedRecord, error: unknown): Promise<void> {
    this.stats.rejected++;
    if (this.options.onRejected) {
      await this.options.onRejected(record, error);
      return;
    }
    this.logger.error('fsmkit consumer: a record cannot be delivered, set aside', { record: recordName(record), error: String(error) });
  }

  private async commit(record: ConsumedRecord): Promise<void> {
    await this.consumer?.commitOffsets([{ topic: record.topic, partition: record.partition, offset: (BigInt(record.offset) + 1n).toString() }]);
  }
}

function consumedRecord(topic: string, partition: number, message: KafkaMessage): ConsumedRecord {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) headers[name] = first.toString();
  }
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key === null ? null : message.key.toString(),
    value: message.value === null ? null : message.value.toString(),
    headers,
    timestamp: message.timestamp,
  };
}

function recordName(record: Pick<ConsumedRecord, 'topic' | 'partition' | 'offset'>): string {
  return `${record.topic}/${record.partition}/${record.offset}`;
}
