import type { EventSink, FsmEvent } from '@fsmkit/runtime';
import { byTopic, eventMessage } from './messages.js';
import { KafkaPublisher, type BatchPublisher, type KafkaOptions } from './publisher.js';

export interface KafkaSinkOptions extends KafkaOptions {
  /** Publish through this instead of a kafkajs producer of the sink's own. */
  publisher?: BatchPublisher;
}

/**
 * Publishes events straight to Kafka as they are committed: the best-effort path for a
 * store without an outbox. Key: instance id; value: the event as JSON; headers: type,
 * schema version, machine and event id. One `publish` is one `sendBatch`, in event order.
 * A failure rejects with FsmError `FSM_EVENTS`; the state change it reports stays committed.
 */
export class KafkaSink implements EventSink {
  private readonly publisher: BatchPublisher;

  constructor(options: KafkaSinkOptions = {}) {
    this.publisher = options.publisher ?? new KafkaPublisher(options);
  }

  async publish(events: FsmEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.publisher.publish(byTopic(events.map(eventMessage)));
  }

  async close(): Promise<void> {
    await this.publisher.close();
  }
}
