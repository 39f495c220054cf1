import { buildModel, type MachineDefinition, type MachineOptions, type StepContext, type StepOptions } from '../../src/index.js';

/** A machine built by hand (no decorators), so the behaviour suite depends on the runtime alone. */
export function machine<TData>(
  options: MachineOptions & { lock?: { scope: 'none' | 'global' | 'local'; by?: 'user' | 'type' } },
  steps: Record<string, { order: number } & StepOptions>,
  methods: Record<string, (ctx: StepContext<TData>) => unknown>,
): MachineDefinition<TData> {
  const model = buildModel({
    className: 'TestMachine',
    options,
    lock: options.lock ?? { scope: 'none' },
    steps: Object.entries(steps).map(([method, { order, ...rest }]) => ({ order, method, options: rest })),
  });
  return { model, create: () => ({ ...methods }) };
}

/** Resolves when `open()` is called: lets a test hold a step mid-flight. */
export function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

export interface OrderData {
  orderId: string;
  amount: number;
  log: string[];
  paymentId?: string;
}

/** The order flow used across tests: reserve, await payment (pauses), charge, ship; two compensations. */
export function orderMachine(name = 'order', extra: Partial<MachineOptions> = {}) {
  return machine<OrderData>(
    { name, ...extra },
    {
      reserveStock: { order: 1, back: 'releaseStock' },
      awaitPayment: { order: 2 },
      charge: { order: 3, back: 'refund' },
      ship: { order: 4 },
    },
    {
      reserveStock: (ctx) => void ctx.data.log.push('reserve'),
      awaitPayment: (ctx) => {
        ctx.data.log.push('await');
        if (!ctx.data.paymentId) ctx.pause('waiting for payment');
      },
      charge: (ctx) => {
        ctx.data.log.push(`charge:${ctx.data.paymentId}`);
        ctx.annotate({ charged: ctx.data.amount });
      },
      ship: (ctx) => void ctx.data.log.push('ship'),
      releaseStock: (ctx) => void ctx.data.log.push('release'),
      refund: (ctx) => void ctx.data.log.push('refund'),
    },
  );
}
