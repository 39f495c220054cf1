import type { FsmEvent } from './records.js';

/** Receives committed events. The Kafka sink and the in-memory sink implement it. */
export interface EventSink {
  publish(events: FsmEvent[]): Promise<void>;
}

/** Keeps events in memory, in publish order: for tests and for services without a broker. */
export class MemorySink implements EventSink {
  readonly events: FsmEvent[] = [];

  async publish(events: FsmEvent[]): Promise<void> {
    this.events.push(...events);
  }

  of(instanceId: string): FsmEvent[] {
    return this.events.filter((e) => e.instanceId === instanceId);
  }
}
