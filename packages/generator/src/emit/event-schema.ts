import { machineGraph, RESERVED_STATES } from '@fsmkit/decorators';
import { EVENT_TYPES, INSTANCE_STATUSES } from '@fsmkit/runtime';
import type { JsonSchema } from '../extract/types.js';
import { jsonDocument } from './json.js';
import { displayPath } from './names.js';
import type { EmitContext, EmitMachine, GeneratedFile } from './types.js';

// The runtime owns the lists of event types and statuses; the schemas take them from there.
export { EVENT_TYPES, INSTANCE_STATUSES };

export function eventSchemaFileName(name: string): string {
  return `${name}.events.schema.json`;
}

/**
 * JSON Schema 2020-12 of one `FsmEvent` of this machine: the envelope every machine shares,
 * with the machine's own name, topic, states (steps and the states its transitions name) and data.
 */
export function eventSchema(machine: EmitMachine): JsonSchema {
  const { model } = machine;
  const nullableString = { type: ['string', 'null'] };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: `urn:fsmkit:${model.name}:events`,
    title: `${model.name} state-change event`,
    description: `One state change of an instance of machine "${model.name}" (class ${model.className}), keyed by instanceId.`,
    type: 'object',
    properties: {
      eventId: { type: 'string', format: 'uuid' },
      type: { enum: [...EVENT_TYPES] },
      schemaVersion: { type: 'integer', minimum: 1 },
      machine: { const: model.name },
      // A runner may override the machine's topic, so any topic name is valid here.
      topic: { type: 'string' },
      instanceId: { type: 'string', format: 'uuid' },
      userId: nullableString,
      from: { type: 'string' },
      to: { enum: [...machineGraph(model).states, ...RESERVED_STATES] },
      status: { enum: [...INSTANCE_STATUSES] },
      direction: { enum: ['forward', 'backward'] },
      step: nullableString,
      sequence: { type: 'integer', minimum: 1 },
      time: { type: 'string', format: 'date-time' },
      data: machine.data.schema,
      // `transition.completed` only: the transition's name and who executed it.
      transition: { type: 'string' },
      actor: nullableString,
      // When the change was made in a traced span: its W3C trace context.
      traceparent: { type: 'string' },
    },
    required: [
      'eventId',
      'type',
      'schemaVersion',
      'machine',
      'topic',
      'instanceId',
      'userId',
      'from',
      'to',
      'status',
      'direction',
      'step',
      'sequence',
      'time',
      'data',
    ],
    additionalProperties: false,
  };
}

/** `<name>.events.schema.json`. */
export function eventSchemaFile(machine: EmitMachine, ctx: EmitContext): GeneratedFile {
  return {
    path: eventSchemaFileName(machine.model.name),
    content: jsonDocument(eventSchema(machine), displayPath(ctx.root, machine.source)),
  };
}
