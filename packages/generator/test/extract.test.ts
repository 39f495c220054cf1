import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { extract } from '../src/extract.js';
import { GRAPH_MACHINES } from './graph-suite.js';
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
    expect(byClass('OrderMachine').unresolvedBase).toBeUndefined();
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

  it('keeps non-literal arguments as such, with their text and the name an identifier refers to', () => {
    const file = fixture('invalid', 'order-not-literal.machine.ts');
    const [machine] = extract({ files: [file] }).machines;
    expect(machine!.steps[0]!.decorator.args[0]).toEqual({
      kind: 'nonliteral',
      loc: { file, ...at(file, 'FIRST)'), text: 'FIRST' },
      reference: 'FIRST',
    });
  });

  it('reads goto calls of each step and the input type of each transition', () => {
    const [loan, ticket] = extract({ files: GRAPH_MACHINES }).machines;
    const loanFile = GRAPH_MACHINES[0]!;
    const score = loan!.steps.find((s) => s.method === 'score')!;
    expect(score.gotos.map((g) => [g.target, g.loc.line])).toEqual([
      ['approve', at(loanFile, "ctx.goto('approve')").line],
      ['reject', at(loanFile, "ctx.goto('reject')").line],
      ['review', at(loanFile, "ctx.goto('review')").line],
    ]);
    const assign = ticket!.transitions.find((t) => t.method === 'assign')!;
    expect(assign.inputLoc).toMatchObject({ text: 'AssignInput' });
    expect(assign.inputRef).toMatchObject({ kind: 'import', importedName: 'AssignInput' });
    expect(ticket!.transitions.find((t) => t.method === 'cancel')!.inputLoc).toBeUndefined();
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

/** Writes `files` (path -> lines) into a fresh folder and extracts the first one alone. */
function extractFirst(files: Record<string, string[]>) {
  const dir = tempDir();
  for (const [path, lines] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), lines.join('\n') + '\n');
  }
  const [machine] = extract({ files: [join(dir, Object.keys(files)[0]!)] }).machines;
  return { machine: machine!, dir };
}

const IMPORTS = "import { Lock, Machine, Step, type StepContext } from '@fsmkit/decorators';";

describe('extract, with inheritance', () => {
  const file = (...parts: string[]) => fixture('inherit', ...parts);
  const { machines } = extract({ files: ['express.machine.ts', 'letter.machine.ts', 'parcel.machine.ts'].map((f) => file('src', f)) });
  const byClass = (name: string) => machines.find((m) => m.className === name)!;
  const steps = (name: string) =>
    byClass(name).steps.map((s) => {
      const [order, options] = s.decorator.args;
      return [s.method, order?.kind === 'number' ? order.value : undefined, options?.kind === 'object' ? Object.keys(options.properties) : []];
    });

  it('reads steps from a base in the same file: a new @Step replaces the inherited one', () => {
    expect(steps('LetterMachine')).toEqual([
      ['stamp', 1, ['back']],
      ['post', 3, ['name']],
      ['sort', 2, []],
    ]);
    expect(byClass('LetterMachine').lock.map((l) => l.loc.text)).toEqual(["@Lock('global')"]);
    expect(byClass('LetterMachine').methods).toEqual(expect.arrayContaining(['refundStamp', 'post', 'sort', 'stamp']));
    expect(byClass('LetterMachine').unresolvedBase).toBeUndefined();
  });

  it('reads steps and @Lock from a base imported from a file outside the included ones', () => {
    const audited = file('shared', 'audited.ts');
    const parcel = byClass('ParcelMachine');
    expect(steps('ParcelMachine')).toEqual([
      ['register', 1, ['back']],
      // Overridden without @Step: the inherited step stays, where the base writes it.
      ['weigh', 2, []],
      ['close', 4, ['name']],
      ['ship', 3, ['back']],
    ]);
    expect(parcel.steps[0]!.loc).toEqual({ file: audited, ...at(audited, 'register('), text: 'register' });
    expect(parcel.steps[1]!.decorator.loc).toMatchObject({ file: audited, ...at(audited, '@Step(2)') });
    expect(parcel.steps[2]!.loc).toMatchObject({ file: file('src', 'parcel.machine.ts'), ...at(file('src', 'parcel.machine.ts'), 'close(') });
    expect(parcel.lock.map((l) => [l.loc.file, l.loc.text])).toEqual([[audited, "@Lock('local', { by: 'user' })"]]);
    // `back: 'recall'` names a method only the base declares.
    expect(parcel.methods).toContain('recall');
    expect(parcel.unresolvedBase).toBeUndefined();
  });

  it('follows a chain of bases across files, with the nearest @Lock', () => {
    expect(steps('ExpressParcelMachine').map(([method, order]) => [method, order])).toEqual([
      ['register', 1],
      ['weigh', 2],
      ['close', 4],
      ['ship', 3],
      ['notify', 5],
    ]);
    expect(byClass('ExpressParcelMachine').lock.map((l) => l.loc.text)).toEqual(["@Lock('local', { by: 'type' })"]);
    expect(byClass('ExpressParcelMachine').machine).toHaveLength(1);
  });

  it("binds a generic base's StepContext<T> to the type argument its subclass gives", () => {
    const parcelFile = file('src', 'parcel.machine.ts');
    for (const name of ['ParcelMachine', 'ExpressParcelMachine'])
      expect(byClass(name).data).toMatchObject({
        ref: { kind: 'import', importedName: 'ParcelData', localName: 'ParcelData', from: { file: file('shared', 'index.ts') } },
        loc: { file: parcelFile, ...at(parcelFile, 'ParcelData> {'), text: 'ParcelData' },
        conflicts: [],
        schema: { type: 'object', required: ['parcelId', 'log'] },
      });
  });

  it('takes the data type from an inherited step in its own file, and compares written types across files', () => {
    const { machine, dir } = extractFirst({
      'src/a.machine.ts': [
        IMPORTS,
        "import { Base } from '../lib/base.js';",
        "@Machine({ name: 'a' })",
        'export class A extends Base {',
        '  @Step(2) two(ctx: StepContext<{ n: string }>): void {}',
        '}',
      ],
      'lib/base.ts': [
        IMPORTS,
        'export interface Counter { n: number }',
        'export class Base {',
        '  @Step(1) one(ctx: StepContext<Counter>): void {}',
        '}',
      ],
    });
    const base = join(dir, 'lib', 'base.ts');
    expect(machine.data).toMatchObject({
      ref: { kind: 'import', importedName: 'Counter', from: { file: base } },
      loc: { file: base, ...at(base, 'Counter>') },
      schema: { properties: { n: { type: 'number' } } },
      conflicts: [{ file: join(dir, 'src', 'a.machine.ts'), text: '{ n: string }' }],
    });
  });

  it('finds a base through a folder index, a default export, a renamed export and `export *`', () => {
    const base = (name: string, method: string) => ['export class ' + name + ' {', `  @Step(1) ${method}(): void {}`, '}'];
    const cases: Array<[string, Record<string, string[]>]> = [
      ["import { Base } from './lib';", { 'src/lib/index.ts': [IMPORTS, ...base('Base', 'viaIndex')] }],
      ["import Base from './lib/base.js';", { 'src/lib/base.ts': [IMPORTS, 'export default class {', '  @Step(1) viaDefault(): void {}', '}'] }],
      [
        "import { Base } from './lib/index.js';",
        {
          'src/lib/index.ts': ["export { Hidden as Base } from './hidden.js';"],
          'src/lib/hidden.ts': [IMPORTS, ...base('Hidden', 'viaRename')],
        },
      ],
      [
        "import { Base } from './lib/index.mjs';",
        { 'src/lib/index.mts': ["export * from './all.js';"], 'src/lib/all.ts': [IMPORTS, ...base('Base', 'viaStar')] },
      ],
      [
        "import { Base } from './lib/index.js';",
        {
          'src/lib/index.ts': ["import { Local } from './local.js';", 'export { Local as Base };'],
          'src/lib/local.ts': [IMPORTS, ...base('Local', 'viaImport')],
        },
      ],
    ];
    const found = cases.map(([importLine, files]) => {
      const { machine } = extractFirst({
        'src/m.machine.ts': [IMPORTS, importLine, "@Machine({ name: 'm' })", 'export class M extends Base {}'],
        ...files,
      });
      expect(machine.unresolvedBase).toBeUndefined();
      return machine.steps.map((s) => s.method);
    });
    expect(found).toEqual([['viaIndex'], ['viaDefault'], ['viaRename'], ['viaStar'], ['viaImport']]);
  });

  it('says which base it cannot read and why, and still reads the ancestors below it', () => {
    const machineExtending = (base: string, ...before: string[]) => ({
      'src/m.machine.ts': [IMPORTS, ...before, "@Machine({ name: 'm' })", `export class M extends ${base} {`, '  @Step(1) go(): void {}', '}'],
    });
    const unresolved = (files: Record<string, string[]>) => extractFirst(files).machine.unresolvedBase;
    expect(unresolved(machineExtending('Base', "import { Base } from 'some-package';"))).toEqual({
      className: 'M',
      text: 'Base',
      reason: "it is imported from the package 'some-package'",
    });
    expect(unresolved(machineExtending('Timestamped(Object)', 'declare function Timestamped<T>(c: T): T;'))).toMatchObject({
      text: 'Timestamped(Object)',
      reason: 'only a class name is followed, not an expression',
    });
    expect(unresolved(machineExtending('Base', 'const Base = class {};'))?.reason).toBe(
      'Base is neither a class declared at the top level of its file nor imported',
    );
    expect(unresolved(machineExtending('Base', "import { Base } from './missing.js';"))?.reason).toBe(
      "'./missing.js' leads to no TypeScript source file",
    );
    expect(
      unresolved({ ...machineExtending('Base', "import { Base } from './typed.js';"), 'src/typed.d.ts': ['export declare class Base {}'] })
        ?.reason,
    ).toBe("'./typed.js' leads to a declaration file, which holds no decorators");
    expect(
      unresolved({ ...machineExtending('Base', "import { Base } from './base.js';"), 'src/base.ts': ['class Base {}', 'export class Other {}'] })
        ?.reason,
    ).toBe("'./base.js' exports no class Base");

    const { machine } = extractFirst({
      ...machineExtending('Middle', "import { Middle } from './middle.js';"),
      'src/middle.ts': [IMPORTS, "import { Mixed } from 'mixins';", "@Lock('global')", 'export class Middle extends Mixed {', '  @Step(2) more(): void {}', '}'],
    });
    expect(machine.unresolvedBase).toEqual({ className: 'Middle', text: 'Mixed', reason: "it is imported from the package 'mixins'" });
    expect(machine.steps.map((s) => s.method)).toEqual(['more', 'go']);
    expect(machine.lock).toHaveLength(1);
  });

  it('stops at a class that extends itself', () => {
    const { machine } = extractFirst({
      'src/m.machine.ts': [IMPORTS, 'class A extends B {}', 'class B extends A {}', "@Machine({ name: 'm' })", 'export class M extends A {}'],
    });
    expect(machine.unresolvedBase).toEqual({ className: 'B', text: 'A', reason: 'it extends itself' });
  });

  it('leaves out a base step whose data type only its subclass knows', () => {
    const { machine, dir } = extractFirst({
      'src/m.machine.ts': [
        IMPORTS,
        'export interface Data { id: string }',
        'abstract class Wrapped<T> {',
        '  @Step(1) wrap(ctx: StepContext<T[]>): void {}',
        '}',
        'abstract class Defaulted<U, T = U> extends Wrapped<T> {',
        '  @Step(2) take(ctx: StepContext<T>): void {}',
        '}',
        "@Machine({ name: 'm' })",
        'export class M extends Defaulted<Data> {}',
      ],
    });
    const file = join(dir, 'src', 'm.machine.ts');
    // `T[]` cannot be written outside Wrapped; `T` of Defaulted defaults to U, bound to Data.
    expect(machine.data).toMatchObject({ ref: { kind: 'import', importedName: 'Data' }, loc: { file, ...at(file, 'Data> {}') }, conflicts: [] });
    expect(machine.steps.map((s) => s.method)).toEqual(['wrap', 'take']);
  });
});
