import { RESERVED_STATES } from '@fsmkit/decorators';
import { headerText } from '../header.js';
import { camelCase, displayPath, importSpecifier, pascalCase } from './names.js';
import { tsLiteral } from './ts-literal.js';
import type { EmitContext, EmitMachine, GeneratedFile } from './types.js';

/** Names the runner imports from @fsmkit/runtime; a user type must not shadow them. */
const RUNTIME_NAMES = ['createRunner', 'MachineDefinition', 'MachineModel', 'MachineRunner', 'RunnerOptions'];

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
  };
  const { ref } = machine.data;
  const taken = new Set<string>([...RUNTIME_NAMES, model.className, ...Object.values(declared)]);
  // Keep the user's name for an imported type unless it would clash with a name the runner declares.
  const dataType = ref.kind === 'import' && !taken.has(ref.localName) ? ref.localName : `${pascal}Data`;
  return { pascal, camel, ...declared, dataType };
}

/** `<name>.runner.ts`: typed data plus calls into @fsmkit/runtime, rendered from `runner.ts.hbs`. */
export function runnerFile(machine: EmitMachine, ctx: EmitContext): GeneratedFile {
  const { model } = machine;
  const { pascal, camel, dataType } = runnerNames(machine);

  const imports = new ImportList();
  const exportName = machine.exportName ?? model.className;
  const classModule = importSpecifier(ctx.outDir, machine.source);
  if (exportName === 'default') imports.addDefault(classModule, model.className, false);
  else imports.addNamed(classModule, exportName, model.className, false);

  const { ref } = machine.data;
  let dataExport: string;
  if (ref.kind === 'import') {
    const module = 'file' in ref.from ? importSpecifier(ctx.outDir, ref.from.file) : ref.from.package;
    if (ref.importedName === 'default') imports.addDefault(module, dataType, true);
    else imports.addNamed(module, ref.importedName, dataType, true);
    dataExport = `export type { ${dataType} };`;
  } else {
    dataExport = `export type ${dataType} = ${ref.kind === 'inline' ? ref.text : 'unknown'};`;
  }

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
    stateUnion: [...stepNames, ...RESERVED_STATES].map((s) => tsLiteral(s)).join(' | '),
    stepTuple: tsLiteral(stepNames),
    modelLiteral: tsLiteral(model),
  });
  return { path: `${model.name}.runner.ts`, content };
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
