import type { ts } from 'ts-morph';
import { tsc } from './ts.js';
import type { JsonSchema } from './types.js';

/** Deeper than this, a type's schema is `{}`. */
export const MAX_DEPTH = 12;
const TYPE_ORDER = ['string', 'number', 'integer', 'boolean', 'object', 'array', 'null'];

/**
 * JSON Schema of a TS type as the serializer sends it to Kafka: objects, primitives, arrays,
 * literal unions and optional properties map directly; Date becomes a date-time string,
 * bigint a string, Map an object, Set an array. Anything else is `{}` (any value).
 */
export function typeToSchema(type: ts.Type, checker: ts.TypeChecker): JsonSchema {
  return new SchemaBuilder(checker).build(type, 0);
}

class SchemaBuilder {
  private readonly active = new Set<ts.Type>();

  constructor(private readonly checker: ts.TypeChecker) {}

  build(type: ts.Type, depth: number): JsonSchema {
    const f = type.flags;
    if (depth > MAX_DEPTH || f & (tsc.TypeFlags.Any | tsc.TypeFlags.Unknown)) return {};
    if (f & tsc.TypeFlags.Boolean) return { type: 'boolean' };
    if (f & tsc.TypeFlags.String || f & tsc.TypeFlags.TemplateLiteral) return { type: 'string' };
    if (f & tsc.TypeFlags.Number) return { type: 'number' };
    if (f & tsc.TypeFlags.BigInt) return { type: 'string' };
    if (f & tsc.TypeFlags.Null) return { type: 'null' };
    if (type.isStringLiteral() || type.isNumberLiteral()) return { const: type.value };
    if (f & tsc.TypeFlags.BigIntLiteral) return { const: bigintText((type as ts.BigIntLiteralType).value) };
    if (f & tsc.TypeFlags.BooleanLiteral) return { const: (type as { intrinsicName?: string }).intrinsicName === 'true' };
    if (f & tsc.TypeFlags.NonPrimitive) return { type: 'object' };
    if (type.isUnion()) return this.union(type, depth);
    if (f & tsc.TypeFlags.Object || type.isIntersection()) return this.guarded(type, depth);
    return {};
  }

  private union(type: ts.UnionType, depth: number): JsonSchema {
    const members = type.types
      .filter((t) => !(t.flags & (tsc.TypeFlags.Undefined | tsc.TypeFlags.Void)))
      .map((t) => this.build(t, depth + 1));
    return unionSchema(members);
  }

  /** Recursive types end in `{}` where they loop. */
  private guarded(type: ts.Type, depth: number): JsonSchema {
    if (this.active.has(type)) return {};
    this.active.add(type);
    try {
      return this.object(type, depth);
    } finally {
      this.active.delete(type);
    }
  }

  private object(type: ts.Type, depth: number): JsonSchema {
    const { checker } = this;
    if (checker.isTupleType(type)) {
      const items = checker.getTypeArguments(type as ts.TypeReference).map((t) => this.build(t, depth + 1));
      return { type: 'array', prefixItems: items, minItems: items.length, maxItems: items.length };
    }
    if (checker.isArrayType(type)) return { type: 'array', items: this.typeArg(type, 0, depth) };
    switch (type.getSymbol()?.getName()) {
      case 'Date':
        return { type: 'string', format: 'date-time' };
      case 'Map':
      case 'ReadonlyMap':
        return { type: 'object', additionalProperties: this.typeArg(type, 1, depth) };
      case 'Set':
      case 'ReadonlySet':
        return { type: 'array', items: this.typeArg(type, 0, depth) };
    }
    if (type.getCallSignatures().length > 0) return {};

    const properties: Record<string, JsonSchema> = {};
    const required: string[] = [];
    for (const prop of checker.getPropertiesOfType(type)) {
      if (prop.flags & tsc.SymbolFlags.Method) continue;
      const propType = checker.getTypeOfSymbol(prop);
      if (propType.getCallSignatures().length > 0) continue;
      properties[prop.getName()] = this.build(propType, depth + 1);
      if (!(prop.flags & tsc.SymbolFlags.Optional)) required.push(prop.getName());
    }
    const schema: JsonSchema = { type: 'object', properties };
    if (required.length > 0) schema.required = required;
    const index = checker.getIndexInfosOfType(type).find((i) => i.keyType.flags & tsc.TypeFlags.String);
    if (index) schema.additionalProperties = this.build(index.type, depth + 1);
    return schema;
  }

  private typeArg(type: ts.Type, index: number, depth: number): JsonSchema {
    const isReference = type.flags & tsc.TypeFlags.Object && (type as ts.ObjectType).objectFlags & tsc.ObjectFlags.Reference;
    const args = isReference ? this.checker.getTypeArguments(type as ts.TypeReference) : [];
    const arg = args[index];
    return arg ? this.build(arg, depth + 1) : {};
  }
}

/** The schema of a union whose members (`undefined` and `void` left out) have these schemas. */
export function unionSchema(members: readonly JsonSchema[]): JsonSchema {
  // `boolean` inside a wider union arrives as `true | false`.
  const merged: JsonSchema[] = [];
  for (const m of members) {
    if (m.const === false && members.some((o) => o.const === true)) continue;
    merged.push(m.const === true && members.some((o) => o.const === false) ? { type: 'boolean' } : m);
  }
  if (merged.length === 1) return merged[0]!;
  if (merged.some((m) => Object.keys(m).length === 0)) return {};
  // The checker orders union members by internal type id, which other files can change:
  // sort them, so a machine's schema does not move when an unrelated file does.
  if (merged.every((m) => 'const' in m && Object.keys(m).length === 1))
    return { enum: merged.map((m) => m.const).sort(compareValues) };
  if (merged.every((m) => typeof m.type === 'string' && Object.keys(m).length === 1))
    return { type: merged.map((m) => m.type as string).sort((a, b) => TYPE_ORDER.indexOf(a) - TYPE_ORDER.indexOf(b)) };
  return { anyOf: merged.map((m) => [JSON.stringify(m), m] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, m]) => m) };
}

function bigintText(value: ts.PseudoBigInt): string {
  return (value.negative ? '-' : '') + value.base10Value;
}

function compareValues(a: unknown, b: unknown): number {
  const ta = typeof a;
  const tb = typeof b;
  if (ta !== tb) return ta < tb ? -1 : 1;
  return (a as string | number) < (b as string | number) ? -1 : (a as string | number) > (b as string | number) ? 1 : 0;
}
