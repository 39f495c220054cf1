import type { ts } from 'ts-morph';
import { tsc } from './ts.js';
import { bindType, extendsClause, type Ancestry, type BaseResolver, type ClassInFile, type TypeInFile } from './bases.js';
import { dataTypeRef } from './data-type.js';
import { fsmNameOf, type FileScope } from './file-scope.js';
import { locate, readLiteral, type LiteralValue } from './literals.js';
import type { DecoratorName, ExtractedDecorator, ExtractedGoto, ExtractedMachine, ExtractedStep, ExtractedTransition } from './types.js';

const DECORATORS: ReadonlySet<string> = new Set<DecoratorName>(['Machine', 'Step', 'Lock', 'Transition']);

/** A machine class as read from syntax alone; its data and input types are resolved afterwards. */
interface ScannedMachine extends Omit<ExtractedMachine, 'data' | 'transitions'> {
  /** The `T` of `StepContext<T>` (then `TransitionContext<T>`) on each handler's first parameter, each with its file. */
  dataTypes: TypeInFile[];
  /** Transitions, each with the `Input` of its `TransitionContext<T, Input>` when written. */
  transitions: Array<{ transition: Omit<ExtractedTransition, 'input'>; input?: TypeInFile }>;
  /** Steps written `@Step<Payload>(...)`: the message payload type of each, by method. */
  payloads: Array<{ method: string; type: TypeInFile }>;
}

/** What one class declares itself: its decorators, steps, transitions and methods. */
interface OwnMembers {
  decorators: ExtractedDecorator[];
  steps: Array<{ step: ExtractedStep; data?: TypeInFile; payload?: TypeInFile }>;
  transitions: Array<{ transition: Omit<ExtractedTransition, 'input'>; data?: TypeInFile; input?: TypeInFile }>;
  methods: string[];
}

/** Top-level classes of a file that carry `@Machine`, with what they inherit from classes in source. */
export function scanMachines(scope: FileScope, bases: BaseResolver): ScannedMachine[] {
  const { sourceFile } = scope;
  const machines: ScannedMachine[] = [];
  for (const statement of sourceFile.statements) {
    if (!tsc.isClassDeclaration(statement)) continue;
    const classDecorators = decoratorsOf(statement, scope);
    // `@Machine` is not inherited: only the class's own counts.
    const machine = classDecorators.filter((d) => d.name === 'Machine');
    if (machine.length === 0) continue;

    const self: ClassInFile = { node: statement, scope, typeArgs: new Map() };
    // Only a class that extends another pays for following it.
    const ancestry: Ancestry = extendsClause(statement) ? bases.ancestryOf(self) : { bases: [] };
    const classes = [ownMembers(self, classDecorators), ...ancestry.bases.map((base) => ownMembers(base))];
    const steps = inherited(classes, (c) => c.steps, (s) => s.step.method);
    const transitions = inherited(classes, (c) => c.transitions, (t) => t.transition.method);

    const className = statement.name?.text;
    const exportName = className === undefined ? defaultExportOf(statement) : scope.declarations.get(className)?.exportName;
    const result: ScannedMachine = {
      file: sourceFile.fileName,
      loc: locate(statement.name ?? statement, sourceFile),
      machine,
      // The nearest class that has a `@Lock` gives it.
      lock: classes.map((c) => c.decorators.filter((d) => d.name === 'Lock')).find((lock) => lock.length > 0) ?? [],
      steps: steps.map((s) => s.step),
      transitions: transitions.map(({ transition, input }) => (input ? { transition, input } : { transition })),
      methods: [...new Set(classes.flatMap((c) => c.methods))],
      dataTypes: [...steps, ...transitions].flatMap((s) => (s.data ? [s.data] : [])),
      payloads: steps.flatMap((s) => (s.payload ? [{ method: s.step.method, type: s.payload }] : [])),
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
  const own: OwnMembers = { decorators, steps: [], transitions: [], methods: [] };
  for (const member of cls.node.members) {
    const name = member.name && memberName(member.name, sourceFile);
    if (name === undefined || isStatic(member)) continue;
    if (tsc.isMethodDeclaration(member) || (tsc.isPropertyDeclaration(member) && isFunction(member.initializer))) {
      own.methods.push(name);
    }
    if (!tsc.isMethodDeclaration(member)) continue;
    for (const decorator of decoratorsOf(member, cls.scope)) {
      const loc = locate(member.name, sourceFile);
      if (decorator.name === 'Step') {
        const data = bound(contextTypeArg(member, cls.scope, 'StepContext', 0), cls);
        const payload = bound(decorator.typeArgument, cls);
        const step: ExtractedStep = { method: name, loc, decorator, gotos: gotoCalls(member, sourceFile) };
        own.steps.push({ step, ...(data ? { data } : {}), ...(payload ? { payload } : {}) });
      } else if (decorator.name === 'Transition') {
        const data = bound(contextTypeArg(member, cls.scope, 'TransitionContext', 0), cls);
        const inputNode = contextTypeArg(member, cls.scope, 'TransitionContext', 1);
        const input = bound(inputNode, cls);
        const transition: Omit<ExtractedTransition, 'input'> = { method: name, loc, decorator };
        if (inputNode) transition.inputLoc = locate(inputNode, sourceFile);
        if (input) transition.inputRef = dataTypeRef(input.node, input.scope);
        own.transitions.push({ transition, ...(data ? { data } : {}), ...(input ? { input } : {}) });
      }
    }
  }
  return own;
}

function bound(node: ts.TypeNode | undefined, cls: ClassInFile): TypeInFile | undefined {
  return node && bindType(node, cls);
}

/**
 * Members of a class and its ancestors (given nearest first), as the decorators' runtime merges
 * them: walking from the oldest class, a class's own `@Step` (or `@Transition`) on a method
 * replaces every one it inherits for that method; overriding a method without it keeps the
 * inherited one.
 */
function inherited<T>(classes: readonly OwnMembers[], members: (c: OwnMembers) => T[], methodOf: (m: T) => string): T[] {
  const byMethod = new Map<string, T[]>();
  for (const cls of [...classes].reverse()) {
    const own = new Map<string, T[]>();
    for (const m of members(cls)) own.set(methodOf(m), [...(own.get(methodOf(m)) ?? []), m]);
    for (const [method, list] of own) byMethod.set(method, list);
  }
  return [...byMethod.values()].flat();
}

/**
 * `ctx.goto('state')` calls in a step's body, where `ctx` is its first parameter: the
 * generator checks their literal against the step's declared successors. Calls with a
 * computed argument are left to the types.
 */
function gotoCalls(method: ts.MethodDeclaration, sourceFile: ts.SourceFile): ExtractedGoto[] {
  const param = method.parameters[0]?.name;
  if (!method.body || !param || !tsc.isIdentifier(param)) return [];
  const ctx = param.text;
  const found: ExtractedGoto[] = [];
  const visit = (node: ts.Node): void => {
    if (
      tsc.isCallExpression(node) &&
      tsc.isPropertyAccessExpression(node.expression) &&
      node.expression.name.text === 'goto' &&
      tsc.isIdentifier(node.expression.expression) &&
      node.expression.expression.text === ctx
    ) {
      const arg = node.arguments[0];
      if (arg && (tsc.isStringLiteral(arg) || tsc.isNoSubstitutionTemplateLiteral(arg)))
        found.push({ target: arg.text, loc: locate(arg, sourceFile) });
    }
    node.forEachChild(visit);
  };
  method.body.forEachChild(visit);
  return found;
}

function decoratorsOf(node: ts.HasDecorators, scope: FileScope): ExtractedDecorator[] {
  const found: ExtractedDecorator[] = [];
  for (const decorator of tsc.getDecorators(node) ?? []) {
    const call = tsc.isCallExpression(decorator.expression) ? decorator.expression : undefined;
    const name = fsmNameOf(call ? call.expression : decorator.expression, scope);
    if (name === undefined || !DECORATORS.has(name)) continue;
    const typeArgument = call?.typeArguments?.[0];
    found.push({
      name: name as DecoratorName,
      args: (call?.arguments ?? []).map((arg) => withClassNames(readLiteral(arg, scope.sourceFile), scope)),
      loc: locate(decorator, scope.sourceFile),
      ...(typeArgument ? { typeArgument } : {}),
    });
  }
  return found;
}

/**
 * A class named in a decorator (an error class in `on`) is recorded at run time by its own
 * name: an alias it is imported under gives way to the name it is exported by.
 */
function withClassNames(value: LiteralValue, scope: FileScope): LiteralValue {
  switch (value.kind) {
    case 'nonliteral': {
      const imported = value.reference === undefined ? undefined : scope.imports.get(value.reference);
      return imported && imported.importedName !== 'default' ? { ...value, reference: imported.importedName } : value;
    }
    case 'array':
      return { ...value, items: value.items.map((v) => withClassNames(v, scope)) };
    case 'object':
      return {
        ...value,
        properties: Object.fromEntries(Object.entries(value.properties).map(([k, v]) => [k, withClassNames(v, scope)])),
      };
    default:
      return value;
  }
}

/** Type argument `index` of `method(ctx: <context><...>)`, with the context type under any alias. */
function contextTypeArg(method: ts.MethodDeclaration, scope: FileScope, context: string, index: number): ts.TypeNode | undefined {
  const type = method.parameters[0]?.type;
  if (!type || !tsc.isTypeReferenceNode(type) || !type.typeArguments) return undefined;
  // `StepContext<T, 'a' | 'b'>`: the second argument is the successors, not data.
  if (context === 'StepContext' && type.typeArguments.length > 2) return undefined;
  return fsmNameOf(type.typeName, scope) === context ? type.typeArguments[index] : undefined;
}

function memberName(name: ts.PropertyName, sourceFile: ts.SourceFile): string | undefined {
  if (tsc.isIdentifier(name) || tsc.isStringLiteral(name) || tsc.isNumericLiteral(name)) return name.text;
  if (tsc.isPrivateIdentifier(name)) return undefined;
  return name.getText(sourceFile);
}

function isStatic(member: ts.ClassElement): boolean {
  return !!(tsc.canHaveModifiers(member) && tsc.getModifiers(member)?.some((m) => m.kind === tsc.SyntaxKind.StaticKeyword));
}

function isFunction(node: ts.Expression | undefined): boolean {
  return !!node && (tsc.isArrowFunction(node) || tsc.isFunctionExpression(node));
}

function defaultExportOf(statement: ts.ClassDeclaration): string | undefined {
  const modifiers = tsc.getModifiers(statement);
  return modifiers?.some((m) => m.kind === tsc.SyntaxKind.DefaultKeyword) &&
    modifiers.some((m) => m.kind === tsc.SyntaxKind.ExportKeyword)
    ? 'default'
    : undefined;
}
