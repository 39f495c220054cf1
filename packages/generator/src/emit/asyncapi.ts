import { jsonDocument } from './json.js';
import { camelCase } from './names.js';
import { eventSchemaFileName } from './event-schema.js';
import type { EmitMachine, GeneratedFile } from './types.js';

/**
 * `asyncapi.json`: an AsyncAPI 3.0 document with one channel per machine that has a topic,
 * the message it carries (its payload is the machine's event schema) and the send operation.
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
      summary: `A ${model.name} instance changed state.`,
      messages: [{ $ref: `#/channels/${model.name}/messages/${message}` }],
    };
    messages[message] = {
      name: message,
      title: `${model.name} state change`,
      contentType: 'application/json',
      payload: { $ref: `./${eventSchemaFileName(model.name)}` },
      bindings: { kafka: { key: { type: 'string', format: 'uuid' }, bindingVersion: '0.5.0' } },
    };
  }
  return {
    path: 'asyncapi.json',
    content: jsonDocument({
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
    }),
  };
}
