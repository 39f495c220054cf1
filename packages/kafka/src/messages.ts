import type { FsmEvent } from '@fsmkit/runtime';
import type { Message, TopicMessages } from 'kafkajs';
import type { OutboxRow } from './outbox.js';

/** Header names every fsmkit event carries, so consumers can route without parsing the value. */
export const EVENT_HEADERS = {
  type: 'fsm-event-type',
  schemaVersion: 'fsm-schema-version',
  machine: 'fsm-machine',
  eventId: 'fsm-event-id',
} as const;

export function eventHeaders(event: FsmEvent): Record<string, string> {
  return {
    [EVENT_HEADERS.type]: event.type,
    [EVENT_HEADERS.schemaVersion]: String(event.schemaVersion),
    [EVENT_HEADERS.machine]: event.machine,
    [EVENT_HEADERS.eventId]: event.eventId,
  };
}

export interface TopicMessage {
  topic: string;
  message: Message;
}

export function eventMessage(event: FsmEvent): TopicMessage {
  return {
    topic: event.topic,
    message: { key: event.instanceId, value: JSON.stringify(event), headers: eventHeaders(event) },
  };
}

export function rowMessage(row: OutboxRow): TopicMessage {
  return { topic: row.topic, message: { key: row.key, value: row.payload, headers: { ...row.headers } } };
}

/** Groups messages by topic for one `sendBatch`, keeping their relative order within each topic. */
export function byTopic(messages: TopicMessage[]): TopicMessages[] {
  const groups = new Map<string, Message[]>();
  for (const { topic, message } of messages) {
    let list = groups.get(topic);
    if (!list) groups.set(topic, (list = []));
    list.push(message);
  }
  return [...groups].map(([topic, list]) => ({ topic, messages: list }));
}
