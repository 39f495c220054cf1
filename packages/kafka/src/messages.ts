import { eventHeaders, type FsmEvent } from '@fsmkit/runtime';
import type { Message, TopicMessages } from 'kafkajs';
import type { OutboxRow } from './outbox.js';

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
