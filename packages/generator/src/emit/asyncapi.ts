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
  const parts = machines.map((m) => partsOf(m));
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
    [CHANNELS, objectJson(parts.flatMap((p) => p.channels), 1)],
    [OPERATIONS, objectJson(parts.flatMap((p) => p.operations), 1)],
    [MESSAGES, objectJson(parts.flatMap((p) => p.messages), 2)],
  ]);
  return { path: 'asyncapi.json', content: spliceJson(document, spliced) };
}

/**
 * A machine's channels, operations and messages, each as a member's JSON text: those of the
 * messages its steps wait for, then its state-change events when it has a topic.
 */
const partsOf = memoPerMachine(({ model }: EmitMachine) => {
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  addWaitedMessages(model, channels, operations, messages);
  if (model.topic !== undefined) {
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
    };
  }
  const members = (record: Record<string, unknown>, depth: number) =>
    Object.entries(record).map(([key, value]) => `${JSON.stringify(key)}: ${nestedJson(value, depth)}`);
  return { channels: members(channels, 2), operations: members(operations, 2), messages: members(messages, 3) };
});

/**
 * The messages a machine's steps declare they wait for (`@Step` `waitFor`): one channel each,
 * with no address (they arrive through `runner.deliver`, from any transport), the payload
 * schema as declared, the correlation key, and the step and timeout edge in `x-fsm-waits`.
 */
function addWaitedMessages(
  model: EmitMachine['model'],
  channels: Record<string, unknown>,
  operations: Record<string, unknown>,
  messages: Record<string, unknown>,
): void {
  const byMessage = new Map<string, Array<{ step: string; key: string | null; timeoutMs: number | null; onTimeout: string | null }>>();
  const payloads = new Map<string, unknown>();
  for (const step of model.steps) {
    const w = step.wait;
    if (w?.kind !== 'message') continue;
    const list = byMessage.get(w.message) ?? [];
    list.push({ step: step.name, key: w.key ?? null, timeoutMs: w.timeoutMs ?? null, onTimeout: w.onTimeout ?? null });
    byMessage.set(w.message, list);
    if (w.payload !== undefined && !payloads.has(w.message)) payloads.set(w.message, w.payload);
  }
  for (const [name, waits] of byMessage) {
    const id = camelCase(`${model.name}_${name.replace(/[^A-Za-z0-9]+/g, '_')}_message`);
    const channel = `${model.name}.${name}`;
    channels[channel] = {
      address: null,
      title: `message ${name} for ${model.name}`,
      description: `Delivered with runner.deliver('${name}', key, payload) to the ${model.name} instance waiting for it by key.`,
      messages: { [id]: { $ref: `#/components/messages/${id}` } },
    };
    operations[`receive${id[0]!.toUpperCase()}${id.slice(1)}`] = {
      action: 'receive',
      channel: { $ref: `#/channels/${channel}` },
      summary: `A ${model.name} instance waiting for ${name} takes it and runs on.`,
      messages: [{ $ref: `#/channels/${channel}/messages/${id}` }],
      'x-fsm-waits': waits,
    };
    messages[id] = {
      name: id,
      title: `${name} (${model.name})`,
      contentType: 'application/json',
      payload: { schemaFormat: EVENT_SCHEMA_FORMAT, schema: payloads.get(name) ?? {} },
    };
  }
}
