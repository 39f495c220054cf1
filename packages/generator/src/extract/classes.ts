import { ts } from 'ts-morph';
import { bindType, extendsClause, type Ancestry, type BaseResolver, type ClassInFile, type TypeInFile } from './bases.js';
import { fsmNameOf, type FileScope } from './file-scope.js';
import { locate, readLiteral } from './literals.js';
import type { DecoratorName, ExtractedDecorator, ExtractedMachine, ExtractedStep } from './types.js';

const DECORATORS: ReadonlySet<string> = new Set<DecoratorName>(['Machine', 'Step', 'Lock']);

/** A machine class as read from syntax alone; its data type is resolved afterwards. */
interface ScannedMachine extends Omit<ExtractedMachine, 'data'> {
  /** The `T` of `StepContext<T>` on each step's first parameter, in step order, each with its file. */
  dataTypes: TypeInFile[];
}

/** What one class declares itself: its decorators, steps and methods. */
interface OwnMembers {
  decorators: ExtractedDecorator[];
  steps: Array<{ step: ExtractedStep; data?: TypeInFile }>;
  methods: string[];
}

/** Top-level classes of a file that carry `@Machine`, with what they inherit from classes in source. */
export function scanMachines(scope: FileScope, bases: BaseResolver): ScannedMachine[] {
  const { sourceFile } = scope;
  const machines: ScannedMachine[] = [];
  for (const statement of sourceFile.statements) {
    if (!ts.isClassDeclaration(statement)) continue;
    const classDecorators = decoratorsOf(statement, scope);
    // `@Machine` is not inherited: only the class's own counts.
    const machine = classDecorators.filter((d) => d.name === 'Machine');
    if (machine.length === 0) continue;

    const self: ClassInFile = { node: statement, scope, typeArgs: new Map() };
    // Only a class that extends another pays for following it.
    const ancestry: Ancestry = extendsClause(statement) ? bases.ancestryOf(self) : { bases: [] };
    const classes = [ownMembers(self, classDecorators), ...ancestry.bases.map((base) => ownMembers(base))];
    const steps = inheritedSteps(classes);

    const className = statement.name?.text;
    const exportName = className === undefined ? defaultExportOf(statement) : scope.declarations.get(className)?.exportName;
    const result: ScannedMachine = {
      file: sourceFile.fileName,
      loc: locate(statement.name ?? statement, sourceFile),
      machine,
      // The nearest class that has a `@Lock` gives it.
      lock: classes.map((c) => c.decorators.filter((d) => d.name === 'Lock')).find((lock) => lock.length > 0) ?? [],
      steps: steps.map((s) => s.step),
      methods: [...new Set(classes.flatMap((c) => c.methods))],
      dataTypes: steps.flatMap((s) => (s.data ? [s.data] : [])),
    };
    if (className !== undefined) result.className = className;
    if (exportName !== undefined) result.exportName = exportName;
    if (ancestry.unresolved) result.unresolvedBase = ancestry.unresolved;
    machines.push(result);
  }
  return machines;
}

function ownMembers(cls: ClassInFile, decorators = decoratorsOf(cls.node, cls.scope)): OwnMembers {
  const { sourceFile } = cls.scope;
  const own: OwnMembers = { decorators, steps: [], methods: [] };
  for (const member of cls.node.members) {
    const name = member.name && memberName(member.name, sourceFile);
    if (name === undefined || isStatic(member)) continue;
    if (ts.isMethodDeclaration(member) || (ts.isPropertyDeclaration(member) && isFunction(member.initializer))) {
      own.methods.push(name);
    }
    if (!ts.isMethodDeclaration(member)) continue;
    for (const decorator of decoratorsOf(member, cls.scope)) {
      if (decorator.name !== 'Step') continue;
      const dataNode = stepDataNode(member, cls.scope);
      const data = dataNode && bindType(dataNode, cls);
      own.steps.push({ step: { method: name, loc: locate(member.name, sourceFile), decorator }, ...(data ? { data } : {}) });
    }
  }
  return own;
}

/**
 * Steps of a class and its ancestors (given nearest first), as the decorators' runtime merges
 * them: walking from the oldest class, a class's own `@Step` on a method replaces every step it
 * inherits for that method; overriding a method without `@Step` keeps the inherited step.
 */
function inheritedSteps(classes: readonly OwnMembers[]): OwnMembers['steps'] {
  const byMethod = new Map<string, OwnMembers['steps']>();
  for (const cls of [...classes].reverse()) {
    const own = new Map<string, OwnMembers['steps']>();
    for (const s of cls.steps) own.set(s.step.method, [...(own.get(s.step.method) ?? []), s]);
    for (const [method, steps] of own) byMethod.set(method, steps);
  }
  return [...byMethod.values()].flat();
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
