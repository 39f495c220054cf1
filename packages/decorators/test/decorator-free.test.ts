import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  checkModel,
  defineMachine,
  machineModelOf,
  type Handler,
  type MachineModel,
  type ModelProblemCode,
  type StepContext,
} from '../src/index.js';
import { OrderMachine, orderModel, type OrderData } from './fixtures/order-machine.js';

const order = defineMachine<OrderData>({
  name: 'order',
  topic: 'orders.fsm',
  lock: { scope: 'local', by: 'user' },
  steps: {
    reserveStock: { order: 1, back: 'releaseStock' },
    charge: { order: 2, back: 'refund', retry: { maxAttempts: 3, backoffMs: 100, factor: 2 } },
    ship: { order: 3, name: 'shipped', immediate: false, timeoutMs: 5_000 },
  },
  methods: {
    async reserveStock(ctx) {
      ctx.data.reserved = true;
    },
    async charge(ctx) {
      ctx.data.charged = true;
    },
    async ship(ctx) {
      ctx.data.shipped = true;
    },
    async releaseStock(ctx) {
      ctx.data.reserved = false;
    },
    async refund(ctx) {
      ctx.data.charged = false;
    },
  },
});

describe('defineMachine', () => {
  it('builds the same model as the decorated class it mirrors', () => {
    expect(order.model).toStrictEqual(machineModelOf(OrderMachine));
    expect(order.model).toStrictEqual(orderModel);
  });

  it('types every handler context with the explicit data type', () => {
    expectTypeOf(order.create().ship).toEqualTypeOf<Handler<OrderData> | undefined>();
    expectTypeOf<NonNullable<typeof order.__data>>().toEqualTypeOf<OrderData>();
  });

  it('names the class after the machine unless told otherwise', () => {
    expect(order.model.className).toBe('OrderMachine');
    const twin = defineMachine({ name: 'order-fulfilment', steps: { a: { order: 1 } }, methods: { a() {} } });
    expect(twin.model.className).toBe('OrderFulfilmentMachine');
    expect(twin.model.name).toBe('order_fulfilment');
    const named = defineMachine({ name: 'x', className: 'Custom', steps: { a: { order: 1 } }, methods: { a() {} } });
    expect(named.model.className).toBe('Custom');
  });

  it('has no lock by default and locks a local machine per user unless told per type', () => {
    const methods = { a() {} };
    const steps = { a: { order: 1 } };
    expect(defineMachine({ name: 'n', steps, methods }).model.lock).toStrictEqual({ scope: 'none' });
    expect(defineMachine({ name: 'n', steps, methods, lock: { scope: 'local' } }).model.lock).toStrictEqual({ scope: 'local', by: 'user' });
    expect(defineMachine({ name: 'n', steps, methods, lock: { scope: 'local', by: 'type' } }).model.lock).toStrictEqual({
      scope: 'local',
      by: 'type',
    });
    expect(defineMachine({ name: 'n', steps, methods, lock: { scope: 'global' } }).model.lock).toStrictEqual({ scope: 'global' });
  });

  it('creates the methods object, whose handlers change the data', async () => {
    // With the data type given explicitly, TypeScript cannot infer the method names.
    const { reserveStock, charge } = order.create();
    const ctx = { data: { orderId: 'o-1' } } as StepContext<OrderData>;
    await reserveStock!(ctx);
    await charge!(ctx);
    expect(ctx.data).toEqual({ orderId: 'o-1', reserved: true, charged: true });
  });

  it('throws when a step names no method, since nothing could run it', () => {
    expect(() =>
      defineMachine<OrderData>({ name: 'broken', steps: { missing: { order: 1 } }, methods: { present() {} } }),
    ).toThrow(/machine "broken" has step "missing" but no method of that name/);
  });

  it('checks step keys and back values against the method names when the data type is inferred', () => {
    const inferred = defineMachine({
      name: 'inferred',
      steps: { pay: { order: 1, back: 'refund' } },
      methods: {
        async pay(ctx: StepContext<OrderData>) {
          ctx.data.charged = true;
        },
        async refund(ctx) {
          ctx.data.charged = false;
        },
      },
    });
    expect(inferred.model.steps).toStrictEqual([{ order: 1, name: 'pay', method: 'pay', back: 'refund' }]);
    // One annotated handler gives the data type; the others are typed from it.
    expectTypeOf(inferred.create().refund).parameter(0).toEqualTypeOf<StepContext<OrderData>>();
    expectTypeOf<NonNullable<typeof inferred.__data>>().toEqualTypeOf<OrderData>();

    expect(() =>
      defineMachine({
        name: 'typo',
        // @ts-expect-error: `paid` is not a method
        steps: { paid: { order: 1 } },
        methods: { async pay(_ctx: StepContext<OrderData>) {} },
      }),
    ).toThrow(/has step "paid" but no method/);
    const badBack = () =>
      defineMachine({
        name: 'typo',
        // @ts-expect-error: `refnd` is not a method
        steps: { pay: { order: 1, back: 'refnd' } },
        methods: { async pay(_ctx: StepContext<OrderData>) {} },
      });
    expect(checkModel(badBack().model, new Set(['pay']))).toEqual([
      expect.objectContaining({ code: 'FSM_E_BACK_MISSING', path: ['steps', 0, 'back'] }),
    ]);
  });
});

describe('checkModel on bad models', () => {
  const stepsOf = (model: MachineModel) => model.steps;
  const base = (): MachineModel => structuredClone(orderModel);
  const codes = (model: MachineModel, methods?: ReadonlySet<string>): ModelProblemCode[] =>
    checkModel(model, methods).map((p) => p.code);

  it('accepts the order machine', () => {
    expect(checkModel(base(), new Set(Object.keys(order.create())))).toEqual([]);
  });

  it('reports a duplicate order with both methods', () => {
    const model = defineMachine({ name: 'dup', steps: { a: { order: 1 }, b: { order: 1 } }, methods: { a() {}, b() {} } }).model;
    const problems = checkModel(model);
    expect(problems).toEqual([expect.objectContaining({ code: 'FSM_E_ORDER_DUPLICATE', path: ['steps', 1, 'order'] })]);
    expect(problems[0]!.message).toContain('"a" and "b"');
  });

  it('reports non-integer and non-positive orders', () => {
    const model = base();
    stepsOf(model)[0]!.order = 1.5;
    stepsOf(model)[1]!.order = 0;
    stepsOf(model)[2]!.order = -3;
    expect(codes(model)).toEqual(['FSM_E_ORDER_INVALID', 'FSM_E_ORDER_INVALID', 'FSM_E_ORDER_INVALID']);
  });

  it('reports a machine name SQL and Kafka cannot take, and a missing one', () => {
    const model = defineMachine({ name: '1st-order', steps: { a: { order: 1 } }, methods: { a() {} } }).model;
    expect(checkModel(model)).toEqual([expect.objectContaining({ code: 'FSM_E_NAME_INVALID', path: ['name'] })]);
    expect(codes({ ...base(), name: 'x'.repeat(49) })).toEqual(['FSM_E_NAME_INVALID']);
    expect(codes({ ...base(), name: '' })).toEqual(['FSM_E_NAME_MISSING']);
  });

  it('reports a back handler the methods do not have, only when the methods are known', () => {
    const model = base();
    const methods = new Set(['reserveStock', 'charge', 'ship', 'releaseStock']);
    expect(checkModel(model, methods)).toEqual([
      expect.objectContaining({ code: 'FSM_E_BACK_MISSING', path: ['steps', 1, 'back'] }),
    ]);
    expect(codes(model)).toEqual([]);
  });

  it('reports an unknown lock scope and an unknown local lock key', () => {
    const lock = (value: unknown) => ({ ...base(), lock: value as MachineModel['lock'] });
    expect(codes(lock({ scope: 'cluster' }))).toEqual(['FSM_E_LOCK_SCOPE']);
    expect(codes(lock({ scope: 'local', by: 'tenant' }))).toEqual(['FSM_E_LOCK_SCOPE']);
    const fromDefinition = defineMachine({
      name: 'n',
      lock: { scope: 'cluster' } as unknown as { scope: 'global' },
      steps: { a: { order: 1 } },
      methods: { a() {} },
    });
    expect(checkModel(fromDefinition.model)).toEqual([expect.objectContaining({ code: 'FSM_E_LOCK_SCOPE', path: ['lock', 'scope'] })]);
  });

  it('reports a machine without steps', () => {
    expect(codes(defineMachine({ name: 'idle', steps: {}, methods: { a() {} } }).model)).toEqual(['FSM_E_NO_STEPS']);
  });

  it('reports a step named like a terminal state', () => {
    const model = defineMachine({ name: 'n', steps: { done: { order: 1 }, b: { order: 2, name: 'compensated' } }, methods: { done() {}, b() {} } }).model;
    expect(checkModel(model)).toEqual([
      expect.objectContaining({ code: 'FSM_E_STEP_NAME_RESERVED', path: ['steps', 0, 'name'] }),
      expect.objectContaining({ code: 'FSM_E_STEP_NAME_RESERVED', path: ['steps', 1, 'name'] }),
    ]);
  });

  it('reports every problem at once', () => {
    const model = base();
    model.name = 'Bad Name!';
    stepsOf(model)[1]!.order = 1;
    stepsOf(model)[2]!.name = 'done';
    model.lock = { scope: 'nowhere' as 'none' };
    expect(codes(model, new Set(['reserveStock']))).toEqual([
      'FSM_E_NAME_INVALID',
      'FSM_E_LOCK_SCOPE',
      'FSM_E_BACK_MISSING',
      'FSM_E_ORDER_DUPLICATE',
      'FSM_E_BACK_MISSING',
      'FSM_E_STEP_NAME_RESERVED',
    ]);
  });
});
