import { existsSync } from 'node:fs';
import { createRunner } from '@fsmkit/runtime';
import { createMysqlStore, type MysqlStore } from '@fsmkit/mysql';
import type { FastifyInstance } from 'fastify';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropTablesWithPrefix, mysqlUnavailable, uniquePrefix } from '../../mysql/test/support/db.js';
import { unavailable } from '../../../test/support/services.js';
import { createServer } from '../src/index.js';
import { CHROMIUM, launchChromium } from './support/browser.js';
import { orderDataSchema, orderDefinition, type OrderData } from './support/machines.js';

const mysqlDown = await mysqlUnavailable();
const chromiumMissing = await unavailable(`chromium at ${CHROMIUM}`, 'the console browser tests', async () => {
  if (!existsSync(CHROMIUM)) throw new Error('not installed (apt-get install -y chromium)');
});

const READ = 'console-read-token';
const OPERATE = 'console-operate-token';

describe.skipIf(mysqlDown !== null || chromiumMissing !== null)('web console in Chromium, on MariaDB', () => {
  const prefix = uniquePrefix();
  let store: MysqlStore;
  let app: FastifyInstance;
  let base: string;
  let browser: BrowserContext;
  let closeBrowser: () => Promise<void>;
  let runner: ReturnType<typeof createRunner<OrderData>>;
  const ids: string[] = [];

  beforeAll(async () => {
    store = createMysqlStore({ tablePrefix: prefix, poolSize: 4 });
    await store.ensureSchema([orderDefinition.model]);
    runner = createRunner<OrderData>(orderDefinition, { store });
    for (let i = 0; i < 4; i++) ids.push((await runner.start({ orderId: `A-${100 + i}`, cents: 1000 + i, fail: i === 3 }, { userId: `user-${i % 2}` })).id);
    app = await createServer({
      machines: [{ runner, dataSchema: orderDataSchema }],
      auth: { tokens: [{ token: READ, scopes: ['read'] }, { token: OPERATE, scopes: ['operate'], name: 'on-call' }] },
    });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    ({ context: browser, close: closeBrowser } = await launchChromium());
  });
  afterAll(async () => {
    await closeBrowser?.();
    await app?.close();
    await store?.close();
    await dropTablesWithPrefix(prefix);
  });

  async function open(token: string, hash = '/'): Promise<Page> {
    const page = await browser.newPage();
    // Each page signs in on its own: the token lives in the tab's sessionStorage.
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(`${base}/#token=${token}`);
    await page.waitForSelector('#who .scope');
    if (hash !== '/') await page.evaluate(`location.hash = ${JSON.stringify(`#${hash}`)}`);
    (page as Page & { errors?: string[] }).errors = errors;
    return page;
  }

  it('the list loads with every instance and live counts by status', async () => {
    const page = await open(READ);
    await page.waitForSelector('#instances tbody tr');
    const rows = await page.$$eval('#instances tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-id')));
    expect(rows.sort()).toEqual([...ids].sort());
    await page.waitForSelector('[data-count="waiting"]');
    expect(await page.textContent('[data-count="waiting"] b')).toBe('3');
    expect(await page.textContent('[data-count="failed"] b')).toBe('1');
    expect((page as Page & { errors?: string[] }).errors).toEqual([]);
    await page.close();
  });

  it('an instance opens with its current state highlighted in the diagram', async () => {
    const page = await open(READ);
    await page.click(`#instances tr[data-id="${ids[3]}"]`);
    await page.waitForSelector('.node.current');
    expect(await page.getAttribute('.node.current', 'data-state')).toBe('charge');
    expect(await page.$$eval('.node.current', (n) => n.length)).toBe(1);
    expect(await page.getAttribute('.node[data-state="reserve"]', 'class')).toContain('visited');
    expect(await page.textContent('.errbox')).toContain('card declined');
    expect(await page.$$eval('.timeline li', (li) => li.length)).toBe(2);
    await page.close();
  });

  it('a pause clicked in the page pauses the stored instance', async () => {
    const id = ids[0]!;
    expect((await runner.get(id)).status).toBe('waiting');
    const page = await open(OPERATE, `/i/order/${id}`);
    await page.waitForSelector('[data-action="pause"]');
    await page.click('[data-action="pause"]');
    await page.fill('#confirm input', 'checked by the on-call engineer');
    await page.click('#confirm-ok');
    await page.waitForSelector('.pagehead .badge[data-status="paused"]');
    const stored = await runner.get(id);
    expect(stored.status).toBe('paused');
    expect(stored.pauseReason).toBe('checked by the on-call engineer');
    await page.close();
  });

  it("a transition's form is built from its input schema, behind a confirmation", async () => {
    const before = await runner.get(ids[3]!);
    const page = await open(OPERATE, `/i/order/${ids[3]}`);
    await page.click('[data-transition="approve"]');
    await page.waitForSelector('#confirm[open] input[name="approver"]');
    expect(await page.getAttribute('#confirm input[name="level"]', 'type')).toBe('number');
    expect(await page.getAttribute('#confirm input[name="level"]', 'max')).toBe('3');
    expect(await page.textContent('#confirm')).toContain('approver *');
    await page.click('#confirm button[value="cancel"]');
    expect(await page.isVisible('#confirm')).toBe(false);
    expect((await runner.get(ids[3]!)).version).toBe(before.version);
    await page.close();
  });

  it('a read-only token sees no action buttons', async () => {
    const page = await open(READ, `/i/order/${ids[1]}`);
    await page.waitForSelector('.node.current');
    expect(await page.$$eval('[data-action], [data-transition]', (b) => b.length)).toBe(0);
    expect(await page.isVisible('#readonly')).toBe(true);
    await page.close();
  });

  it('hostile text in stored data and ids shows as text and runs nothing', async () => {
    const hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';
    const inst = await runner.start({ orderId: hostile, cents: 1 }, { userId: hostile });
    const page = await open(READ, `/i/order/${inst.id}`);
    await page.waitForSelector('pre.json');
    expect(await page.textContent('pre.json')).toContain(JSON.stringify(hostile));
    await page.evaluate(`location.hash = '#/'`);
    await page.waitForSelector(`#instances tr[data-id="${inst.id}"]`);
    expect(await page.textContent(`#instances tr[data-id="${inst.id}"]`)).toContain(hostile);
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    expect(await page.$$eval('main img, main script', (n) => n.length)).toBe(0);
    await page.close();
  });

  it('statistics and trouble pages render from the API', async () => {
    const page = await open(READ, '/stats?range=all');
    await page.waitForSelector('#steps tbody tr');
    expect(await page.$$eval('#steps tbody tr', (r) => r.length)).toBeGreaterThanOrEqual(2);
    await page.evaluate("location.hash = '#/trouble'");
    await page.waitForSelector('h3');
    expect(await page.textContent('main')).toContain('Failed (1)');
    await page.close();
  });
});
