import { existsSync } from 'node:fs';
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

  it('warns, without failing, about a data type it cannot import and a class that extends another', async () => {
    const dir = tempDir();
    copyInto(join(dir, 'src'), fixture('shop', 'src', 'report.machine.ts'));
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      join(dir, 'src', 'child.machine.ts'),
      "import { Machine, Step } from '@fsmkit/decorators';\nclass Base {}\n@Machine({ name: 'child' })\nexport class Child extends Base {\n  @Step(1) go(): void {}\n}\n",
    );
    const result = await generate({ cwd: dir, include: ['src/*.ts'], outDir: 'out' });
    expect(result.diagnostics.map((d) => [d.code, d.severity, d.file, d.line])).toEqual([
      ['FSM_W_EXTENDS', 'warning', 'src/child.machine.ts', 4],
      ['FSM_W_DATA_TYPE_NOT_EXPORTED', 'warning', 'src/report.machine.ts', at(fixture('shop', 'src', 'report.machine.ts'), 'ReportData>').line],
    ]);
    expect(result.ok).toBe(true);
    expect(existsSync(join(dir, 'out', 'report.runner.ts'))).toBe(true);
  });
});
