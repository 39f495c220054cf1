import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { createRunner, defineMachine, deserialize, FsmError, MemoryStore, serialize, superjsonSerializer, toJsonSafe, jsonSerializer, type Serializer } from '../src/index.js';

describe('default serializer', () => {
  it('writes exactly what superjson writes, for plain and for rich data', async () => {
    const samples: unknown[] = [
      { a: 1, b: 'x', c: [true, null, { d: 2.5 }] },
      { orderId: 'o-1', amount: 42, items: ['a', 'b'], note: 'ü "quoted" \n' },
      [],
      'text',
      { when: new Date(0), n: 10n, m: new Map([[1, 'a']]), s: new Set([1]), u: undefined },
      { nan: Number.NaN, neg: -0, nested: [{ at: new Date(5) }] },
      Object.assign(Object.create(null) as object, { k: 1 }),
    ];
    for (const value of samples) {
      const text = await superjsonSerializer.stringify(value);
      expect(JSON.parse(text)).toEqual(JSON.parse(superjson.stringify(value)));
      expect(await superjsonSerializer.parse(text)).toEqual(value);
      // What the engine stores is the same text, to the byte.
      expect(await serialize(superjsonSerializer, value, {})).toBe(text);
    }
  });

  it('wraps failures in typed errors naming the instance', async () => {
    const failing: Serializer = { stringify: () => { throw new Error('nope'); }, parse: () => { throw new Error('bad'); } };
    const wrapped = await serialize(failing, { a: 1 }, { machine: 'order', id: 'i-1' }).catch((e: unknown) => e);
    expect(wrapped).toMatchObject({ code: 'FSM_SERIALIZE' });
    expect((wrapped as Error).message).toContain('nope');
    const error = await deserialize(superjsonSerializer, '{oops', { machine: 'order', id: 'i-2' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'FSM_DESERIALIZE' });
    expect((error as Error).message).toContain('order instance i-2');
    // An async serializer's refusal is typed the same way, and so is a runner's read of such data.
    const rejecting: Serializer = { stringify: (v) => JSON.stringify(v), parse: () => Promise.reject(new Error('key revoked')) };
    const late = await deserialize(rejecting, '{}', { machine: 'order', id: 'i-3' }).catch((e: unknown) => e);
    expect(late).toMatchObject({ code: 'FSM_DESERIALIZE', message: expect.stringContaining('key revoked') });
    const locked = defineMachine<{ n: number }>({ name: 'locked', steps: { one: { order: 1 } }, methods: { one: () => {} } });
    const runner = createRunner(locked, { serializer: rejecting });
    const made = await runner.create({ n: 1 });
    await expect(runner.run(made.id)).rejects.toMatchObject({ code: 'FSM_DESERIALIZE', message: expect.stringContaining(`locked instance ${made.id}`) });
  });

  it('accepts an async serializer, e.g. one that encrypts', async () => {
    const reversing: Serializer = {
      stringify: async (v) => [...JSON.stringify(v)].reverse().join(''),
      parse: async (t) => JSON.parse([...t].reverse().join('')) as unknown,
    };
    const text = await serialize(reversing, { secret: 'card' }, {});
    expect(text).not.toContain('"secret"');
    expect(await deserialize(reversing, text, {})).toEqual({ secret: 'card' });
  });
});

/** Data a store cannot keep as it is, each with the path the error must name. */
function unstorable(): Array<[string, Record<string, unknown>, string]> {
  const circular: Record<string, unknown> = { order: { lines: [{ sku: 'a' }] } };
  (circular['order'] as { lines: Array<Record<string, unknown>> }).lines[0]!['parent'] = circular['order'];
  const selfMap = new Map<string, unknown>();
  selfMap.set('me', selfMap);
  return [
    ['a function', { customer: { name: 'ada', greet: () => 'hi' } }, 'data.customer.greet'],
    ['a symbol', { tags: ['x', Symbol('y')] }, 'data.tags[1]'],
    ['a symbol key', { meta: { [Symbol('k')]: 1 } }, 'data.meta[Symbol(k)]'],
    ['a cycle', circular, 'data.order.lines[0].parent'],
    ['a cycle through a Map', { index: selfMap }, 'data.index.values()[0]'],
  ];
}

describe('data that cannot be stored faithfully', () => {
  for (const [label, data, path] of unstorable()) {
    it(`refuses ${label} with FSM_SERIALIZE naming ${path}, whatever the serializer`, async () => {
      for (const serializer of [superjsonSerializer, jsonSerializer]) {
        const error = await serialize(serializer, data, { machine: 'order', id: 'i-9' }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(FsmError);
        expect(error).toMatchObject({ code: 'FSM_SERIALIZE', context: { machine: 'order', id: 'i-9', path } });
        expect((error as Error).message).toContain(path);
        expect((error as Error).message).toContain('order instance i-9');
      }
    });
  }

  it('refuses them in event payloads too, rather than leaving them out', () => {
    for (const [, data, path] of unstorable()) {
      expect(() => toJsonSafe(data)).toThrow(expect.objectContaining({ code: 'FSM_SERIALIZE', context: { path } }) as Error);
    }
  });

  it('keeps shared (non-circular) references, dates and maps', async () => {
    const shared = { city: 'Oslo' };
    const data = { billing: shared, shipping: shared, at: new Date(7), seen: new Map([['a', 1]]) };
    expect(toJsonSafe(data)).toEqual({ billing: { city: 'Oslo' }, shipping: { city: 'Oslo' }, at: new Date(7).toISOString(), seen: { a: 1 } });
    expect(await superjsonSerializer.parse(await serialize(superjsonSerializer, data, {}))).toEqual(data);
  });

  it('writes nothing: neither the instance nor an event, at create and after a step', async () => {
    const store = new MemoryStore();
    const machine = defineMachine<{ n: number; late?: unknown }>({
      name: 'unstorable',
      topic: 'unstorable.fsm',
      steps: { first: { order: 1 } },
      methods: { first: (ctx) => void (ctx.data.late = () => 'not data') },
    });
    const runner = createRunner(machine, { store });
    for (const [, data] of unstorable()) {
      await expect(runner.create(data as { n: number })).rejects.toMatchObject({ code: 'FSM_SERIALIZE' });
    }
    expect(await store.list('unstorable', {})).toEqual([]);
    expect(store.outbox).toEqual([]);

    const started = await runner.start({ n: 1 }).catch((e: unknown) => e);
    const [stored] = await store.list('unstorable', {});
    // The step's change is not stored: the stored data is what it was before the step.
    if (stored !== undefined) expect(await superjsonSerializer.parse(stored.serializedState)).toEqual({ n: 1 });
    if (started instanceof Error) expect(started).toMatchObject({ code: 'FSM_SERIALIZE' });
    else expect(started).toMatchObject({ status: 'failed', error: { code: 'FSM_SERIALIZE' } });
    expect(store.outbox.length).toBeGreaterThan(0);
    expect(store.outbox.every((e) => JSON.stringify(e.data) === JSON.stringify({ n: 1 }))).toBe(true);
  });
});
