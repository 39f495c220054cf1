import { createRunner, defineMachine, MemoryStore, type RunnerOptions } from '@fsmkit/runtime';

export interface OrderData {
  orderId: string;
  cents: number;
  card?: { number: string; holder: string };
  email?: string;
  reserved?: boolean;
  charged?: boolean;
  approvedBy?: string;
  fail?: boolean;
}

export const orderDataSchema = {
  type: 'object',
  properties: {
    orderId: { type: 'string', minLength: 1 },
    cents: { type: 'integer', minimum: 0 },
    card: { type: 'object', properties: { number: { type: 'string' }, holder: { type: 'string' } } },
    email: { type: 'string' },
    fail: { type: 'boolean' },
  },
  required: ['orderId', 'cents'],
};

/** reserve -> charge -> ship, charge waits for `next`; `approve` is a transition from charge with an input schema. */
export const orderDefinition = defineMachine<OrderData>({
  name: 'order',
  steps: {
    reserve: { order: 1, back: 'release' },
    charge: { order: 2, back: 'refund', immediate: false },
    ship: { order: 3 },
  },
  transitions: {
    approve: {
      from: ['charge'],
      to: 'ship',
      input: {
        type: 'object',
        properties: { approver: { type: 'string', minLength: 2 }, level: { type: 'integer', minimum: 1, maximum: 3 } },
        required: ['approver'],
        additionalProperties: false,
      },
      run: (ctx) => void (ctx.data.approvedBy = (ctx.input as { approver: string }).approver),
    },
  },
  methods: {
    reserve: (ctx) => void (ctx.data.reserved = true),
    charge: (ctx) => {
      if (ctx.data.fail) throw new Error('card declined');
      ctx.data.charged = true;
    },
    ship: () => undefined,
    release: (ctx) => void (ctx.data.reserved = false),
    refund: (ctx) => void (ctx.data.charged = false),
  },
});

export function orderRunner(options: RunnerOptions = {}) {
  return createRunner<OrderData>(orderDefinition, { store: new MemoryStore(), ...options });
}

export interface PaymentData {
  orderId: string;
  paid?: { cents: number };
}

/** `await` waits for the message `paid` keyed by orderId (payload: { cents }), then `settle` ends it. */
export const paymentDefinition = defineMachine<PaymentData>({
  name: 'payment',
  steps: {
    await: {
      order: 1,
      waitFor: {
        message: 'paid',
        key: 'orderId',
        payload: { type: 'object', properties: { cents: { type: 'integer', minimum: 1 } }, required: ['cents'], additionalProperties: false },
      },
    },
    settle: { order: 2, end: true },
  },
  methods: {
    await: () => undefined,
    settle: (ctx) => void (ctx.data.paid = ctx.message?.payload as { cents: number }),
  },
});

export function paymentRunner(options: RunnerOptions = {}) {
  return createRunner<PaymentData>(paymentDefinition, { store: new MemoryStore(), ...options });
}
