import { defineMachine } from '@fsmkit/runtime';

/** The machine the message race tests run in two processes: reserve waits for payment (key orderId), then charge and ship; a timeout goes to cancel. */
export interface PayData {
  orderId: string;
  timeoutMs: number | null;
  log: string[];
  paid?: unknown;
}

export function payMachine(name: string) {
  return defineMachine<PayData>({
    name,
    topic: 'fsm-test-pay',
    steps: { reserve: { order: 1 }, charge: { order: 2 }, ship: { order: 3, end: true }, cancel: { order: 4 } },
    methods: {
      reserve: (ctx) => {
        ctx.data.log.push('reserve');
        const { timeoutMs } = ctx.data;
        ctx.waitFor('payment', { key: ctx.data.orderId, ...(timeoutMs === null ? {} : { timeoutMs, onTimeout: 'cancel' }) });
      },
      charge: (ctx) => {
        ctx.data.log.push('charge');
        ctx.data.paid = ctx.message?.payload ?? null;
      },
      ship: (ctx) => void ctx.data.log.push('ship'),
      cancel: (ctx) => void ctx.data.log.push('cancel'),
    },
  });
}

/** Two waits of one instance with the same key: approval first, then payment. */
export function twoWaitsMachine(name: string) {
  return defineMachine<PayData>({
    name,
    topic: 'fsm-test-pay',
    steps: {
      open: { order: 1, waitFor: { message: 'approval', key: 'orderId' } },
      approved: { order: 2, waitFor: { message: 'payment', key: 'orderId' } },
      paid: { order: 3, end: true },
    },
    methods: {
      open: (ctx) => void ctx.data.log.push('open'),
      approved: (ctx) => void ctx.data.log.push(`approved:${ctx.message?.name ?? 'none'}`),
      paid: (ctx) => void ctx.data.log.push(`paid:${ctx.message?.name ?? 'none'}`),
    },
  });
}
