import { ANY_STATE, machineGraph, RESERVED_STATES, successors } from '@fsmkit/decorators';
import { headerText } from '../header.js';
import { camelCase, displayPath, importSpecifier, pascalCase } from './names.js';
import { tsLiteral } from './ts-literal.js';
import type { DataTypeRef } from '../extract/types.js';
import type { EmitContext, EmitMachine, GeneratedFile } from './types.js';

/** Names the runner imports from @fsmkit/runtime; a user type must not shadow them. */
const RUNTIME_NAMES = ['createRunner', 'JsonSchema', 'MachineDefinition', 'MachineModel', 'MachineRunner', 'RunnerOptions', 'StepContext'];

/** Identifiers a runner declares, and the name it gives the data type. */
export function runnerNames(machine: EmitMachine) {
  const { model } = machine;
  const pascal = pascalCase(model.name);
  const camel = camelCase(model.name);
  const declared = {
    state: `${pascal}State`,
    states: `${camel}States`,
    model: `${camel}Model`,
    definition: `${camel}Definition`,
    runner: `${pascal}Runner`,
    create: `create${pascal}Runner`,
    inputs: `${pascal}Inputs`,
    dataSchema: `${camel}DataSchema`,
  };
  const { ref } = machine.data;
  const taken = new Set<string>([...RUNTIME_NAMES, model.className, ...Object.values(declared)]);
  // Keep the user's name for an imported type unless it would clash with a name the runner declares.
  const dataType = ref.kind === 'import' && !taken.has(ref.localName) ? ref.localName : `${pascal}Data`;
  // One context type per step, whose `goto` takes the step's declared successors.
  const contexts = model.steps.map((step) => ({ step: step.name, type: `${pascal}${pascalCase(step.name)}Context` }));
  return { pascal, camel, ...declared, dataType, contexts };
}

/** `<name>.runner.ts`: typed data plus calls into @fsmkit/runtime, rendered from `runner.ts.hbs`. */
export function runnerFile(machine: EmitMachine, ctx: EmitContext): GeneratedFile {
  const { model } = machine;
  const names = runnerNames(machine);
  const { pascal, camel, dataType } = names;

  const imports = new ImportList();
  const exportName = machine.exportName ?? model.className;
  const classModule = importSpecifier(ctx.outDir, machine.source);
  if (exportName === 'default') imports.addDefault(classModule, model.className, false);
  else imports.addNamed(classModule, exportName, model.className, false);

  const { ref } = machine.data;
  let dataExport: string;
  if (ref.kind === 'import') {
    imports.addType(importModule(ref, ctx), ref.importedName, dataType);
    dataExport = `export type { ${dataType} };`;
  } else {
    dataExport = `export type ${dataType} = ${ref.kind === 'inline' ? ref.text : 'unknown'};`;
  }

  const taken = new Set<string>([...RUNTIME_NAMES, model.className, dataType, ...declaredNames(names)]);
  const inputs = (model.transitions ?? []).map((t, i) => {
    const written = machine.inputs?.[i];
    let type = 'void';
    if (written !== undefined) type = written.ref ? inputTypeText(written.ref, `${pascal}${pascalCase(t.name)}Input`, imports, taken, ctx) : 'unknown';
    return { name: IDENTIFIER.test(t.name) ? t.name : tsLiteral(t.name), type };
  });

  const graph = machineGraph(model);
  const contexts = names.contexts.map(({ type }, i) => {
    const next = successors(graph, model.steps[i]!);
    return { type, next: next.map((s) => tsLiteral(s)).join(' | ') };
  });

  const stepNames = model.steps.map((s) => s.name);
  const content = ctx.templates.runner({
    header: headerText(displayPath(ctx.root, machine.source)),
    name: model.name,
    pascal,
    camel,
    className: model.className,
    imports: imports.render(),
    dataType,
    dataExport,
    dataSchema: tsLiteral(machine.data.schema),
    stateUnion: stateUnion(model, `typeof ${camel}Model`),
    stepTuple: tsLiteral(stepNames),
    modelLiteral: tsLiteral(model),
    inputs: inputs.length === 0 ? 'Record<never, never>' : `{ ${inputs.map((i) => `${i.name}: ${i.type}`).join('; ')} }`,
    contexts,
    hasSteps: model.steps.length > 0,
  });
  return { path: `${model.name}.runner.ts`, content };
}

/**
 * The machine's states as a type derived from the model literal: step names, the states its
 * transitions name (`'*'` aside), and the terminal states.
 */
function stateUnion(model: EmitMachine['model'], modelType: string): string {
  const parts: string[] = [];
  if (model.steps.length > 0) parts.push(`(${modelType})['steps'][number]['name']`);
  if ((model.transitions ?? []).length > 0) {
    parts.push(`Exclude<(${modelType})['transitions'][number]['from'][number], ${tsLiteral(ANY_STATE)}>`);
    parts.push(`(${modelType})['transitions'][number]['to']`);
  }
  const all = [...parts, ...RESERVED_STATES.map((s) => tsLiteral(s))];
  const inline = all.join(' | ');
  return inline.length <= 80 ? inline : `\n  | ${all.join('\n  | ')}`;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function declaredNames(names: ReturnType<typeof runnerNames>): string[] {
  const { pascal: _p, camel: _c, dataType: _d, contexts, ...declared } = names;
  return [...Object.values(declared), ...contexts.map((c) => c.type)];
}

function importModule(ref: Extract<DataTypeRef, { kind: 'import' }>, ctx: EmitContext): string {
  return 'file' in ref.from ? importSpecifier(ctx.outDir, ref.from.file) : ref.from.package;
}

/** How the runner writes a transition's input type, importing it (under a free name) when it must. */
function inputTypeText(ref: DataTypeRef, fallback: string, imports: ImportList, taken: Set<string>, ctx: EmitContext): string {
  if (ref.kind === 'inline') return ref.text;
  if (ref.kind === 'unknown') return 'unknown';
  const module = importModule(ref, ctx);
  const existing = imports.localOf(module, ref.importedName);
  if (existing !== undefined) return existing;
  const local = taken.has(ref.localName) ? fallback : ref.localName;
  taken.add(local);
  imports.addType(module, ref.importedName, local);
  return local;
}

interface Specifier {
  imported: string;
  local: string;
  typeOnly: boolean;
}

/** Import statements grouped by module, written the way verbatimModuleSyntax wants them. */
class ImportList {
  private readonly modules = new Map<string, { default?: Specifier; named: Specifier[] }>();

  addDefault(module: string, local: string, typeOnly: boolean): void {
    this.entry(module).default = { imported: 'default', local, typeOnly };
  }

  addNamed(module: string, imported: string, local: string, typeOnly: boolean): void {
    this.entry(module).named.push({ imported, local, typeOnly });
  }

  /** A type import, named or default. */
  addType(module: string, imported: string, local: string): void {
    if (imported === 'default') this.addDefault(module, local, true);
    else this.addNamed(module, imported, local, true);
  }

  /** The local name `imported` of `module` already has here, if any. */
  localOf(module: string, imported: string): string | undefined {
    const entry = this.modules.get(module);
    if (!entry) return undefined;
    if (imported === 'default') return entry.default?.local;
    return entry.named.find((s) => s.imported === imported)?.local;
  }

  render(): string[] {
    const lines: string[] = [];
    const sorted = [...this.modules].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [module, { default: def, named }] of sorted) {
      const from = ` from '${module}';`;
      const spec = (s: Specifier, markType: boolean) =>
        `${markType && s.typeOnly ? 'type ' : ''}${s.imported === s.local ? s.local : `${s.imported} as ${s.local}`}`;
      if (def && !def.typeOnly) {
        const braces = named.length > 0 ? `, { ${named.map((s) => spec(s, true)).join(', ')} }` : '';
        lines.push(`import ${def.local}${braces}${from}`);
        continue;
      }
      // `import type D, { x }` is not allowed: a type-only default import stands alone.
      if (def) lines.push(`import type ${def.local}${from}`);
      if (named.length > 0) {
        const allTypes = named.every((s) => s.typeOnly);
        lines.push(`import ${allTypes ? 'type ' : ''}{ ${named.map((s) => spec(s, !allTypes)).join(', ')} }${from}`);
      }
    }
    return lines;
  }

  private entry(module: string) {
    let entry = this.modules.get(module);
    if (!entry) this.modules.set(module, (entry = { named: [] }));
    return entry;
  }
}
