import type { ts } from 'ts-morph';
import { tsc } from './ts.js';
import { MAX_DEPTH, unionSchema } from './type-schema.js';
import type { JsonSchema } from './types.js';

/**
 * JSON Schemas read from the syntax alone, for the data types most machines have: interfaces
 * and aliases of the same file, keywords, literals, unions, arrays, Date, Set and Map. It gives
 * what `typeToSchema` gives through the checker, or `undefined` whenever the checker could see
 * it differently (generics, imports, merged declarations, intersections, mapped types, ...):
 * then the checker decides. A run whose data types are all simple builds no checker at all.
 */
export function syntaxSchema(node: ts.TypeNode, file: FileTypes): JsonSchema | undefined {
  if (!file.usable) return undefined;
  try {
    return new SyntaxSchemaBuilder(file).build(node, 0);
  } catch (e) {
    if (e === UNSURE) return undefined;
    throw e;
  }
}

/** What the top level of a file says about type names. */
export interface FileTypes {
  /**
   * Top-level declarations by name (more than one: merged, left to the checker); classes and
   * enums only counted, so that holding this does not hold their syntax trees.
   */
  declarations: Map<string, Array<ts.InterfaceDeclaration | ts.TypeAliasDeclaration | undefined>>;
  imported: Set<string>;
  /** False when the file augments or declares modules or globals: left to the checker. */
  usable: boolean;
}

export function fileTypes(sourceFile: ts.SourceFile): FileTypes {
  const file: FileTypes = { declarations: new Map(), imported: new Set(), usable: true };
  const declare = (name: string, node: ts.InterfaceDeclaration | ts.TypeAliasDeclaration | undefined) => {
    const list = file.declarations.get(name);
    if (list) list.push(node);
    else file.declarations.set(name, [node]);
  };
  for (const statement of sourceFile.statements) {
    if (tsc.isModuleDeclaration(statement)) file.usable = false;
    else if (tsc.isImportDeclaration(statement)) {
      const clause = statement.importClause;
      if (clause?.name) file.imported.add(clause.name.text);
      const bindings = clause?.namedBindings;
      if (bindings && tsc.isNamespaceImport(bindings)) file.imported.add(bindings.name.text);
      else if (bindings) for (const el of bindings.elements) file.imported.add(el.name.text);
    } else if (tsc.isImportEqualsDeclaration(statement)) file.imported.add(statement.name.text);
    else if (tsc.isInterfaceDeclaration(statement) || tsc.isTypeAliasDeclaration(statement)) declare(statement.name.text, statement);
    else if ((tsc.isClassDeclaration(statement) || tsc.isEnumDeclaration(statement)) && statement.name) declare(statement.name.text, undefined);
  }
  return file;
}

/** Thrown inside the builder when the checker must decide. */
const UNSURE = Symbol('unsure');
function unsure(): never {
  throw UNSURE;
}

/**
 * Below the checker's depth limit by a margin: depths are counted as the checker's walk counts
 * them, and where they could differ this stays on the safe side by giving up first.
 */
const SAFE_DEPTH = MAX_DEPTH - 4;

/** Globals as the generator's minimal lib declares them, with their number of type arguments. */
const GLOBALS: ReadonlyMap<string, number> = new Map([
  ['Array', 1],
  ['ReadonlyArray', 1],
  ['Set', 1],
  ['ReadonlySet', 1],
  ['Map', 2],
  ['ReadonlyMap', 2],
  ['Date', 0],
]);

/** A type as the checker would hold it: a resolved node, or one of `boolean`'s two members. */
type Atom = ts.TypeNode | ts.InterfaceDeclaration | true | false;

class SyntaxSchemaBuilder {
  /** Object types being built, so a recursive type ends in `{}` where it loops, as the checker's walk does. */
  private readonly active = new Set<ts.Node>();
  private readonly ids = new Map<ts.Node, number>();

  constructor(private readonly file: FileTypes) {}

  build(node: ts.TypeNode, depth: number, optional = false): JsonSchema {
    const atoms = this.atoms(node);
    if (optional && !atoms.some((a) => isKeyword(a, tsc.SyntaxKind.UndefinedKeyword))) atoms.push(undefinedAtom);
    if (atoms.length === 1) return this.single(atoms[0]!, depth);
    return this.union(atoms, depth);
  }

  /** The members of a union as the checker flattens it (`boolean` is `true | false`). */
  private atoms(node: ts.TypeNode, seen: Set<ts.Node> = new Set()): Atom[] {
    const resolved = this.resolve(node, seen);
    if (tsc.isUnionTypeNode(resolved)) return resolved.types.flatMap((t) => this.atoms(t, seen));
    if (isKeyword(resolved, tsc.SyntaxKind.BooleanKeyword)) return [true, false];
    if (tsc.isLiteralTypeNode(resolved) && resolved.literal.kind === tsc.SyntaxKind.TrueKeyword) return [true];
    if (tsc.isLiteralTypeNode(resolved) && resolved.literal.kind === tsc.SyntaxKind.FalseKeyword) return [false];
    return [resolved];
  }

  /** Parentheses and local aliases taken away; a local interface stands for itself. */
  private resolve(node: ts.TypeNode, seen: Set<ts.Node>): Exclude<Atom, boolean> {
    if (tsc.isParenthesizedTypeNode(node)) return this.resolve(node.type, seen);
    if (!tsc.isTypeReferenceNode(node) || !tsc.isIdentifier(node.typeName)) return node;
    const name = node.typeName.text;
    const declarations = this.file.declarations.get(name);
    if (declarations === undefined) {
      if (this.file.imported.has(name) || GLOBALS.get(name) !== (node.typeArguments?.length ?? 0)) unsure();
      return node;
    }
    const declaration = declarations[0];
    // The checker's walk reads some globals by name, whatever declares them.
    if (declaration === undefined || declarations.length > 1 || node.typeArguments || GLOBALS.has(name)) unsure();
    if (tsc.isInterfaceDeclaration(declaration) && !declaration.typeParameters && !declaration.heritageClauses) return declaration;
    if (!tsc.isTypeAliasDeclaration(declaration) || declaration.typeParameters || seen.has(declaration)) unsure();
    seen.add(declaration);
    return this.resolve(declaration.type, seen);
  }

  private union(atoms: Atom[], depth: number): JsonSchema {
    if (depth > SAFE_DEPTH) unsure();
    // `any` or `unknown` anywhere makes the whole union that.
    if (atoms.some((a) => isKeyword(a, tsc.SyntaxKind.AnyKeyword) || isKeyword(a, tsc.SyntaxKind.UnknownKeyword))) return {};
    const keys = atoms.map((a) => this.keyOf(a));
    if (new Set(keys).size !== keys.length) unsure();
    // The checker drops literals whose primitive is in the same union, and an empty `{}` next
    // to other object types: leave those to it.
    const literal = (kind: ts.SyntaxKind) => atoms.some((a) => typeof a !== 'boolean' && tsc.isLiteralTypeNode(a) && a.literal.kind === kind);
    if (atoms.some((a) => isKeyword(a, tsc.SyntaxKind.StringKeyword)) && literal(tsc.SyntaxKind.StringLiteral)) unsure();
    if (atoms.some((a) => isKeyword(a, tsc.SyntaxKind.NumberKeyword)) && literal(tsc.SyntaxKind.NumericLiteral)) unsure();
    if (atoms.some((a) => typeof a !== 'boolean' && (tsc.isTypeLiteralNode(a) || tsc.isInterfaceDeclaration(a)) && a.members.length === 0)) unsure();
    const members = atoms.filter((a) => !isKeyword(a, tsc.SyntaxKind.UndefinedKeyword));
    if (members.length === 0) unsure();
    return unionSchema(members.map((a) => this.single(a, depth + 1)));
  }

  /** The schema of a type that is not a union. */
  private single(atom: Atom, depth: number): JsonSchema {
    if (depth > SAFE_DEPTH) unsure();
    if (typeof atom === 'boolean') return { const: atom };
    if (tsc.isInterfaceDeclaration(atom) || tsc.isTypeLiteralNode(atom)) return this.object(atom, depth);
    switch (atom.kind) {
      case tsc.SyntaxKind.StringKeyword:
      case tsc.SyntaxKind.BigIntKeyword:
        return { type: 'string' };
      case tsc.SyntaxKind.NumberKeyword:
        return { type: 'number' };
      case tsc.SyntaxKind.ObjectKeyword:
        return { type: 'object' };
      case tsc.SyntaxKind.AnyKeyword:
      case tsc.SyntaxKind.UnknownKeyword:
      case tsc.SyntaxKind.UndefinedKeyword:
        return {};
    }
    if (tsc.isLiteralTypeNode(atom)) return literalSchema(atom.literal);
    if (tsc.isArrayTypeNode(atom)) return { type: 'array', items: this.build(atom.elementType, depth + 1) };
    if (tsc.isTypeOperatorNode(atom) && atom.operator === tsc.SyntaxKind.ReadonlyKeyword && tsc.isArrayTypeNode(atom.type))
      return { type: 'array', items: this.build(atom.type.elementType, depth + 1) };
    if (tsc.isTypeReferenceNode(atom) && tsc.isIdentifier(atom.typeName)) {
      // A global (resolve checked its name is not taken and its type arguments).
      const args = atom.typeArguments ?? [];
      switch (atom.typeName.text) {
        case 'Date':
          return { type: 'string', format: 'date-time' };
        case 'Array':
        case 'ReadonlyArray':
        case 'Set':
        case 'ReadonlySet':
          return { type: 'array', items: this.build(args[0]!, depth + 1) };
        case 'Map':
        case 'ReadonlyMap':
          return { type: 'object', additionalProperties: this.build(args[1]!, depth + 1) };
      }
    }
    return unsure();
  }

  private object(node: ts.InterfaceDeclaration | ts.TypeLiteralNode, depth: number): JsonSchema {
    if (this.active.has(node)) return {};
    this.active.add(node);
    const properties: Record<string, JsonSchema> = {};
    const required: string[] = [];
    for (const member of node.members) {
      if (tsc.isMethodSignature(member)) continue;
      if (!tsc.isPropertySignature(member) || !member.type) unsure();
      const name = member.name;
      if (!(tsc.isIdentifier(name) || tsc.isStringLiteral(name)) || Object.hasOwn(properties, name.text)) unsure();
      const optional = member.questionToken !== undefined;
      // Function-typed properties are left out, as the checker's walk does; unless optional, whose union it sees otherwise.
      if (this.isFunction(member.type)) {
        if (optional) unsure();
        continue;
      }
      properties[name.text] = this.build(member.type, depth + 1, optional);
      if (!optional) required.push(name.text);
    }
    this.active.delete(node);
    const schema: JsonSchema = { type: 'object', properties };
    if (required.length > 0) schema.required = required;
    return schema;
  }

  private isFunction(node: ts.TypeNode): boolean {
    const atoms = this.atoms(node);
    const functions = atoms.filter((a) => typeof a !== 'boolean' && (tsc.isFunctionTypeNode(a) || tsc.isConstructorTypeNode(a))).length;
    if (functions > 0 && functions < atoms.length) unsure();
    return functions > 0;
  }

  /** Equal keys for the types the checker would hold as one (within a union). */
  private keyOf(atom: Atom): string {
    if (typeof atom === 'boolean') return String(atom);
    if (tsc.isLiteralTypeNode(atom)) {
      const { literal } = atom;
      if (tsc.isStringLiteral(literal)) return JSON.stringify(literal.text);
      if (tsc.isNumericLiteral(literal)) return `#${Number(literal.text)}`;
      if (literal.kind === tsc.SyntaxKind.NullKeyword) return 'null';
      return unsure();
    }
    if (atom.kind >= tsc.SyntaxKind.FirstKeyword && atom.kind <= tsc.SyntaxKind.LastKeyword) return `k${atom.kind}`;
    if (tsc.isTypeLiteralNode(atom) || tsc.isInterfaceDeclaration(atom)) {
      let id = this.ids.get(atom);
      if (id === undefined) this.ids.set(atom, (id = this.ids.size));
      return `@${id}`;
    }
    // Arrays and globals are one type for the same arguments.
    if (tsc.isArrayTypeNode(atom)) return `Array<${this.typeKey(atom.elementType)}>`;
    if (tsc.isTypeOperatorNode(atom) && atom.operator === tsc.SyntaxKind.ReadonlyKeyword && tsc.isArrayTypeNode(atom.type))
      return `ReadonlyArray<${this.typeKey(atom.type.elementType)}>`;
    if (tsc.isTypeReferenceNode(atom) && tsc.isIdentifier(atom.typeName) && GLOBALS.has(atom.typeName.text)) {
      return `${atom.typeName.text}<${(atom.typeArguments ?? []).map((t) => this.typeKey(t)).join(',')}>`;
    }
    return unsure();
  }

  private typeKey(node: ts.TypeNode): string {
    return this.atoms(node)
      .map((a) => this.keyOf(a))
      .sort()
      .join('|');
  }
}

const undefinedAtom = tsc.factory.createKeywordTypeNode(tsc.SyntaxKind.UndefinedKeyword);

function isKeyword(atom: Atom, kind: ts.SyntaxKind): boolean {
  return typeof atom !== 'boolean' && atom.kind === kind;
}

function literalSchema(literal: ts.LiteralTypeNode['literal']): JsonSchema {
  if (tsc.isStringLiteral(literal)) return { const: literal.text };
  // Plain decimals only: the value is then what the checker reads from the same text.
  if (tsc.isNumericLiteral(literal) && /^\d+(\.\d+)?$/.test(literal.text)) return { const: Number(literal.text) };
  if (literal.kind === tsc.SyntaxKind.TrueKeyword) return { const: true };
  if (literal.kind === tsc.SyntaxKind.FalseKeyword) return { const: false };
  if (literal.kind === tsc.SyntaxKind.NullKeyword) return { type: 'null' };
  return unsure();
}
