import { fileURLToPath } from 'node:url';
import { createRunner, MemorySink, MemoryStore, type FsmEvent } from '@fsmkit/runtime';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Project } from 'ts-morph';
import { describe, expect, it } from 'vitest';
import { eventSchema, EVENT_TYPES, INSTANCE_STATUSES } from '../src/emit/event-schema.js';
import { extract } from '../src/extract.js';
import { buildModels } from '../src/model.js';
import { GRAPH_MACHINES } from './graph-suite.js';
import { SHOP_MACHINES } from './support.js';
import { OrderMachine, type OrderData } from './fixtures/shop/src/order.machine.js';

const order = buildModels(extract({ files: SHOP_MACHINES })).find((e) => e.model.name === 'order')!;
// Formats are documentation here; validating them would need ajv-formats.
const validator = new Ajv2020({ strict: true, validateFormats: false }).compile(eventSchema(order));

const sample: FsmEvent = {
  eventId: '0190a5e2-7c4b-7c3e-8000-000000000001',
  type: 'step.completed',
  schemaVersion: 1,
  machine: 'order',
  topic: 'shop.orders',
  instanceId: '0190a5e2-7c4b-7c3e-8000-000000000002',
  userId: 'u-1',
  from: 'reserveStock',
  to: 'charge',
  status: 'running',
  direction: 'forward',
  step: 'reserveStock',
  sequence: 2,
  time: '2026-11-22T10:00:00.000Z',
  data: { orderId: 'o-1', lines: [{ sku: 'mug', qty: 1 }], totalCents: 1250, placedAt: '2026-11-22T10:00:00.000Z' },
};

describe('event schema', () => {
  it('accepts a well-formed event and rejects wrong states, data and extra fields', () => {
    expect(validator(sample), JSON.stringify(validator.errors)).toBe(true);
    expect(validator({ ...sample, to: 'nowhere' })).toBe(false);
    expect(validator({ ...sample, machine: 'payment' })).toBe(false);
    expect(validator({ ...sample, data: { ...(sample.data as object), totalCents: 'a lot' } })).toBe(false);
    expect(validator({ ...sample, extra: true })).toBe(false);
    const { step: _step, ...withoutStep } = sample;
    expect(validator(withoutStep)).toBe(false);
  });

  it('accepts every event the runtime publishes for the machine', async () => {
    const sink = new MemorySink();
    const runner = createRunner<OrderData>(
      { model: order.model, create: () => new OrderMachine() },
      { store: new MemoryStore({ sink }) },
    );
    const data = (orderId: string): OrderData => ({ orderId, lines: [{ sku: 'mug', qty: 2 }], totalCents: 2500, placedAt: new Date() });
    expect((await runner.start(data('o-1'), { userId: 'u-1' })).status).toBe('done');
    const undone = await runner.create(data('o-2'), { userId: 'u-2' });
    await runner.next(undone.id);
    await runner.next(undone.id);
    expect((await runner.compensate(undone.id)).status).toBe('compensated');

    const types = new Set(sink.events.map((e) => e.type));
    for (const type of ['instance.created', 'step.completed', 'instance.done', 'step.compensated', 'instance.compensated'])
      expect(types).toContain(type);
    for (const event of sink.events) expect(validator(event), `${event.type}: ${JSON.stringify(validator.errors)}`).toBe(true);
  });

  it('accepts a transition event with its name, actor and the idle status, at states only transitions name', () => {
    const ticket = buildModels(extract({ files: GRAPH_MACHINES })).find((e) => e.model.name === 'ticket')!;
    const validate = new Ajv2020({ strict: true, validateFormats: false }).compile(eventSchema(ticket));
    const event: FsmEvent = {
      ...sample,
      machine: 'ticket',
      type: 'transition.completed',
      from: 'open',
      to: 'in_review',
      status: 'idle',
      step: null,
      transition: 'assign',
      actor: 'lead-7',
      data: { title: 'printer on fire', comments: [] },
    };
    expect(validate(event), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...event, actor: null })).toBe(true);
    const { transition: _t, actor: _a, ...plain } = event;
    expect(validate({ ...plain, type: 'step.caught' })).toBe(true);
    expect(validate({ ...event, to: 'nowhere' })).toBe(false);
    expect(validate({ ...event, transition: 7 })).toBe(false);
  });

  it('lists exactly the fields, event types and statuses of FsmEvent in @fsmkit/runtime', () => {
    const records = new Project({ skipAddingFilesFromTsConfig: true }).addSourceFileAtPath(
      fileURLToPath(new URL('../../runtime/src/records.ts', import.meta.url)),
    );
    const union = (name: string) =>
      records
        .getTypeAliasOrThrow(name)
        .getTypeNodeOrThrow()
        .getText()
        .split('|')
        .map((s) => s.trim().replace(/'/g, ''))
        .filter(Boolean);
    expect(union('FsmEventType')).toEqual([...EVENT_TYPES]);
    expect(union('InstanceStatus')).toEqual([...INSTANCE_STATUSES]);
    const properties = records.getInterfaceOrThrow('FsmEvent').getProperties();
    const schema = eventSchema(order) as { properties: object; required: string[] };
    expect(Object.keys(schema.properties)).toEqual(properties.map((p) => p.getName()));
    expect(schema.required).toEqual(properties.filter((p) => !p.hasQuestionToken()).map((p) => p.getName()));
  });
});
