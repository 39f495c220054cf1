// Reads a saved instance on stdin, restores it in this fresh process and resumes it.
import { createOrderRunner } from '../../src/generated/order.runner.js';

let text = '';
for await (const chunk of process.stdin) text += String(chunk);
const orders = createOrderRunner();
const restored = await orders.importInstance(text);
const done = await orders.resume(restored.id, { paymentConfirmed: true });
const history = await orders.history(done.id);
process.stdout.write(
  JSON.stringify({
    status: done.status,
    placedAtIsDate: done.data.placedAt instanceof Date,
    placedAt: done.data.placedAt.toISOString(),
    pid: process.pid,
    handlers: history.map((h) => h.handler),
  }),
);
