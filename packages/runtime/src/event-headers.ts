import type { FsmEvent } from './records.js';

/** Header names every fsmkit event carries, so consumers can route without parsing the value. */
export const EVENT_HEADERS = {
  type: 'fsm-event-type',
  schemaVersion: 'fsm-schema-version',
  machine: 'fsm-machine',
  eventId: 'fsm-event-id',
  /** W3C trace context, when the change was made in a traced span. */
  traceparent: 'traceparent',
} as const;

/** The message headers of an event, as every publisher (sink, outbox relay) sends them. */
export function eventHeaders(event: FsmEvent): Record<string, string> {
  const headers: Record<string, string> = {
    [EVENT_HEADERS.type]: event.type,
    [EVENT_HEADERS.schemaVersion]: String(event.schemaVersion),
    [EVENT_HEADERS.machine]: event.machine,
    [EVENT_HEADERS.eventId]: event.eventId,
  };
  if (event.traceparent !== undefined) headers[EVENT_HEADERS.traceparent] = event.traceparent;
  return headers;
}
