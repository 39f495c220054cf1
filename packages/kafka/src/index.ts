export type { EventSink } from '@fsmkit/runtime';
export type { Outbox, OutboxRow, OutboxId, RejectOptions, RejectOutcome, DeadLetter, DeadLetterFilter } from './outbox.js';
export { MemoryOutbox, type MemoryOutboxOptions, type PendingRow } from './memory-outbox.js';
export { KafkaSink, type KafkaSinkOptions } from './kafka-sink.js';
export { OutboxRelay, type OutboxRelayOptions } from './outbox-relay.js';
export { KafkaPublisher, defaultBrokers, type BatchPublisher, type KafkaOptions } from './publisher.js';
export { EVENT_HEADERS, eventHeaders } from '@fsmkit/runtime';
export { orderBatch } from './batch-order.js';
export {
  MessageConsumer,
  MESSAGE_HEADERS,
  defaultMapping,
  isPassing,
  type ConsumedRecord,
  type InboundMessage,
  type MessageConsumerOptions,
  type MessageConsumerStats,
} from './message-consumer.js';
