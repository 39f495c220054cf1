import type { ts } from 'ts-morph';
import { tsc } from './ts.js';
import type { SourceLocation } from '../diagnostics.js';

/**
 * A decorator argument as written. Only literals are read; anything else (a variable, a call,
 * a spread) is kept as `nonliteral` with its text, so validation can point at it.
 */
export type LiteralValue =
  | { kind: 'string'; value: string; loc: SourceLocation }
  | { kind: 'number'; value: number; loc: SourceLocation }
  | { kind: 'boolean'; value: boolean; loc: SourceLocation }
  | { kind: 'object'; properties: Record<string, LiteralValue>; keys: Record<string, SourceLocation>; loc: SourceLocation }
  | { kind: 'array'; items: LiteralValue[]; loc: SourceLocation }
  /** `reference`: the name a plain identifier or `a.b` access ends in (error classes in `on` are read by it). */
  | { kind: 'nonliteral'; loc: SourceLocation; reference?: string };

export function locate(node: ts.Node, sourceFile: ts.SourceFile): SourceLocation {
  const start = node.getStart(sourceFile);
  const { line, character } = sourceFile.getLineAndCharacterOfPosition(start);
  return { file: sourceFile.fileName, line: line + 1, column: character + 1, text: node.getText(sourceFile) };
}

export function readLiteral(node: ts.Expression, sourceFile: ts.SourceFile): LiteralValue {
  const loc = locate(node, sourceFile);
  const expr = unwrap(node);
  if (tsc.isStringLiteral(expr) || tsc.isNoSubstitutionTemplateLiteral(expr)) return { kind: 'string', value: expr.text, loc };
  if (tsc.isNumericLiteral(expr)) return { kind: 'number', value: Number(expr.text), loc };
  if (
    tsc.isPrefixUnaryExpression(expr) &&
    (expr.operator === tsc.SyntaxKind.MinusToken || expr.operator === tsc.SyntaxKind.PlusToken) &&
    tsc.isNumericLiteral(expr.operand)
  ) {
    const value = Number(expr.operand.text);
    return { kind: 'number', value: expr.operator === tsc.SyntaxKind.MinusToken ? -value : value, loc };
  }
  if (expr.kind === tsc.SyntaxKind.TrueKeyword) return { kind: 'boolean', value: true, loc };
  if (expr.kind === tsc.SyntaxKind.FalseKeyword) return { kind: 'boolean', value: false, loc };
  if (tsc.isObjectLiteralExpression(expr)) return readObject(expr, sourceFile, loc);
  if (tsc.isArrayLiteralExpression(expr)) {
    // A spread hides what the array holds.
    if (expr.elements.some(tsc.isSpreadElement)) return { kind: 'nonliteral', loc };
    return { kind: 'array', items: expr.elements.map((e) => readLiteral(e, sourceFile)), loc };
  }
  if (tsc.isIdentifier(expr)) return { kind: 'nonliteral', loc, reference: expr.text };
  if (tsc.isPropertyAccessExpression(expr) && tsc.isIdentifier(expr.name)) return { kind: 'nonliteral', loc, reference: expr.name.text };
  return { kind: 'nonliteral', loc };
}

function readObject(expr: ts.ObjectLiteralExpression, sourceFile: ts.SourceFile, loc: SourceLocation): LiteralValue {
  const properties: Record<string, LiteralValue> = {};
  const keys: Record<string, SourceLocation> = {};
  for (const prop of expr.properties) {
    const key = prop.name && propertyKey(prop.name);
    // A spread or computed key hides which options are set: the whole object is not a literal.
    if (key === undefined) return { kind: 'nonliteral', loc };
    keys[key] = locate(prop.name!, sourceFile);
    if (tsc.isPropertyAssignment(prop)) properties[key] = readLiteral(prop.initializer, sourceFile);
    else properties[key] = { kind: 'nonliteral', loc: locate(prop, sourceFile) };
  }
  return { kind: 'object', properties, keys, loc };
}

function propertyKey(name: ts.PropertyName): string | undefined {
  if (tsc.isIdentifier(name) || tsc.isStringLiteral(name) || tsc.isNumericLiteral(name)) return name.text;
  return undefined;
}

/** `(x)`, `x as const`, `x satisfies T`, `x!` are the same literal as `x`. */
function unwrap(node: ts.Expression): ts.Expression {
  let expr = node;
  while (
    tsc.isParenthesizedExpression(expr) ||
    tsc.isAsExpression(expr) ||
    tsc.isSatisfiesExpression(expr) ||
    tsc.isTypeAssertionExpression(expr) ||
    tsc.isNonNullExpression(expr)
  )
    expr = expr.expression;
  return expr;
}
