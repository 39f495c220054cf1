import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { extract } from '../src/extract.js';
import { fixture, SHOP_MACHINES, tempDir } from './support.js';

/** The data schema of a one-step machine whose data type is `type`, with `declarations` before it. */
function schemaOf(type: string, declarations = '', files: Record<string, string> = {}) {
  const dir = tempDir();
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const file = join(dir, 'm.machine.ts');
  writeFileSync(
    file,
    `import { Machine, Step, type StepContext } from '@fsmkit/decorators';
${declarations}
@Machine({ name: 'm' })
export class M {
  @Step(1) go(ctx: StepContext<${type}>): void {}
}
`,
  );
  return extract({ files: [file] }).machines[0]!.data.schema;
}

describe('data schema', () => {
  it('maps primitives, Date, bigint, Map, Set, nested arrays, optional and nullable fields, imports', () => {
    const payment = extract({ files: SHOP_MACHINES }).machines.find((m) => m.className === 'PaymentMachine')!;
    expect(payment.data.ref).toMatchObject({ from: { file: fixture('shop', 'src', 'types.ts') } });
    expect(payment.data.schema).toEqual({
      type: 'object',
      properties: {
        paymentId: { type: 'string' },
        total: {
          type: 'object',
          properties: { amount: { type: 'string' }, currency: { enum: ['EUR', 'USD'] } },
          required: ['amount', 'currency'],
        },
        status: { enum: ['authorized', 'captured', 'pending'] },
        attempts: { type: 'number' },
        approved: { type: 'boolean' },
        fees: { type: 'object', additionalProperties: { type: 'number' } },
        tags: { type: 'array', items: { type: 'string' } },
        history: {
          type: 'array',
          items: {
            type: 'object',
            properties: { at: { type: 'string', format: 'date-time' }, note: { type: ['string', 'null'] } },
            required: ['at', 'note'],
          },
        },
      },
      required: ['paymentId', 'total', 'status', 'attempts', 'approved', 'fees', 'history'],
    });
  });

  it('resolves aliases, utility types, intersections, enums and tuples', () => {
    expect(schemaOf('Partial<Base> & { extra: boolean }', 'export interface Base { a: number; b?: string }')).toEqual({
      type: 'object',
      properties: { a: { type: 'number' }, b: { type: 'string' }, extra: { type: 'boolean' } },
      required: ['extra'],
    });
    expect(schemaOf('Record<string, number[]>')).toEqual({
      type: 'object',
      properties: {},
      additionalProperties: { type: 'array', items: { type: 'number' } },
    });
    expect(schemaOf('Color', "export enum Color { Red = 'red', Blue = 'blue' }")).toEqual({ enum: ['blue', 'red'] });
    expect(schemaOf('[string, number]')).toEqual({
      type: 'array',
      prefixItems: [{ type: 'string' }, { type: 'number' }],
      minItems: 2,
      maxItems: 2,
    });
    expect(schemaOf('null | number | string')).toEqual({ type: ['string', 'number', 'null'] });
    // Members are sorted, whatever order the checker holds them in.
    expect(schemaOf("{ kind: 'b' | 1 | 'a'; flag: null | boolean }")).toEqual({
      type: 'object',
      properties: { kind: { enum: [1, 'a', 'b'] }, flag: { type: ['boolean', 'null'] } },
      required: ['kind', 'flag'],
    });
  });

  it('follows relative imports across files, also re-exports', () => {
    const schema = schemaOf('Shipment', "import type { Shipment } from './barrel.js';", {
      'barrel.ts': "export type { Shipment } from './shipment.js';\n",
      'shipment.ts': "import type { Address } from './address.js';\nexport interface Shipment { to: Address }\n",
      'address.ts': 'export interface Address { city: string }\n',
    });
    expect(schema).toEqual({
      type: 'object',
      properties: { to: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
      required: ['to'],
    });
  });

  it('follows imports through tsconfig paths aliases', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'shared'));
    writeFileSync(join(dir, 'shared', 'money.ts'), "export interface Money { cents: number; currency: 'EUR' }\n");
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { paths: { '@shared/*': ['./shared/*'] } } }));
    const file = join(dir, 'm.machine.ts');
    writeFileSync(
      file,
      "import { Machine, Step, type StepContext } from '@fsmkit/decorators';\nimport type { Money } from '@shared/money.js';\n" +
        "@Machine({ name: 'm' })\nexport class M {\n  @Step(1) go(ctx: StepContext<{ price: Money }>): void {}\n}\n",
    );
    const price = { type: 'object', properties: { cents: { type: 'number' }, currency: { const: 'EUR' } }, required: ['cents', 'currency'] };
    const [machine] = extract({ files: [file], tsconfig: join(dir, 'tsconfig.json') }).machines;
    expect(machine!.data.schema).toEqual({ type: 'object', properties: { price }, required: ['price'] });
    // Without the tsconfig the alias means nothing: the field is described as any value.
    expect(extract({ files: [file] }).machines[0]!.data.schema).toEqual({ type: 'object', properties: { price: {} }, required: ['price'] });
  });

  it('ends recursive types with {} where they loop, and leaves methods out', () => {
    expect(schemaOf('Tree', 'export interface Tree { label: string; children: Tree[]; size(): number }')).toEqual({
      type: 'object',
      properties: { label: { type: 'string' }, children: { type: 'array', items: {} } },
      required: ['label', 'children'],
    });
  });

  it('falls back to {} for what it cannot describe: unknown, any, types from packages', () => {
    expect(schemaOf('unknown')).toEqual({});
    expect(schemaOf('Buffer')).toEqual({});
    expect(schemaOf('Money', "import type { Money } from 'some-package';")).toEqual({});
    expect(schemaOf('{ blob: Uint8Array; n: number }')).toEqual({
      type: 'object',
      properties: { blob: {}, n: { type: 'number' } },
      required: ['blob', 'n'],
    });
  });
});
