import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { deserialize, serialize, superjsonSerializer, type Serializer } from '../src/index.js';

describe('default serializer', () => {
  it('writes exactly what superjson writes, for plain and for rich data', async () => {
    const samples: unknown[] = [
      { a: 1, b: 'x', c: [true, null, { d: 2.5 }] },
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
    }
  });

  it('wraps failures in typed errors naming the instance', async () => {
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    const failing: Serializer = { stringify: () => { throw new Error('nope'); }, parse: () => { throw new Error('bad'); } };
    await expect(serialize(failing, circular, { machine: 'order', id: 'i-1' })).rejects.toMatchObject({ code: 'FSM_SERIALIZE' });
    const error = await deserialize(superjsonSerializer, '{oops', { machine: 'order', id: 'i-2' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'FSM_DESERIALIZE' });
    expect((error as Error).message).toContain('order instance i-2');
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
