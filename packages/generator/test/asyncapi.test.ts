import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import specs from '@asyncapi/specs';
import { buildModel } from '@fsmkit/decorators';
import { Ajv, type ValidateFunction } from 'ajv';
import { describe, expect, it } from 'vitest';
import { emit, type EmitMachine } from '../src/emit/index.js';
import { isGenerated } from '../src/header.js';

/**
 * The official JSON Schema of AsyncAPI 3.0.0. It embeds a copy of the draft-07 meta-schema,
 * which ajv already knows: drop the copy so the `$id` is not defined twice.
 */
function asyncApiValidator(): ValidateFunction {
  const schema = structuredClone(specs.schemas['3.0.0']) as { definitions: Record<string, unknown> };
  delete schema.definitions['http://json-schema.org/draft-07/schema'];
  // Formats are documentation here; validating them would need ajv-formats.
  return new Ajv({ strict: false, validateFormats: false, allErrors: true }).compile(schema);
}

const machine = (name: string, topic: string | undefined, steps: string[]): EmitMachine => ({
  source: `/project/src/${name}.machine.ts`,
  model: buildModel({
    className: 'M',
    options: topic === undefined ? { name } : { name, topic },
    steps: steps.map((method, i) => ({ order: i + 1, method })),
  }),
  data: { ref: { kind: 'inline', text: '{}' }, schema: { type: 'object' } },
});

const machines = [
  machine('order', 'shop.orders', ['reserve', 'charge']),
  machine('audit_log', undefined, ['record']),
  machine('parcel_route', 'logistics.parcels.v1', ['plan']),
];
const files = emit(machines, { root: '/project', outDir: '/project/src/generated' });
const text = files.find((f) => f.path === 'asyncapi.json')!.content;

interface Ref {
  $ref: string;
}
interface Doc {
  asyncapi: string;
  channels: Record<string, { address: string; messages: Record<string, Ref> }>;
  operations: Record<string, { action: string; channel: Ref; messages: Ref[] }>;
  components: {
    messages: Record<
      string,
      { payload: { schemaFormat: string; schema: Ref }; headers: { properties: Record<string, unknown>; required: string[] } }
    >;
  };
}

/** Follows a local `#/a/b` reference inside the document. */
function resolve(doc: unknown, ref: string): unknown {
  expect(ref.startsWith('#/')).toBe(true);
  return ref
    .slice(2)
    .split('/')
    .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], doc);
}

describe('asyncapi.json', () => {
  const validate = asyncApiValidator();
  const doc = JSON.parse(text) as Doc;

  it('is a valid AsyncAPI 3.0.0 document', () => {
    expect(doc.asyncapi).toBe('3.0.0');
    expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
    // The generated-file header sits in an extension field, where AsyncAPI allows one.
    expect(isGenerated(text)).toBe(true);
    expect(Object.keys(doc)[0]).toBe('x-generated');
  });

  it('is checked for real: the schema refuses a misplaced header and an unknown action', () => {
    expect(validate({ $comment: 'generated', ...doc })).toBe(false);
    const sendless = structuredClone(doc);
    sendless.operations['sendOrderEvent']!.action = 'publish';
    expect(validate(sendless)).toBe(false);
    const addressless = structuredClone(doc) as { channels: Record<string, Record<string, unknown>> };
    addressless.channels['order']!['address'] = 42;
    expect(validate(addressless)).toBe(false);
  });

  it('has one channel per machine with a topic, addressed by the topic', () => {
    expect(Object.fromEntries(Object.entries(doc.channels).map(([id, c]) => [id, c.address]))).toEqual({
      order: 'shop.orders',
      parcel_route: 'logistics.parcels.v1',
    });
  });

  it('sends each channel its messages, whose payload is the emitted event schema (JSON Schema 2020-12)', () => {
    const paths = new Set(files.map((f) => f.path));
    expect(Object.keys(doc.operations)).toEqual(['sendOrderEvent', 'sendParcelRouteEvent']);
    for (const [channelId, channel] of Object.entries(doc.channels)) {
      const operations = Object.values(doc.operations).filter((o) => o.channel.$ref === `#/channels/${channelId}`);
      expect(operations).toHaveLength(1);
      const operation = operations[0]!;
      expect(operation.action).toBe('send');
      // Operation messages must be messages of its channel.
      for (const m of operation.messages) expect(m.$ref.startsWith(`#/channels/${channelId}/messages/`)).toBe(true);
      for (const ref of [...operation.messages, ...Object.values(channel.messages)]) {
        const message = resolve(doc, ref.$ref) as Ref | Doc['components']['messages'][string];
        const target = '$ref' in message ? (resolve(doc, message.$ref) as Doc['components']['messages'][string]) : message;
        expect(target.payload.schemaFormat).toBe('application/schema+json;version=draft-2020-12');
        expect(target.payload.schema.$ref).toBe(`./${channelId}.events.schema.json`);
        expect(paths.has(`${channelId}.events.schema.json`)).toBe(true);
        expect(target.headers.required).toEqual(['fsm-event-type', 'fsm-schema-version', 'fsm-machine', 'fsm-event-id']);
        expect(target.headers.properties['fsm-machine']).toEqual({ type: 'string', const: channelId });
      }
    }
  });

  it('describes the example service validly too', () => {
    const example = fileURLToPath(new URL('../../../examples/orders/src/generated/asyncapi.json', import.meta.url));
    const exampleDoc = JSON.parse(readFileSync(example, 'utf8')) as Doc;
    expect(validate(exampleDoc), JSON.stringify(validate.errors)).toBe(true);
    expect(exampleDoc.channels['order']!.address).toBe('shop.orders.fsm');
  });
});

describe('asyncapi.json: messages machines wait for', () => {
  const waiting: EmitMachine = {
    source: '/project/src/pay.machine.ts',
    model: buildModel({
      className: 'M',
      options: { name: 'pay' },
      steps: [
        { order: 1, method: 'reserve', options: { waitFor: { message: 'payment', key: 'orderId', timeoutMs: 1000, onTimeout: 'cancel', payload: { type: 'object', required: ['amount'] } } } },
        { order: 2, method: 'charge' },
        { order: 3, method: 'cancel' },
      ],
    }),
    data: { ref: { kind: 'inline', text: '{}' }, schema: { type: 'object' } },
  };
  const doc = JSON.parse(emit([waiting], { root: '/project', outDir: '/project/src/generated' }).find((f) => f.path === 'asyncapi.json')!.content) as {
    channels: Record<string, { address: unknown }>;
    operations: Record<string, { action: string; 'x-fsm-waits': unknown }>;
    components: { messages: Record<string, { payload: { schema: unknown } }> };
  };

  it('has a channel, a receive operation with the step and its timeout edge, and the declared payload schema; the document is valid AsyncAPI 3.0', () => {
    expect(doc.channels['pay.payment']).toMatchObject({ address: null });
    expect(doc.operations['receivePayPaymentMessage']).toMatchObject({
      action: 'receive',
      'x-fsm-waits': [{ step: 'reserve', key: 'orderId', timeoutMs: 1000, onTimeout: 'cancel' }],
    });
    expect(doc.components.messages['payPaymentMessage']!.payload.schema).toEqual({ type: 'object', required: ['amount'] });
    const validate = asyncApiValidator();
    expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
  });
});
