import { describe, expect, it } from 'vitest';
import type { ts } from 'ts-morph';
import { SchemaCollector } from '../src/extract/data-schema.js';
import { parse } from '../src/extract/parse.js';
import { fileTypes, syntaxSchema } from '../src/extract/syntax-schema.js';
import { tsc } from '../src/extract/ts.js';

const DECLARATIONS = `
import type { Imported } from 'some-package';
export interface Line { sku: string; qty: number }
export interface Tree { label: string; children: Tree[]; parent?: Tree | null; size(): number }
export type Status = 'new' | 'paid' | 'shipped';
type Flags = { on: boolean; off?: boolean; maybe: boolean | null };
interface Merged { a: string }
interface Merged { b: number }
interface Generic<T> { value: T }
interface Extended extends Line { extra: string }
interface Callable { (): void }
interface Empty {}
type Loop = Loop[];
enum Color { Red = 'red' }
`;

/** The type written as `T`, read from the syntax (undefined: left to the checker) and through the checker alone. */
function both(type: string, declarations = DECLARATIONS) {
  const sourceFile = parse('/project/m.ts', `${declarations}\nexport type T = ${type};\n`);
  const alias = sourceFile.statements.find((s): s is ts.TypeAliasDeclaration => tsc.isTypeAliasDeclaration(s) && s.name.text === 'T')!;
  const checker = new SchemaCollector({}, new Map(), { syntax: false });
  checker.add(sourceFile, alias.type);
  return { syntax: syntaxSchema(alias.type, fileTypes(sourceFile)), checker: checker.derive()[0] };
}

describe('data schemas from the syntax', () => {
  const READ = [
    'string',
    'number',
    'boolean',
    'bigint',
    'object',
    'any',
    'unknown',
    'undefined',
    'null | string',
    "'b' | 'a' | 1",
    'boolean | null',
    'true | false',
    'true',
    'Date',
    'Date | null',
    'Set<string>',
    'ReadonlySet<Line>',
    'Map<string, Line[]>',
    'ReadonlyMap<string, number>',
    'Line[]',
    'readonly Line[]',
    'Array<Line> | null',
    'Line[] | Set<number>',
    '(string | number)[]',
    'Line',
    'Line | null',
    'Tree',
    'Status',
    'Flags',
    '{ s: Status; t?: Status; u: Status | null }',
    '{ f: () => void; m(): void; x: number }',
    "{ 'quoted-name': string; plain: number }",
    '{ a?: any; b?: unknown; c: string | undefined; d?: string | undefined; e?: boolean }',
    '{ nested: { deeper: { deepest: Line[] } } }',
    '{ x: Line | Tree | null }',
  ];
  it.each(READ)('reads %s as the checker does', (type) => {
    const { syntax, checker } = both(type);
    expect(syntax).toBeDefined();
    expect(syntax).toEqual(checker);
  });

  const LEFT = [
    'Partial<Line>',
    'Line & { extra: 1 }',
    '[string, number]',
    "string | 'a'",
    'number | 1',
    'boolean | true',
    'Line | Line',
    'Record<string, number>',
    '{ [key: string]: number }',
    '-1',
    '{} | Line',
    'Generic<string>',
    'Extended',
    'Merged',
    'Callable',
    'Loop',
    'Color',
    'Imported',
    'Unknown',
    '{ f?: () => void }',
    '`a${string}`',
    'keyof Line',
    'Line["sku"]',
    'void | string',
    'symbol',
  ];
  it.each(LEFT)('leaves %s to the checker', (type) => {
    expect(both(type).syntax).toBeUndefined();
  });

  it('leaves a global name a file declares again to the checker', () => {
    expect(both('Date', 'interface Date { at: string }').syntax).toBeUndefined();
    expect(both('Set<string>', "import type { Set } from 'immutable';").syntax).toBeUndefined();
  });

  it('leaves files that declare modules or globals to the checker', () => {
    expect(both('Line', `${DECLARATIONS}\ndeclare global { interface Window { x: 1 } }`).syntax).toBeUndefined();
  });

  it('gives up before the depth where the checker stops', () => {
    const deep = (n: number): string => (n === 0 ? 'string' : `{ a: ${deep(n - 1)} }`);
    const { syntax, checker } = both(deep(4));
    expect(syntax).toEqual(checker);
    expect(both(deep(20)).syntax).toBeUndefined();
  });
});
