import type { ts } from 'ts-morph';
import { tsc } from './ts.js';

/** Modules whose exports the generator recognises under any local name. */
const FSM_MODULES: ReadonlySet<string> = new Set(['@fsmkit/decorators', '@fsmkit/runtime']);

interface ImportedName {
  /** Name exported by the module, or `default`. */
  importedName: string;
  specifier: string;
}

/** What a file's top level says about names: imports, local declarations and their exports. */
export interface FileScope {
  sourceFile: ts.SourceFile;
  /** Local name -> name exported by an fsmkit module (`import { Machine as M }` gives M -> Machine). */
  fsmAliases: Map<string, string>;
  /** `import * as fsm from '@fsmkit/decorators'`. */
  fsmNamespaces: Set<string>;
  imports: Map<string, ImportedName>;
  /** Top-level declarations that have a name, with the name they are exported by (if any). */
  declarations: Map<string, { node: ts.Node; exportName?: string }>;
}

export function scopeOf(sourceFile: ts.SourceFile): FileScope {
  const scope: FileScope = {
    sourceFile,
    fsmAliases: new Map(),
    fsmNamespaces: new Set(),
    imports: new Map(),
    declarations: new Map(),
  };
  const exportLists = new Map<string, string>();
  for (const statement of sourceFile.statements) {
    if (tsc.isImportDeclaration(statement)) addImport(scope, statement);
    else if (tsc.isExportDeclaration(statement)) {
      if (!statement.moduleSpecifier && statement.exportClause && tsc.isNamedExports(statement.exportClause))
        for (const el of statement.exportClause.elements) exportLists.set((el.propertyName ?? el.name).text, el.name.text);
    } else if (tsc.isExportAssignment(statement)) {
      if (!statement.isExportEquals && tsc.isIdentifier(statement.expression)) exportLists.set(statement.expression.text, 'default');
    } else if (
      (tsc.isClassDeclaration(statement) ||
        tsc.isInterfaceDeclaration(statement) ||
        tsc.isTypeAliasDeclaration(statement) ||
        tsc.isEnumDeclaration(statement)) &&
      statement.name
    ) {
      scope.declarations.set(statement.name.text, { node: statement, ...exportOf(statement, statement.name.text) });
    }
  }
  for (const [local, exported] of exportLists) {
    const decl = scope.declarations.get(local);
    if (decl && decl.exportName === undefined) decl.exportName = exported;
  }
  return scope;
}

function addImport(scope: FileScope, statement: ts.ImportDeclaration): void {
  if (!tsc.isStringLiteral(statement.moduleSpecifier) || !statement.importClause) return;
  const specifier = statement.moduleSpecifier.text;
  const isFsm = FSM_MODULES.has(specifier);
  const clause = statement.importClause;
  if (clause.name) scope.imports.set(clause.name.text, { importedName: 'default', specifier });
  const bindings = clause.namedBindings;
  if (bindings && tsc.isNamespaceImport(bindings)) {
    if (isFsm) scope.fsmNamespaces.add(bindings.name.text);
  } else if (bindings) {
    for (const el of bindings.elements) {
      const importedName = (el.propertyName ?? el.name).text;
      scope.imports.set(el.name.text, { importedName, specifier });
      if (isFsm) scope.fsmAliases.set(el.name.text, importedName);
    }
  }
}

function exportOf(node: ts.Node, name: string): { exportName?: string } {
  const modifiers = tsc.canHaveModifiers(node) ? tsc.getModifiers(node) : undefined;
  if (!modifiers?.some((m) => m.kind === tsc.SyntaxKind.ExportKeyword)) return {};
  return { exportName: modifiers.some((m) => m.kind === tsc.SyntaxKind.DefaultKeyword) ? 'default' : name };
}

/**
 * The fsmkit name an expression refers to: `Machine`, `M` imported as an alias of `Machine`,
 * or `fsm.Machine` through a namespace import. Plain names match whatever they are imported from.
 */
export function fsmNameOf(expr: ts.Node, scope: FileScope): string | undefined {
  if (tsc.isIdentifier(expr)) return scope.fsmAliases.get(expr.text) ?? expr.text;
  if (tsc.isPropertyAccessExpression(expr) && tsc.isIdentifier(expr.expression) && scope.fsmNamespaces.has(expr.expression.text))
    return expr.name.text;
  if (tsc.isQualifiedName(expr) && tsc.isIdentifier(expr.left) && scope.fsmNamespaces.has(expr.left.text)) return expr.right.text;
  return undefined;
}
