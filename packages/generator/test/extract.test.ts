import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { extract } from '../src/extract.js';
import { at, fixture, SHOP_MACHINES, tempDir } from './support.js';

describe('extract', () => {
  const { machines } = extract({ files: SHOP_MACHINES });
  const byClass = (name: string) => machines.find((m) => m.className === name)!;

  it('finds every @Machine class, sorted by file, and nothing else', () => {
    expect(machines.map((m) => m.className)).toEqual(['AuditMachine', 'OrderMachine', 'PaymentMachine', 'ReportMachine']);
  });

  it('reads literal arguments with their source positions', () => {
    const order = byClass('OrderMachine');
    const file = fixture('shop', 'src', 'order.machine.ts');
    const [options] = order.machine[0]!.args;
    expect(options?.kind).toBe('object');
    const name = options?.kind === 'object' ? options.properties.name : undefined;
    expect(name).toEqual({ kind: 'string', value: 'order', loc: { file, ...at(file, "'order'"), text: "'order'" } });
    expect(order.lock[0]!.args.map((a) => a.kind)).toEqual(['string', 'object']);
    expect(order.steps.map((s) => [s.method, s.decorator.args[0]])).toEqual([
      ['reserveStock', { kind: 'number', value: 1, loc: { file, ...at(file, '1, {'), text: '1' } }],
      ['charge', { kind: 'number', value: 2, loc: { file, ...at(file, '2, { back'), text: '2' } }],
      ['ship', { kind: 'number', value: 3, loc: { file, ...at(file, '3, {'), text: '3' } }],
    ]);
    const chargeOptions = order.steps[1]!.decorator.args[1];
    const retry = chargeOptions?.kind === 'object' ? chargeOptions.properties.retry : undefined;
    expect(retry?.kind === 'object' && retry.properties.factor).toMatchObject({ kind: 'number', value: 2 });
    expect(chargeOptions?.kind === 'object' && chargeOptions.properties.timeoutMs).toMatchObject({ kind: 'number', value: 5000 });
    expect(order.loc).toMatchObject({ ...at(file, 'OrderMachine {'), text: 'OrderMachine' });
  });

  it('lists every method, for back handler checks, and how the class is exported', () => {
    expect(byClass('OrderMachine').methods).toEqual(['reserveStock', 'charge', 'ship', 'releaseStock', 'refund']);
    expect(byClass('OrderMachine').exportName).toBe('OrderMachine');
    expect(byClass('AuditMachine').exportName).toBe('AuditMachine');
    expect(byClass('ReportMachine').exportName).toBe('default');
    expect(byClass('OrderMachine').extendsBase).toBe(false);
  });

  it('recognises decorators imported under an alias or through a namespace', () => {
    const payment = byClass('PaymentMachine');
    expect(payment.machine).toHaveLength(1);
    expect(payment.lock[0]!.args[0]).toMatchObject({ kind: 'string', value: 'global' });
    expect(payment.steps.map((s) => s.method)).toEqual(['auth', 'capture']);
    expect(byClass('AuditMachine').steps.map((s) => s.method)).toEqual(['record']);
  });

  it('records how to import the data type, or its text, or that there is none usable', () => {
    const file = fixture('shop', 'src', 'order.machine.ts');
    expect(byClass('OrderMachine').data).toMatchObject({
      ref: { kind: 'import', importedName: 'OrderData', localName: 'OrderData', from: { file } },
      loc: { file, ...at(file, 'OrderData>'), text: 'OrderData' },
      conflicts: [],
    });
    expect(byClass('PaymentMachine').data.ref).toEqual({
      kind: 'import',
      importedName: 'PaymentData',
      localName: 'PaymentData',
      from: { file: fixture('shop', 'src', 'types.ts') },
    });
    expect(byClass('AuditMachine').data.ref).toEqual({ kind: 'inline', text: '{ entries: string[]; at: Date }' });
    expect(byClass('ReportMachine').data.ref).toEqual({ kind: 'unknown', reason: 'not-exported' });
  });

  it('keeps non-literal arguments as such, with their text', () => {
    const file = fixture('invalid', 'order-not-literal.machine.ts');
    const [machine] = extract({ files: [file] }).machines;
    expect(machine!.steps[0]!.decorator.args[0]).toEqual({ kind: 'nonliteral', loc: { file, ...at(file, 'FIRST)'), text: 'FIRST' } });
  });

  it('reads the source without running it', () => {
    const dir = tempDir();
    const file = join(dir, 'boom.machine.ts');
    writeFileSync(
      file,
      [
        "import { Machine, Step } from '@fsmkit/decorators';",
        "throw new Error('user code ran');",
        "@Machine({ name: 'boom' })",
        'export class BoomMachine {',
        '  @Step(1) go(): void {}',
        '}',
      ].join('\n'),
    );
    expect(extract({ files: [file] }).machines.map((m) => m.className)).toEqual(['BoomMachine']);
  });

  it('ignores files that cannot declare a machine and classes without @Machine', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'plain.ts'), 'export class Plain { run() { return 1; } }\n');
    writeFileSync(join(dir, 'other.ts'), "import { Machine } from './elsewhere.js';\nexport class NotDecorated { m = Machine; }\n");
    expect(extract({ files: [join(dir, 'plain.ts'), join(dir, 'other.ts')] }).machines).toEqual([]);
  });

  it('derives the data schema from the TypeScript type', () => {
    expect(byClass('OrderMachine').data.schema).toEqual({
      type: 'object',
      properties: {
        orderId: { type: 'string' },
        lines: {
          type: 'array',
          items: { type: 'object', properties: { sku: { type: 'string' }, qty: { type: 'number' } }, required: ['sku', 'qty'] },
        },
        totalCents: { type: 'number' },
        placedAt: { type: 'string', format: 'date-time' },
        status: { enum: ['new', 'paid', 'shipped'] },
        chargeId: { type: 'string' },
      },
      required: ['orderId', 'lines', 'totalCents', 'placedAt'],
    });
    // Not importable, but the checker still knows its shape.
    expect(byClass('ReportMachine').data.schema).toEqual({
      type: 'object',
      properties: { pages: { type: 'number' } },
      required: ['pages'],
    });
  });
});
