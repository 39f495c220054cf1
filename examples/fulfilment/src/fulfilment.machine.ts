import { Machine, Step, type StepContext } from '@fsmkit/runtime';

export interface FulfilmentData {
  orderId: string;
  items: string[];
  paidCents?: number;
  paymentRef?: string;
  /** One parcel per item, in item order: each packed by a child `parcel` instance. */
  parcels?: ParcelData[];
  cancelled?: string;
}

export interface ParcelData {
  orderId: string;
  item: string;
  tracking?: string;
}

/** What the payment service sends, keyed by order id. */
export interface PaymentMessage {
  amountCents: number;
  reference: string;
}

/**
 * An order is reserved, then waits for its payment (a message keyed by the order id; a payment
 * that comes first waits in the inbox). Without payment in time it is cancelled. Once paid,
 * every item is packed by a child `parcel` machine, at most two at a time, and the order
 * ships once all parcels are labelled.
 */
@Machine({ name: 'fulfilment', topic: 'shop.fulfilment.fsm' })
export class FulfilmentMachine {
  // The payment's schema, which `deliver` checks, is derived from PaymentMessage by `fsm generate`.
  @Step<PaymentMessage>(1, { waitFor: { message: 'payment', key: 'orderId', timeoutMs: 1_000, onTimeout: 'cancel' } })
  reserve(ctx: StepContext<FulfilmentData>) {
    ctx.annotate({ reserved: ctx.data.items.length });
  }

  @Step(2)
  pack(ctx: StepContext<FulfilmentData>) {
    const payment = ctx.message?.payload as PaymentMessage;
    ctx.data.paidCents = payment.amountCents;
    ctx.data.paymentRef = payment.reference;
    ctx.map(
      'parcel',
      ctx.data.items.map((item): ParcelData => ({ orderId: ctx.data.orderId, item })),
      { concurrency: 2 },
    );
    ctx.join({ into: 'parcels' });
  }

  @Step(3, { end: true })
  ship(ctx: StepContext<FulfilmentData>) {
    ctx.annotate({ parcels: ctx.data.parcels?.length ?? 0 });
  }

  @Step(4, { end: true })
  cancel(ctx: StepContext<FulfilmentData>) {
    ctx.data.cancelled = 'no payment in time';
  }
}

/** One parcel: labelled with a tracking number. */
@Machine({ name: 'parcel' })
export class ParcelMachine {
  @Step(1)
  label(ctx: StepContext<ParcelData>) {
    ctx.data.tracking = `TRK-${ctx.data.orderId}-${ctx.data.item}`;
  }
}
