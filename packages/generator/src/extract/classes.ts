import { ts } from 'ts-morph';
import { fsmNameOf, type FileScope } from './file-scope.js';
import { locate, readLiteral } from './literals.js';
import type { DecoratorName, ExtractedDecorator, ExtractedMachine, ExtractedStep } from './types.js';

const DECORATORS: ReadonlySet<string> = new Set<DecoratorName>(['Machine', 'Step', 'Lock']);

/** A machine class as read from syntax alone; its data type is resolved afterwards. */
interface ScannedMachine extends Omit<ExtractedMachine, 'data'> {
  /** The `T` of `StepContext<T>` on each step's first parameter, in step order. */
  dataNodes: ts.TypeNode[];
}

/** Top-level classes of a file that carry `@Machine`. */
export function scanMachines(scope: FileScope): ScannedMachine[] {
  const { sourceFile } = scope;
  const machines: ScannedMachine[] = [];
  for (const statement of sourceFile.statements) {
    if (!ts.isClassDeclaration(statement)) continue;
    const classDecorators = decoratorsOf(statement, scope);
    const machine = classDecorators.filter((d) => d.name === 'Machine');
    if (machine.length === 0) continue;

    const steps: ExtractedStep[] = [];
    const methods: string[] = [];
    const dataNodes: ts.TypeNode[] = [];
    for (const member of statement.members) {
      const name = member.name && memberName(member.name, sourceFile);
      if (name === undefined || isStatic(member)) continue;
      if (ts.isMethodDeclaration(member) || (ts.isPropertyDeclaration(member) && isFunction(member.initializer))) {
        methods.push(name);
      }
      if (!ts.isMethodDeclaration(member)) continue;
      for (const decorator of decoratorsOf(member, scope)) {
        if (decorator.name !== 'Step') continue;
        steps.push({ method: name, loc: locate(member.name, sourceFile), decorator });
        const dataNode = stepDataNode(member, scope);
        if (dataNode) dataNodes.push(dataNode);
      }
    }

    const className = statement.name?.text;
    const exportName = className === undefined ? defaultExportOf(statement) : scope.declarations.get(className)?.exportName;
    const result: ScannedMachine = {
      file: sourceFile.fileName,
      loc: locate(statement.name ?? statement, sourceFile),
      machine,
      lock: classDecorators.filter((d) => d.name === 'Lock'),
      steps,
      methods,
      extendsBase: !!statement.heritageClauses?.some((h) => h.token === ts.SyntaxKind.ExtendsKeyword),
      dataNodes,
    };
    if (className !== undefined) result.className = className;
    if (exportName !== undefined) result.exportName = exportName;
    machines.push(result);
  }
  return machines;
}

function decoratorsOf(node: ts.HasDecorators, scope: FileScope): ExtractedDecorator[] {
  const found: ExtractedDecorator[] = [];
  for (const decorator of ts.getDecorators(node) ?? []) {
    const call = ts.isCallExpression(decorator.expression) ? decorator.expression : undefined;
    const name = fsmNameOf(call ? call.expression : decorator.expression, scope);
    if (name === undefined || !DECORATORS.has(name)) continue;
    found.push({
      name: name as DecoratorName,
      args: (call?.arguments ?? []).map((arg) => readLiteral(arg, scope.sourceFile)),
      loc: locate(decorator, scope.sourceFile),
    });
  }
  return found;
}

/** `T` in `method(ctx: StepContext<T>)`, with `StepContext` under any alias. */
function stepDataNode(method: ts.MethodDeclaration, scope: FileScope): ts.TypeNode | undefined {
  const type = method.parameters[0]?.type;
  if (!type || !ts.isTypeReferenceNode(type) || type.typeArguments?.length !== 1) return undefined;
  return fsmNameOf(type.typeName, scope) === 'StepContext' ? type.typeArguments[0] : undefined;
}

function memberName(name: ts.PropertyName, sourceFile: ts.SourceFile): string | undefined {
  if (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name)) return name.text;
  if (ts.isPrivateIdentifier(name)) return undefined;
  return name.getText(sourceFile);
}

function isStatic(member: ts.ClassElement): boolean {
  return !!(ts.canHaveModifiers(member) && ts.getModifiers(member)?.some((m) => m.kind === ts.SyntaxKind.StaticKeyword));
}

function isFunction(node: ts.Expression | undefined): boolean {
  return !!node && (ts.isArrowFunction(node) || ts.isFunctionExpression(node));
}

function defaultExportOf(statement: ts.ClassDeclaration): string | undefined {
  const modifiers = ts.getModifiers(statement);
  return modifiers?.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword) &&
    modifiers.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)
    ? 'default'
    : undefined;
}
