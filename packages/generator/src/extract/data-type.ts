import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ts } from 'ts-morph';
import { tsc } from './ts.js';
import type { FileScope } from './file-scope.js';
import type { DataTypeRef } from './types.js';

/** Global types a self-contained type may use without an import. */
const GLOBAL_TYPES: ReadonlySet<string> = new Set([
  'Array',
  'ReadonlyArray',
  'Date',
  'Map',
  'ReadonlyMap',
  'Set',
  'ReadonlySet',
  'Record',
  'Partial',
  'Required',
  'Readonly',
]);

/** How the runner can name the type written as `T` in `StepContext<T>`. */
export function dataTypeRef(node: ts.TypeNode, scope: FileScope): DataTypeRef {
  if (tsc.isTypeReferenceNode(node) && tsc.isIdentifier(node.typeName) && !node.typeArguments) {
    const name = node.typeName.text;
    const declaration = scope.declarations.get(name);
    if (declaration) {
      if (declaration.exportName === undefined) return { kind: 'unknown', reason: 'not-exported' };
      return { kind: 'import', importedName: declaration.exportName, localName: name, from: { file: scope.sourceFile.fileName } };
    }
    const imported = scope.imports.get(name);
    if (imported) {
      return { kind: 'import', importedName: imported.importedName, localName: name, from: moduleOf(imported.specifier, scope) };
    }
  }
  return selfContained(node) ? { kind: 'inline', text: node.getText(scope.sourceFile) } : { kind: 'unknown', reason: 'not-importable' };
}

/**
 * Where an import specifier points: a relative one becomes the absolute path of the file it
 * names (so the runner can import it from its own folder), a bare one stays a package name.
 */
function moduleOf(specifier: string, scope: FileScope): { file: string } | { package: string } {
  if (!specifier.startsWith('.')) return { package: specifier };
  return { file: resolveRelative(resolve(dirname(scope.sourceFile.fileName), specifier)) };
}

const SOURCE_EXTENSIONS: ReadonlyArray<[string, string[]]> = [
  ['.js', ['.ts', '.tsx', '.d.ts']],
  ['.mjs', ['.mts', '.d.mts']],
  ['.cjs', ['.cts', '.d.cts']],
  ['.jsx', ['.tsx']],
];

/** The source file behind `./x.js` (NodeNext style) or `./x` (bundler style), if it exists. */
export function resolveRelative(path: string): string {
  for (const [js, candidates] of SOURCE_EXTENSIONS) {
    if (!path.endsWith(js)) continue;
    const base = path.slice(0, -js.length);
    for (const ext of candidates) if (existsSync(base + ext)) return base + ext;
    return path;
  }
  if (/\.[cm]?tsx?$/.test(path)) return path;
  for (const ext of ['.ts', '.tsx', '.d.ts', '/index.ts']) if (existsSync(path + ext)) return path + ext;
  return path;
}

/** True when the type names nothing but keywords, literals and well-known globals. */
function selfContained(node: ts.Node): boolean {
  if (tsc.isTypeReferenceNode(node) && !(tsc.isIdentifier(node.typeName) && GLOBAL_TYPES.has(node.typeName.text))) return false;
  if (tsc.isTypeQueryNode(node) || tsc.isImportTypeNode(node) || tsc.isExpressionWithTypeArguments(node)) return false;
  let ok = true;
  node.forEachChild((child) => {
    if (ok && !selfContained(child)) ok = false;
  });
  return ok;
}
