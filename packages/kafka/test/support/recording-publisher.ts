import type { TopicMessages } from 'kafkajs';
import type { BatchPublisher } from '../../src/index.js';
import type { Delivered } from './events.js';

/**
 * A BatchPublisher that keeps what it was given, in order, for unit tests of the relay's own
 * logic. It can be told to fail the next publishes or to take a while.
 */
export class RecordingPublisher implements BatchPublisher {
  readonly batches: TopicMessages[][] = [];
  readonly delivered: Delivered[] = [];
  failNext = 0;
  delayMs = 0;
  /** Adds up to this many random milliseconds to each publish, so concurrent relays finish out of step. */
  jitterMs = 0;
  closed = false;
  inFlight = 0;
  maxInFlight = 0;

  async publish(batch: TopicMessages[]): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      const delay = this.delayMs + Math.random() * this.jitterMs;
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      if (this.failNext > 0) {
        this.failNext--;
        throw new Error('broker away');
      }
      this.batches.push(batch);
      for (const t of batch) {
        for (const m of t.messages) {
          const value = JSON.parse(String(m.value)) as { instanceId: string; sequence: number; eventId: string };
          this.delivered.push({ topic: t.topic, key: String(m.key), instanceId: value.instanceId, sequence: value.sequence, eventId: value.eventId });
        }
      }
    } finally {
      this.inFlight--;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
