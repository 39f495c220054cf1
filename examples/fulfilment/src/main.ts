/**
 * Three orders on the in-memory store, with a worker for each machine in this process:
 * - A-1's payment arrives before the order waits for it: it waits in the inbox, and the order
 *   takes it as soon as it is reserved;
 * - A-2's payment arrives while it waits (the same message sent twice counts once); both paid
 *   orders pack their items as child `parcel` instances, two at a time, and ship;
 * - A-3 is never paid: its wait times out and the order is cancelled.
 */
import { MemoryStore } from '@fsmkit/runtime';
import { createFulfilmentRunner, type FulfilmentData } from './generated/fulfilment.runner.js';
import { createParcelRunner } from './generated/parcel.runner.js';

export async function shop(print: (line: string) => void = console.log) {
  const store = new MemoryStore();
  const parcels = createParcelRunner({ store });
  // The order's steps may spawn parcels: its runner is given theirs.
  const orders = createFulfilmentRunner({ store, machines: [parcels] });
  const workers = [parcels.work({ pollMs: 5 }), orders.work({ pollMs: 5 })];
  const order = (orderId: string, items: string[]): FulfilmentData => ({ orderId, items });
  const settled = async (id: string) => {
    for (;;) {
      const now = await orders.get(id);
      if (now.status === 'done' || now.status === 'failed') return now;
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  try {
    const early = await orders.deliver('payment', 'A-1', { amountCents: 4_200, reference: 'PAY-1' }, { messageId: 'PAY-1' });
    print(`A-1: payment ${early.outcome} before the order exists`);
    const a1 = await orders.start(order('A-1', ['book', 'lamp', 'mug']));
    print(`A-1: paid at once from the inbox, ${a1.status} for its ${a1.data.items.length} parcels`);

    const a2 = await orders.start(order('A-2', ['kettle']));
    print(`A-2: ${a2.status} for its payment`);
    const paid = await orders.deliver('payment', 'A-2', { amountCents: 2_500, reference: 'PAY-2' }, { messageId: 'PAY-2' });
    const again = await orders.deliver('payment', 'A-2', { amountCents: 2_500, reference: 'PAY-2' }, { messageId: 'PAY-2' });
    print(`A-2: payment ${paid.outcome}, sent again: ${again.outcome}`);

    const a3 = await orders.start(order('A-3', ['vase']));
    print(`A-3: ${a3.status} for its payment`);

    const results = { a1: await settled(a1.id), a2: await settled(a2.id), a3: await settled(a3.id) };
    for (const r of Object.values(results)) {
      const parcelsText = r.data.parcels?.map((p) => p.tracking).join(', ') ?? 'none';
      print(`${r.data.orderId}: ${r.status}; parcels ${parcelsText}${r.data.cancelled ? `; ${r.data.cancelled}` : ''}`);
    }
    const children = await parcels.list({ parentId: a1.id });
    return { ...results, children };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await shop();
}
