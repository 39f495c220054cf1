/**
 * The order service in miniature: it places two orders on the in-memory store. The first is
 * paid and ships; the second one's card is declined, so the order fails and is compensated.
 */
import { MemorySink, MemoryStore } from '@fsmkit/runtime';
import { createOrderRunner, type OrderData } from './generated/order.runner.js';

export async function placeOrders(print: (line: string) => void = console.log) {
  const sink = new MemorySink();
  const store = new MemoryStore({ sink });
  const orders = createOrderRunner({ store });

  const cart = (orderId: string, extra: Partial<OrderData> = {}): OrderData => ({
    orderId,
    lines: [{ sku: 'mug', qty: 2, priceCents: 1250 }],
    totalCents: 2500,
    placedAt: new Date(),
    ...extra,
  });

  // 1. A customer checks out: stock is reserved, then the order waits for payment.
  const placed = await orders.start(cart('A-100'), { userId: 'customer-1' });
  print(`order A-100: ${placed.status} at ${placed.state} (${placed.pauseReason})`);

  // 2. The payment provider's webhook arrives: resume with what it told us.
  const paid = await orders.resume(placed.id, { paymentConfirmed: true });
  print(`order A-100: ${paid.status}, tracking ${paid.data.trackingNumber}`);

  // 3. Another customer's card is declined: charge fails after 3 attempts, then we compensate.
  const declined = await orders.start(cart('B-200', { cardDeclines: true }), { userId: 'customer-2' });
  const failed = await orders.resume(declined.id, { paymentConfirmed: true });
  print(`order B-200: ${failed.status} at ${failed.state}: ${failed.error?.message}`);
  const undone = await orders.compensate(declined.id);
  print(`order B-200: ${undone.status}`);

  const history = await orders.history(declined.id);
  for (const h of history) {
    print(`  #${h.seq} ${h.direction.padEnd(8)} ${h.handler.padEnd(14)} ${h.stateBefore} -> ${h.stateAfter}${h.error ? `  (attempt ${h.attempt}: ${h.error.message})` : ''}`);
  }
  await store.flush();
  print(`events published: ${sink.events.length} (${sink.events.filter((e) => e.instanceId === paid.id).map((e) => e.type).join(', ')})`);
  return { paid, failed, undone, history, events: sink.events };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await placeOrders();
}
