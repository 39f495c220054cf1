// Runs an order until it waits for payment, then prints the saved instance and exits.
import { createOrderRunner } from '../../src/generated/order.runner.js';

const orders = createOrderRunner();
const placed = await orders.start(
  { orderId: 'P-1', lines: [{ sku: 'mug', qty: 1, priceCents: 900 }], totalCents: 900, placedAt: new Date('2026-11-22T09:30:00.250Z') },
  { userId: 'customer-9' },
);
process.stdout.write(await orders.exportInstance(placed.id));
