import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../src/diagnostics.js';
import { generate } from '../src/generate.js';
import { at, copyInto, fixture, tempDir } from './support.js';

/** Generates from the given invalid fixtures in a fresh folder; nothing may be written. */
async function generateInvalid(...names: string[]) {
  const dir = tempDir();
  for (const name of names) copyInto(join(dir, 'src'), fixture('invalid', `${name}.machine.ts`));
  const result = await generate({ cwd: dir, include: ['src/*.ts'], outDir: 'out' });
  expect(result.files).toEqual([]);
  expect(result.written).toEqual([]);
  expect(existsSync(join(dir, 'out'))).toBe(false);
  return result.diagnostics;
}

/** Generates from whatever `dir/src` holds; errors are expected, so nothing may be written. */
async function generateInvalidIn(dir: string) {
  const result = await generate({ cwd: dir, include: ['src/*.ts'], outDir: 'out' });
  expect(result.ok).toBe(false);
  expect(existsSync(join(dir, 'out'))).toBe(false);
  return result.diagnostics;
}

/** The diagnostic expected at the `nth` occurrence of `snippet` in the named fixture. */
function expected(name: string, code: string, snippet: string, nth = 1) {
  const file = fixture('invalid', `${name}.machine.ts`);
  return expect.objectContaining({ code, severity: 'error', file: `src/${name}.machine.ts`, ...at(file, snippet, nth), text: snippet });
}

describe('validate', () => {
  it('reports a duplicate step order at the second use', async () => {
    expect(await generateInvalid('duplicate-order')).toEqual([expected('duplicate-order', 'FSM_E_ORDER_DUPLICATE', '1', 2)]);
  });

  it('reports a step order that is not a literal', async () => {
    expect(await generateInvalid('order-not-literal')).toEqual([expected('order-not-literal', 'FSM_E_ORDER_NOT_LITERAL', 'FIRST', 2)]);
  });

  it('reports a step order that is not an integer', async () => {
    expect(await generateInvalid('order-not-integer')).toEqual([expected('order-not-integer', 'FSM_E_ORDER_INVALID', '1.5')]);
  });

  it('reports step orders that are not positive', async () => {
    expect(await generateInvalid('order-not-positive')).toEqual([
      expected('order-not-positive', 'FSM_E_ORDER_INVALID', '0'),
      expected('order-not-positive', 'FSM_E_ORDER_INVALID', '-2'),
    ]);
  });

  it('reports a missing machine name at the decorator', async () => {
    expect(await generateInvalid('name-missing')).toEqual([
      expected('name-missing', 'FSM_E_NAME_MISSING', "@Machine({ topic: 'nameless' })"),
    ]);
  });

  it('reports a machine name that cannot reach SQL', async () => {
    const [d] = await generateInvalid('name-invalid');
    expect(d).toEqual(expected('name-invalid', 'FSM_E_NAME_INVALID', "'order; DROP TABLE x'"));
    expect(d!.message).toContain('"order;_drop_table_x" is not usable in SQL');
  });

  it('reports a back handler naming a missing method', async () => {
    expect(await generateInvalid('back-missing')).toEqual([expected('back-missing', 'FSM_E_BACK_MISSING', "'undoNothing'")]);
  });

  it('reports an unknown lock scope', async () => {
    expect(await generateInvalid('lock-scope')).toEqual([expected('lock-scope', 'FSM_E_LOCK_SCOPE', "'regional'")]);
  });

  it('reports a machine with no steps at its class', async () => {
    expect(await generateInvalid('no-steps')).toEqual([expected('no-steps', 'FSM_E_NO_STEPS', 'NoStepsMachine')]);
  });

  it('reports two machines with one name across files, pointing at the first', async () => {
    const [d] = await generateInvalid('twin-a', 'twin-b');
    expect(d).toEqual(expected('twin-b', 'FSM_E_MACHINE_DUPLICATE', "'Twin'"));
    expect(d!.message).toContain(`TwinAMachine at src/twin-a.machine.ts:${at(fixture('invalid', 'twin-a.machine.ts'), 'TwinAMachine').line}`);
  });

  it('reports a machine class that is not exported', async () => {
    expect(await generateInvalid('not-exported')).toEqual([expected('not-exported', 'FSM_E_CLASS_NOT_EXPORTED', 'NotExportedMachine')]);
  });

  it('reports options that are not literals, unknown or of the wrong type', async () => {
    expect(await generateInvalid('options-not-literal')).toEqual([
      expected('options-not-literal', 'FSM_E_OPTION_NOT_LITERAL', 'TOPIC', 2),
      expected('options-not-literal', 'FSM_E_OPTION_NOT_LITERAL', 'stepOptions', 2),
      expected('options-not-literal', 'FSM_E_OPTION_UNKNOWN', 'retrys'),
      expected('options-not-literal', 'FSM_E_OPTION_TYPE', "'yes'"),
    ]);
  });

  it('reports steps that disagree on the data type', async () => {
    expect(await generateInvalid('data-mismatch')).toEqual([expected('data-mismatch', 'FSM_E_DATA_TYPE_MISMATCH', 'B', 2)]);
  });

  it('reports every problem of every file at once, formatted with file:line:col and the text', async () => {
    const names = [
      'back-missing',
      'data-mismatch',
      'duplicate-order',
      'lock-scope',
      'name-invalid',
      'name-missing',
      'no-steps',
      'not-exported',
      'options-not-literal',
      'order-not-integer',
      'order-not-literal',
      'order-not-positive',
      'twin-a',
      'twin-b',
    ];
    const diagnostics = await generateInvalid(...names);
    expect(diagnostics).toHaveLength(17);
    expect(new Set(diagnostics.map((d) => d.file.replace(/^src\/|\.machine\.ts$/g, '')))).toEqual(new Set(names.filter((n) => n !== 'twin-a')));
    const where = at(fixture('invalid', 'name-invalid.machine.ts'), "'order; DROP TABLE x'");
    const text = formatDiagnostic(diagnostics.find((d) => d.code === 'FSM_E_NAME_INVALID')!);
    expect(text).toMatch(new RegExp(`^src/name-invalid\\.machine\\.ts:${where.line}:${where.column}  FSM_E_NAME_INVALID  machine name`));
    expect(text.split('\n')[1]).toBe("    > 'order; DROP TABLE x'");
  });

  it('warns, without failing, about a data type it cannot import and a base class it cannot read', async () => {
    const dir = tempDir();
    copyInto(join(dir, 'src'), fixture('shop', 'src', 'report.machine.ts'));
    writeFileSync(
      join(dir, 'src', 'child.machine.ts'),
      "import { Machine, Step } from '@fsmkit/decorators';\nimport { Base } from 'some-package';\n@Machine({ name: 'child' })\nexport class Child extends Base {\n  @Step(1) go(): void {}\n}\n",
    );
    const result = await generate({ cwd: dir, include: ['src/*.ts'], outDir: 'out' });
    const reportData = at(fixture('shop', 'src', 'report.machine.ts'), 'ReportData>');
    expect(result.diagnostics.map((d) => [d.code, d.severity, d.file, d.line, d.column])).toEqual([
      // At the class name: `export class Child`.
      ['FSM_W_EXTENDS', 'warning', 'src/child.machine.ts', 4, 14],
      ['FSM_W_DATA_TYPE_NOT_EXPORTED', 'warning', 'src/report.machine.ts', reportData.line, reportData.column],
    ]);
    expect(result.diagnostics[0]!.message).toBe(
      "Child extends Base, which is not read from source (it is imported from the package 'some-package'): " +
        'steps, @Lock and back handlers it inherits from there are ignored; declare them on Child',
    );
    expect(result.ok).toBe(true);
    expect(existsSync(join(dir, 'out', 'report.runner.ts'))).toBe(true);
  });

  it('names the ancestor whose base it cannot read', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'src'));
    writeFileSync(
      join(dir, 'src', 'child.machine.ts'),
      [
        "import { Machine, Step } from '@fsmkit/decorators';",
        'abstract class Middle extends Timestamped(Object) {}',
        "@Machine({ name: 'child' })",
        'export class Child extends Middle {',
        "  @Step(1, { back: 'fromTheMixin' }) go(): void {}",
        '}',
        'declare function Timestamped<T>(base: T): T;',
      ].join('\n'),
    );
    const result = await generate({ cwd: dir, include: ['src/*.ts'], outDir: 'out' });
    // The mixin's methods are unknown, so `back` is not checked against them.
    expect(result.diagnostics.map((d) => [d.code, d.file, d.line, d.message])).toEqual([
      [
        'FSM_W_EXTENDS',
        'src/child.machine.ts',
        4,
        'Child inherits, through Middle, from Timestamped(Object), which is not read from source (only a class name is followed, not an expression): ' +
          'steps, @Lock and back handlers it inherits from there are ignored; declare them on Child',
      ],
    ]);
    expect(result.ok).toBe(true);
  });

  it('reads a base class in source without a warning, and checks back handlers against inherited methods', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'src'));
    writeFileSync(
      join(dir, 'src', 'child.machine.ts'),
      [
        "import { Machine, Step } from '@fsmkit/decorators';",
        'class Base {',
        '  undo(): void {}',
        '}',
        "@Machine({ name: 'child' })",
        'export class Child extends Base {',
        "  @Step(1, { back: 'undo' }) go(): void {}",
        "  @Step(2, { back: 'redo' }) again(): void {}",
        '}',
      ].join('\n'),
    );
    const result = await generate({ cwd: dir, include: ['src/*.ts'], outDir: 'out' });
    expect(result.diagnostics.map((d) => [d.code, d.file, d.line, d.text])).toEqual([
      ['FSM_E_BACK_MISSING', 'src/child.machine.ts', 8, "'redo'"],
    ]);
  });

  it('reports a problem of an inherited step where the base class writes it', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'src'));
    mkdirSync(join(dir, 'shared'));
    const base = join(dir, 'shared', 'steps.ts');
    writeFileSync(
      base,
      [
        "import { Step, type StepContext } from '@fsmkit/decorators';",
        'export abstract class Steps {',
        '  @Step(1) first(ctx: StepContext<{ n: number }>): void {}',
        '  @Step(2) second(ctx: StepContext<{ n: string }>): void {}',
        "  @Step(3, { back: 'nowhere' }) third(): void {}",
        '}',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'src', 'child.machine.ts'),
      [
        "import { Machine, Step } from '@fsmkit/decorators';",
        "import { Steps } from '../shared/steps.js';",
        "@Machine({ name: 'child' })",
        'export class Child extends Steps {',
        '  // Marked again: now order 2 twice, the inherited `second` being the later one.',
        '  @Step(2) override first(): void {}',
        '}',
      ].join('\n'),
    );
    const diagnostics = await generateInvalidIn(dir);
    const where = (snippet: string) => ({ file: 'shared/steps.ts', ...at(base, snippet), text: snippet });
    expect(diagnostics).toEqual([
      expect.objectContaining({ code: 'FSM_E_ORDER_DUPLICATE', ...where('2') }),
      expect.objectContaining({ code: 'FSM_E_BACK_MISSING', ...where("'nowhere'") }),
    ]);
    expect(diagnostics[0]!.message).toBe('step order 2 is used by both "first" and "second"');
  });

  it('reports steps that disagree on the data type when one is inherited, at the inherited one', async () => {
    const dir = tempDir();
    copyInto(dir, fixture('inherit', 'shared'));
    mkdirSync(join(dir, 'src'));
    writeFileSync(
      join(dir, 'src', 'odd.machine.ts'),
      [
        "import { Machine, Step, type StepContext } from '@fsmkit/decorators';",
        "import { AuditedParcel } from '../shared/index.js';",
        "@Machine({ name: 'odd' })",
        'export class OddMachine extends AuditedParcel {',
        '  @Step(3) ship(ctx: StepContext<{ other: true }>): void {}',
        '}',
      ].join('\n'),
    );
    const diagnostics = await generateInvalidIn(dir);
    // AuditedParcel<T = ParcelData>: its steps name ParcelData, through the default, as written in the base.
    expect(diagnostics.map((d) => [d.code, d.file, d.text])).toEqual([['FSM_E_DATA_TYPE_MISMATCH', 'src/odd.machine.ts', '{ other: true }']]);
    expect(diagnostics[0]!.message).toContain('this one differs from ParcelData');
  });
});

describe('validate: the machine graph', () => {
  it('reports every unknown target, from state, duplicate name and missing guard at its literal', async () => {
    const name = 'graph-targets';
    const diagnostics = await generateInvalid(name);
    expect(diagnostics).toEqual([
      expected(name, 'FSM_E_TARGET_UNKNOWN', "'begin'"),
      expected(name, 'FSM_E_TARGET_UNKNOWN', "'nowhere'"),
      expected(name, 'FSM_E_TARGET_UNKNOWN', "'limbo'"),
      expected(name, 'FSM_E_MATCHER_INVALID', '[]'),
      expected(name, 'FSM_E_OPTION_NOT_LITERAL', 'NEXT_STATES', 2),
      expected(name, 'FSM_E_FROM_UNKNOWN', "'closed_early'"),
      expected(name, 'FSM_E_METHOD_MISSING', "'mayClose'"),
      expected(name, 'FSM_E_TRANSITION_DUPLICATE', "'close'", 2),
      expected(name, 'FSM_E_STEP_NAME_RESERVED', "'done'"),
    ]);
    expect(diagnostics[1]!.message).toContain('step "start" names next state "nowhere"');
    expect(formatDiagnostic(diagnostics[2]!)).toMatch(/^src\/graph-targets\.machine\.ts:\d+:\d+ {2}FSM_E_TARGET_UNKNOWN {2}step "check" catches errors to "limbo"/);
  });

  it('reports ctx.goto to a state the step does not declare, at the call', async () => {
    const name = 'goto-undeclared';
    const diagnostics = await generateInvalid(name);
    expect(diagnostics).toEqual([
      expected(name, 'FSM_E_GOTO_UNDECLARED', "'reject'"),
      expected(name, 'FSM_E_GOTO_UNDECLARED', "'score'"),
      // Its only way in was the undeclared goto.
      expect.objectContaining({ code: 'FSM_W_UNREACHABLE', severity: 'warning', text: 'reject' }),
    ]);
    expect(diagnostics[0]!.message).toContain("declared next: 'approve', 'review'");
    expect(diagnostics[1]!.message).toContain("it declares no next, so it may only go to 'approve'");
  });

  it('reports a transition whose data type differs from the steps', async () => {
    const diagnostics = await generateInvalid('transition-data');
    expect(diagnostics).toEqual([expected('transition-data', 'FSM_E_DATA_TYPE_MISMATCH', '{ id: number }')]);
    expect(diagnostics[0]!.message).toContain('this one differs from { id: string }');
  });

  it('warns of an unreachable step and of an input type with no schema, and still writes', async () => {
    const dir = tempDir();
    copyInto(join(dir, 'src'), fixture('invalid', 'warnings.machine.ts'));
    const result = await generate({ cwd: dir, include: ['src/*.ts'], outDir: 'out' });
    const file = fixture('invalid', 'warnings.machine.ts');
    expect(result.diagnostics).toEqual([
      expect.objectContaining({ code: 'FSM_W_UNREACHABLE', severity: 'warning', ...at(file, 'orphan'), text: 'orphan' }),
      expect.objectContaining({ code: 'FSM_W_INPUT_SCHEMA', severity: 'warning', ...at(file, '(n: number) => void') }),
    ]);
    expect(result.diagnostics[1]!.message).toContain('the input type (n: number) => void of transition "tag"');
    expect(result.ok).toBe(true);
    expect(existsSync(join(dir, 'out', 'warnings.runner.ts'))).toBe(true);
  });
});
