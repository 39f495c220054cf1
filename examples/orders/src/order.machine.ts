import { Lock, Machine, Step, type StepContext } from '@fsmkit/runtime';
import { inventory, payments, shipping } from './services.js';

export interface OrderLine {
  sku: string;
  qty: number;
  priceCents: number;
}

export interface OrderData {
  orderId: string;
  lines: OrderLine[];
  totalCents: number;
  placedAt: Date;
  /** Test hook of the fake payment provider: this customer's card will be declined. */
  cardDeclines?: boolean;
  reservationId?: string;
  paymentId?: string;
  paymentConfirmed?: boolean;
  chargeId?: string;
  trackingNumber?: string;
}

/**
 * An order: reserve stock, wait for the customer to pay, charge, ship. Moving backward
 * refunds the charge and releases the stock. One order per customer runs at a time.
 */
@Machine({ name: 'order', topic: 'shop.orders.fsm' })
@Lock('local', { by: 'user' })
export class OrderMachine {
  @Step(1, { back: 'releaseStock' })
  async reserveStock(ctx: StepContext<OrderData>) {
    ctx.data.reservationId = await inventory.reserve(ctx.data.lines);
  }

  @Step(2)
  async requestPayment(ctx: StepContext<OrderData>) {
    ctx.data.paymentId = await payments.createIntent(ctx.data.totalCents, ctx.data.cardDeclines);
    // The payment provider calls back later; the service resumes the order then.
    if (!ctx.data.paymentConfirmed) ctx.pause('awaiting payment');
  }

  @Step(3, { back: 'refund', retry: { maxAttempts: 3, backoffMs: 20, factor: 2 } })
  async charge(ctx: StepContext<OrderData>) {
    ctx.data.chargeId = await payments.capture(ctx.data.paymentId!, ctx.data.totalCents);
    ctx.annotate({ amountCents: ctx.data.totalCents });
  }

  @Step(4)
  async ship(ctx: StepContext<OrderData>) {
    ctx.data.trackingNumber = await shipping.dispatch(ctx.data.orderId);
  }

  async releaseStock(ctx: StepContext<OrderData>) {
    await inventory.release(ctx.data.reservationId!);
  }

  async refund(ctx: StepContext<OrderData>) {
    if (ctx.data.chargeId) await payments.refund(ctx.data.chargeId);
  }
}
