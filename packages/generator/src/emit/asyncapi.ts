import { EVENT_HEADERS } from '@fsmkit/runtime';
import { jsonDocument, memoPerMachine, nestedJson, objectJson, spliceJson } from './json.js';
import { camelCase } from './names.js';
import { eventSchemaFileName, EVENT_TYPES } from './event-schema.js';
import type { EmitMachine, GeneratedFile } from './types.js';

/** Event schemas are JSON Schema 2020-12 (tuples use `prefixItems`): the payload says so. */
const EVENT_SCHEMA_FORMAT = 'application/schema+json;version=draft-2020-12';

const CHANNELS = '@@fsmkit:channels@@';
const OPERATIONS = '@@fsmkit:operations@@';
const MESSAGES = '@@fsmkit:messages@@';

/**
 * `asyncapi.json`: an AsyncAPI 3.0 document with one channel per machine that has a topic
 * (its address), the message it carries (headers, and the machine's event schema file as
 * payload) and the operation by which the service sends it. AsyncAPI allows only `x-`
 * extensions at the top level, so the generated-file header goes in `x-generated`.
 */
export function asyncApiFile(machines: readonly EmitMachine[]): GeneratedFile {
  const parts = machines.map((m) => partsOf(m)).filter((p) => p !== undefined);
  const body = {
    asyncapi: '3.0.0',
    info: {
      title: 'fsmkit state machine events',
      version: '1.0.0',
      description: 'State-change events of every machine that has a topic; each message is keyed by its instance id.',
    },
    defaultContentType: 'application/json',
    channels: CHANNELS,
    operations: OPERATIONS,
    components: { messages: MESSAGES },
  };
  const document = jsonDocument(body, undefined, 'x-generated');
  const spliced = new Map([
    [CHANNELS, objectJson(parts.map((p) => p.channel), 1)],
    [OPERATIONS, objectJson(parts.map((p) => p.operation), 1)],
    [MESSAGES, objectJson(parts.map((p) => p.message), 2)],
  ]);
  return { path: 'asyncapi.json', content: spliceJson(document, spliced) };
}

/** A machine's channel, operation and message, each as a member's JSON text; none without a topic. */
const partsOf = memoPerMachine(({ model }: EmitMachine) => {
  if (model.topic === undefined) return undefined;
  const message = `${camelCase(model.name)}Event`;
  const member = (key: string, value: unknown, depth: number) => `${JSON.stringify(key)}: ${nestedJson(value, depth)}`;
  return {
    channel: member(
      model.name,
      {
        address: model.topic,
        title: `${model.name} events`,
        messages: { [message]: { $ref: `#/components/messages/${message}` } },
      },
      2,
    ),
    operation: member(
      `send${message[0]!.toUpperCase()}${message.slice(1)}`,
      {
        action: 'send',
        channel: { $ref: `#/channels/${model.name}` },
        summary: `An instance of machine ${model.name} changed state.`,
        messages: [{ $ref: `#/channels/${model.name}/messages/${message}` }],
      },
      2,
    ),
    message: member(
      message,
      {
        name: message,
        title: `${model.name} state change`,
        contentType: 'application/json',
        headers: {
          type: 'object',
          properties: {
            [EVENT_HEADERS.type]: { type: 'string', enum: [...EVENT_TYPES] },
            [EVENT_HEADERS.schemaVersion]: { type: 'string', pattern: '^[1-9][0-9]*$' },
            [EVENT_HEADERS.machine]: { type: 'string', const: model.name },
            [EVENT_HEADERS.eventId]: { type: 'string', format: 'uuid' },
            // Present when the change was made in a traced span (W3C trace context).
            [EVENT_HEADERS.traceparent]: { type: 'string', pattern: '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' },
          },
          required: [EVENT_HEADERS.type, EVENT_HEADERS.schemaVersion, EVENT_HEADERS.machine, EVENT_HEADERS.eventId],
        },
        payload: { schemaFormat: EVENT_SCHEMA_FORMAT, schema: { $ref: `./${eventSchemaFileName(model.name)}` } },
        bindings: { kafka: { key: { type: 'string', format: 'uuid' }, bindingVersion: '0.5.0' } },
      },
      3,
    ),
  };
});
