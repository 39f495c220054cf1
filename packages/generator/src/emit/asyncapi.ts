import { jsonDocument } from './json.js';
import { camelCase } from './names.js';
import { eventSchemaFileName, EVENT_TYPES } from './event-schema.js';
import type { EmitMachine, GeneratedFile } from './types.js';

/** Event schemas are JSON Schema 2020-12 (tuples use `prefixItems`): the payload says so. */
const EVENT_SCHEMA_FORMAT = 'application/schema+json;version=draft-2020-12';

/** The Kafka headers every event carries: `EVENT_HEADERS` in @fsmkit/runtime (event-headers.ts); its tests check events against these. */
const EVENT_HEADER_NAMES = {
  type: 'fsm-event-type',
  schemaVersion: 'fsm-schema-version',
  machine: 'fsm-machine',
  eventId: 'fsm-event-id',
} as const;

/**
 * `asyncapi.json`: an AsyncAPI 3.0 document with one channel per machine that has a topic
 * (its address), the message it carries (headers, and the machine's event schema file as
 * payload) and the operation by which the service sends it. AsyncAPI allows only `x-`
 * extensions at the top level, so the generated-file header goes in `x-generated`.
 */
export function asyncApiFile(machines: readonly EmitMachine[]): GeneratedFile {
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  for (const { model } of machines) {
    if (model.topic === undefined) continue;
    const message = `${camelCase(model.name)}Event`;
    channels[model.name] = {
      address: model.topic,
      title: `${model.name} events`,
      messages: { [message]: { $ref: `#/components/messages/${message}` } },
    };
    operations[`send${message[0]!.toUpperCase()}${message.slice(1)}`] = {
      action: 'send',
      channel: { $ref: `#/channels/${model.name}` },
      summary: `An instance of machine ${model.name} changed state.`,
      messages: [{ $ref: `#/channels/${model.name}/messages/${message}` }],
    };
    messages[message] = {
      name: message,
      title: `${model.name} state change`,
      contentType: 'application/json',
      headers: {
        type: 'object',
        properties: {
          [EVENT_HEADER_NAMES.type]: { type: 'string', enum: [...EVENT_TYPES] },
          [EVENT_HEADER_NAMES.schemaVersion]: { type: 'string', pattern: '^[1-9][0-9]*$' },
          [EVENT_HEADER_NAMES.machine]: { type: 'string', const: model.name },
          [EVENT_HEADER_NAMES.eventId]: { type: 'string', format: 'uuid' },
        },
        required: Object.values(EVENT_HEADER_NAMES),
      },
      payload: { schemaFormat: EVENT_SCHEMA_FORMAT, schema: { $ref: `./${eventSchemaFileName(model.name)}` } },
      bindings: { kafka: { key: { type: 'string', format: 'uuid' }, bindingVersion: '0.5.0' } },
    };
  }
  const body = {
    asyncapi: '3.0.0',
    info: {
      title: 'fsmkit state machine events',
      version: '1.0.0',
      description: 'State-change events of every machine that has a topic; each message is keyed by its instance id.',
    },
    defaultContentType: 'application/json',
    channels,
    operations,
    components: { messages },
  };
  return { path: 'asyncapi.json', content: jsonDocument(body, undefined, 'x-generated') };
}
