import { describe, expect, it } from 'vitest';
import { MemoryStore } from '@fsmkit/runtime';
import { createFulfilmentRunner } from '../src/generated/fulfilment.runner.js';
import { shop } from '../src/main.js';

describe('the fulfilment example', () => {
  it('takes a payment from the inbox or while waiting, packs items as child machines, and cancels an unpaid order on timeout', async () => {
    const lines: string[] = [];
    const { a1, a2, a3, children } = await shop((l) => lines.push(l));
    expect(lines[0]).toBe('A-1: payment inboxed before the order exists');
    expect(lines[3]).toBe('A-2: payment delivered, sent again: duplicate');
    expect([a1.status, a1.state, a1.data.paidCents, a1.data.paymentRef]).toEqual(['done', 'done', 4_200, 'PAY-1']);
    // Results in item order, one child per item, linked to the order.
    expect(a1.data.parcels?.map((p) => p.tracking)).toEqual(['TRK-A-1-book', 'TRK-A-1-lamp', 'TRK-A-1-mug']);
    expect(children.map((c) => [c.data.item, c.status])).toEqual(
      expect.arrayContaining([
        ['book', 'done'],
        ['lamp', 'done'],
        ['mug', 'done'],
      ]),
    );
    expect(children).toHaveLength(3);
    expect([a2.status, a2.data.parcels?.map((p) => p.tracking)]).toEqual(['done', ['TRK-A-2-kettle']]);
    expect([a3.status, a3.data.cancelled, a3.data.parcels]).toEqual(['done', 'no payment in time', undefined]);
  });

  it('refuses a payment whose payload does not fit the schema derived from PaymentMessage, storing nothing', async () => {
    const orders = createFulfilmentRunner({ store: new MemoryStore() });
    await expect(orders.deliver('payment', 'B-1', { amountCents: 'lots' })).rejects.toMatchObject({ code: 'FSM_INPUT_INVALID' });
    // Nothing went to the inbox: a wait that begins now finds no message.
    const order = await orders.start({ orderId: 'B-1', items: ['cup'] });
    expect([order.status, order.data.paidCents]).toEqual(['waiting', undefined]);
  });
});
