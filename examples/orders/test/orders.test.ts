import { describe, expect, it } from 'vitest';
import { placeOrders } from '../src/main.js';
import { inventory, payments } from '../src/services.js';

describe('the order service example', () => {
  it('ships a paid order and compensates one whose card is declined', async () => {
    const lines: string[] = [];
    const { paid, failed, undone, history, events } = await placeOrders((l) => lines.push(l));

    expect([paid.status, paid.state, paid.data.trackingNumber]).toEqual(['done', 'done', 'TRK-A-100']);
    expect(paid.data.placedAt).toBeInstanceOf(Date);
    expect([failed.status, failed.state]).toEqual(['failed', 'charge']);
    expect(failed.error?.message).toMatch(/card declined/);
    expect(undone.status).toBe('compensated');
    // The declined order's stock went back; the shipped order's charge stands.
    expect(inventory.reserved.has(undone.data.reservationId!)).toBe(false);
    expect(inventory.reserved.has(paid.data.reservationId!)).toBe(true);
    expect(payments.captured.has(paid.data.chargeId!)).toBe(true);

    expect(history.map((h) => [h.handler, h.direction, h.attempt, h.error === null])).toEqual([
      ['reserveStock', 'forward', 1, true],
      ['requestPayment', 'forward', 1, true],
      ['charge', 'forward', 1, false],
      ['charge', 'forward', 2, false],
      ['charge', 'forward', 3, false],
      ['releaseStock', 'backward', 1, true],
    ]);
    const ofPaid = events.filter((e) => e.instanceId === paid.id);
    expect(ofPaid.map((e) => e.type)).toEqual([
      'instance.created',
      'step.completed',
      'step.completed',
      'instance.paused',
      'instance.resumed',
      'step.completed',
      'step.completed',
      'instance.done',
    ]);
    expect(ofPaid.every((e) => e.topic === 'shop.orders.fsm' && e.userId === 'customer-1')).toBe(true);
    expect(lines[0]).toBe('order A-100: paused at charge (awaiting payment)');
  });
});
