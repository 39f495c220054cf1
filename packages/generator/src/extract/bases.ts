import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ts } from 'ts-morph';
import { tsc } from './ts.js';
import { addImport } from './data-schema.js';
import { resolveRelative } from './data-type.js';
import { scopeOf, type FileScope } from './file-scope.js';
import { parse } from './parse.js';
import type { UnresolvedBase } from './types.js';

/** A type as written, with the file that gives its names their meaning. */
export interface TypeInFile {
  node: ts.TypeNode;
  scope: FileScope;
}

/** A class declaration read from source, as seen from the machine class that inherits it. */
export interface ClassInFile {
  node: ts.ClassDeclaration;
  scope: FileScope;
  /** The class's type parameters bound by the `extends Base<T>` clauses below it; unbound ones are absent. */
  typeArgs: ReadonlyMap<string, TypeInFile>;
}

export interface Ancestry {
  /** The ancestors read from source, nearest first. */
  bases: ClassInFile[];
  /** The first `extends` that could not be followed; ancestors above it are unknown. */
  unresolved?: UnresolvedBase;
}

type Found = { found: Omit<ClassInFile, 'typeArgs'> } | { reason: string };

/**
 * Follows `extends` from a machine class to its ancestors in source: a class declared in the
 * same file, or one imported from a relative module (through re-exports too). Files outside
 * the included ones are parsed on demand, once per run.
 */
export class BaseResolver {
  private readonly scopes = new Map<string, FileScope | undefined>();

  /** `imports` records, for every file an `extends` is followed from, the files it leads to. */
  constructor(private readonly imports: Map<string, Set<string>> = new Map()) {}

  ancestryOf(machine: ClassInFile): Ancestry {
    const bases: ClassInFile[] = [];
    const seen = new Set<ts.ClassDeclaration>([machine.node]);
    for (let cls = machine; ; ) {
      const heritage = extendsClause(cls.node);
      if (!heritage) return { bases };
      const base = this.baseOf(heritage.expression, cls.scope);
      const unresolved = (reason: string) => ({
        bases,
        unresolved: { className: cls.node.name?.text ?? 'default', text: heritage.expression.getText(cls.scope.sourceFile), reason },
      });
      if ('reason' in base) return unresolved(base.reason);
      if (seen.has(base.found.node)) return unresolved('it extends itself');
      seen.add(base.found.node);
      cls = { ...base.found, typeArgs: bindTypeParameters(base.found, heritage, cls) };
      bases.push(cls);
    }
  }

  private baseOf(expression: ts.Expression, scope: FileScope): Found {
    if (!tsc.isIdentifier(expression)) return { reason: 'only a class name is followed, not an expression' };
    const name = expression.text;
    const local = classNamed(scope, name);
    if (local) return { found: { node: local, scope } };
    const imported = scope.imports.get(name);
    if (!imported) return { reason: `${name} is neither a class declared at the top level of its file nor imported` };
    return this.imported(imported.specifier, imported.importedName, scope, new Set());
  }

  /** The class a module exports as `exportName`, following re-exports; `seen` guards against loops. */
  private imported(specifier: string, exportName: string, from: FileScope, seen: Set<string>): Found {
    if (!specifier.startsWith('.')) return { reason: `it is imported from the package '${specifier}'` };
    const file = resolveRelative(resolve(dirname(from.sourceFile.fileName), specifier));
    addImport(this.imports, from.sourceFile.fileName, file);
    if (/\.d\.[cm]?ts$/.test(file)) return { reason: `'${specifier}' leads to a declaration file, which holds no decorators` };
    const scope = /\.[cm]?tsx?$/.test(file) ? this.scopeAt(file) : undefined;
    if (!scope) return { reason: `'${specifier}' leads to no TypeScript source file` };
    const notExported = { reason: `'${specifier}' exports no class ${exportName === 'default' ? 'as default' : exportName}` };
    const key = `${file}#${exportName}`;
    if (seen.has(key)) return notExported;
    seen.add(key);

    for (const statement of scope.sourceFile.statements) {
      if (tsc.isClassDeclaration(statement) && exportNameOf(statement, scope) === exportName) return { found: { node: statement, scope } };
    }
    // Not declared here: a re-export (`export { A } from`, `export *`, or an imported name exported again).
    for (const statement of scope.sourceFile.statements) {
      const next = reexportOf(statement, exportName, scope);
      if (!next) continue;
      const found = this.imported(next.specifier, next.importedName, scope, seen);
      if ('found' in found) return found;
    }
    return notExported;
  }

  private scopeAt(file: string): FileScope | undefined {
    if (!this.scopes.has(file)) {
      this.scopes.set(file, existsSync(file) ? scopeOf(parse(file, readFileSync(file, 'utf8'))) : undefined);
    }
    return this.scopes.get(file);
  }
}

export function extendsClause(node: ts.ClassDeclaration): ts.ExpressionWithTypeArguments | undefined {
  return node.heritageClauses?.find((h) => h.token === tsc.SyntaxKind.ExtendsKeyword)?.types[0];
}

/**
 * What a type written in a class means in the machine that inherits it: a bare type parameter
 * becomes the type argument bound to it; a type that otherwise mentions the class's type
 * parameters cannot be written elsewhere, so it gives nothing (the subclass's steps name the type).
 */
export function bindType(node: ts.TypeNode, owner: ClassInFile): TypeInFile | undefined {
  const parameters = new Set(owner.node.typeParameters?.map((p) => p.name.text));
  if (parameters.size === 0) return { node, scope: owner.scope };
  if (tsc.isTypeReferenceNode(node) && tsc.isIdentifier(node.typeName) && parameters.has(node.typeName.text))
    return node.typeArguments ? undefined : owner.typeArgs.get(node.typeName.text);
  return mentions(node, parameters) ? undefined : { node, scope: owner.scope };
}

/** `class Base<T, U = X>` reached through `extends Base<A>` in `child`: T -> A (as `child` means it), U -> X. */
function bindTypeParameters(
  base: Omit<ClassInFile, 'typeArgs'>,
  heritage: ts.ExpressionWithTypeArguments,
  child: ClassInFile,
): Map<string, TypeInFile> {
  const bound = new Map<string, TypeInFile>();
  base.node.typeParameters?.forEach((parameter, i) => {
    const arg = heritage.typeArguments?.[i];
    // A default is written in the base's own file and may name the parameters before it.
    const type = arg ? bindType(arg, child) : parameter.default && bindType(parameter.default, { ...base, typeArgs: bound });
    if (type) bound.set(parameter.name.text, type);
  });
  return bound;
}

/** The top-level class of that name in the file, if any. */
function classNamed(scope: FileScope, name: string): ts.ClassDeclaration | undefined {
  return scope.sourceFile.statements.find((s): s is ts.ClassDeclaration => tsc.isClassDeclaration(s) && s.name?.text === name);
}

function exportNameOf(node: ts.ClassDeclaration, scope: FileScope): string | undefined {
  if (node.name) {
    const declaration = scope.declarations.get(node.name.text);
    if (declaration?.node === node) return declaration.exportName;
  }
  const modifiers = tsc.getModifiers(node);
  if (!modifiers?.some((m) => m.kind === tsc.SyntaxKind.ExportKeyword)) return undefined;
  return modifiers.some((m) => m.kind === tsc.SyntaxKind.DefaultKeyword) ? 'default' : node.name?.text;
}

/** Where a statement says `exportName` comes from, when it passes on something the file imports. */
function reexportOf(statement: ts.Statement, exportName: string, scope: FileScope): { specifier: string; importedName: string } | undefined {
  if (tsc.isExportAssignment(statement))
    return exportName === 'default' && !statement.isExportEquals && tsc.isIdentifier(statement.expression)
      ? scope.imports.get(statement.expression.text)
      : undefined;
  if (!tsc.isExportDeclaration(statement) || statement.isTypeOnly) return undefined;
  const specifier = statement.moduleSpecifier && tsc.isStringLiteral(statement.moduleSpecifier) ? statement.moduleSpecifier.text : undefined;
  const clause = statement.exportClause;
  // `export * from` passes on every name but the default.
  if (!clause) return specifier !== undefined && exportName !== 'default' ? { specifier, importedName: exportName } : undefined;
  if (!tsc.isNamedExports(clause)) return undefined;
  const element = clause.elements.find((e) => e.name.text === exportName && !e.isTypeOnly);
  if (!element) return undefined;
  const original = (element.propertyName ?? element.name).text;
  return specifier !== undefined ? { specifier, importedName: original } : scope.imports.get(original);
}

/** True when the type refers to one of the names anywhere inside it. */
function mentions(node: ts.Node, names: ReadonlySet<string>): boolean {
  if (tsc.isTypeReferenceNode(node) && tsc.isIdentifier(node.typeName) && names.has(node.typeName.text)) return true;
  return !!node.forEachChild((child) => mentions(child, names) || undefined);
}
