// Screenshots of the console from the real page, for the readme:
//   node --conditions=source --import tsx packages/server/scripts/console-screenshot.ts <out-dir>
// A server on the memory store with a few orders, Debian's chromium, one PNG per page.
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createRunner, MemoryStore } from '@fsmkit/runtime';
import { createServer } from '../src/index.js';
import { launchChromium } from '../test/support/browser.js';
import { orderDataSchema, orderDefinition, type OrderData } from '../test/support/machines.js';

const out = resolve(process.argv[2] ?? '.cache/console-screenshots');
await mkdir(out, { recursive: true });
const runner = createRunner<OrderData>(orderDefinition, { store: new MemoryStore() });
const ids: string[] = [];
for (let i = 0; i < 14; i++) {
  const inst = await runner.start({ orderId: `A-${100 + i}`, cents: 1250 + 75 * i, email: `buyer${i}@example.com`, fail: i % 5 === 3 }, { userId: `user-${i % 4}` });
  ids.push(inst.id);
  if (i % 3 === 0 && inst.status === 'waiting') await runner.next(inst.id);
  if (i === 7) await runner.pause(inst.id, 'address check');
  if (i === 10) await runner.compensate(inst.id);
}
const token = 'screenshot-operate-token';
const app = await createServer({ machines: [{ runner, dataSchema: orderDataSchema }], auth: { tokens: [{ token, scopes: ['operate'], name: 'on-call' }] }, redact: ['email'] });
const base = await app.listen({ host: '127.0.0.1', port: 0 });
const { context, close } = await launchChromium();
try {
  const page = await context.newPage();
  await page.goto(`${base}/#token=${token}`);
  await page.waitForSelector('#instances tbody tr');
  await page.waitForSelector('[data-count]');
  await page.screenshot({ path: join(out, 'console-list.png') });
  await page.evaluate(`location.hash = '#/i/order/${ids[1]}'`);
  await page.waitForSelector('.node.current');
  await page.screenshot({ path: join(out, 'console-instance.png'), fullPage: true });
  await page.evaluate(`location.hash = '#/i/order/${ids[3]}'`);
  await page.waitForSelector('.node.current');
  await page.screenshot({ path: join(out, 'console-failed.png'), fullPage: true });
  await page.evaluate("location.hash = '#/stats?range=all'");
  await page.waitForSelector('#steps');
  await page.screenshot({ path: join(out, 'console-stats.png'), fullPage: true });
  console.log(`screenshots in ${out}`);
} finally {
  await close();
  await app.close();
}
