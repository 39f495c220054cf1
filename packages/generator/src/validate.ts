import { relative, sep } from 'node:path';
import { checkModel, machineGraph, modelWarnings, successors, type ModelProblemCode, type ModelWarningCode } from '@fsmkit/decorators';
import { sortDiagnostics, type Diagnostic, type Severity, type SourceLocation } from './diagnostics.js';
import type { UnresolvedBase } from './extract/types.js';
import type { ExtractionProblemCode, MachineEntry } from './model.js';

/** Every stable code `fsm generate` can report. */
export type DiagnosticCode =
  | ModelProblemCode
  | ModelWarningCode
  | ExtractionProblemCode
  | 'FSM_E_GOTO_UNDECLARED'
  | 'FSM_W_INPUT_SCHEMA'
  | 'FSM_E_CLASS_NOT_EXPORTED'
  | 'FSM_E_CLASS_NAME_MISSING'
  | 'FSM_E_DATA_TYPE_MISMATCH'
  | 'FSM_W_DATA_TYPE_NOT_EXPORTED'
  | 'FSM_W_EXTENDS';

export interface ValidateOptions {
  /** Folder diagnostics' file paths are relative to. */
  root: string;
}

/**
 * All problems of all machines at once: what reading the decorators found, the model rules of
 * `checkModel` (mapped from model paths to source), and the rules that span classes and files.
 */
export function validate(entries: readonly MachineEntry[], options: ValidateOptions): Diagnostic[] {
  const diagnostics = entries.flatMap((entry) => validateEntry(entry, options));
  reportDuplicates(entries, options.root, diagnostics);
  return sortDiagnostics(diagnostics);
}

/** The problems of one machine on its own (unsorted); the rules across machines are `reportDuplicates`'. */
export function validateEntry(entry: MachineEntry, options: ValidateOptions): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  const report = (code: DiagnosticCode, message: string, loc: SourceLocation, severity: Severity = 'error') =>
    diagnostics.push({ code, severity, message, ...position(loc, options.root) });
  const { model } = entry;
  for (const problem of entry.problems) report(problem.code, problem.message, problem.loc);
  const reported = new Set(entry.problems.map((p) => p.path));
  const modelProblems = checkModel(model, entry.methods && new Set(entry.methods));
  for (const problem of modelProblems) {
    const path = problem.path.join('.');
    if (!reported.has(path)) report(problem.code, problem.message, locate(entry, path));
  }
  // The graph is only walked once its edges are known to be right.
  if (modelProblems.length === 0 && entry.problems.length === 0) {
    checkGotos(entry, report);
    for (const warning of modelWarnings(model)) report(warning.code, warning.message, locate(entry, `${warning.path.join('.')}.name`), 'warning');
  }
  checkInputs(entry, report);
  if (!model.className)
    report('FSM_E_CLASS_NAME_MISSING', 'the machine class has no name: give it one, the runner imports it by name', entry.locations['']!);
  else if (entry.exportName === undefined)
    report(
      'FSM_E_CLASS_NOT_EXPORTED',
      `class ${model.className} is not exported: add \`export\`, the generated runner imports it`,
      entry.locations['']!,
    );
  if (entry.unresolvedBase)
    report('FSM_W_EXTENDS', unresolvedBaseMessage(model.className, entry.unresolvedBase), entry.locations['']!, 'warning');
  for (const conflict of entry.data.conflicts)
    report(
      'FSM_E_DATA_TYPE_MISMATCH',
      `every step and transition of ${model.className} must take the same data type (StepContext<T>, TransitionContext<T>): this one differs from ${entry.data.loc?.text ?? 'the first step'}`,
      conflict,
    );
  if (entry.data.ref.kind === 'unknown' && entry.data.ref.reason === 'not-exported')
    report(
      'FSM_W_DATA_TYPE_NOT_EXPORTED',
      `data type ${entry.data.loc?.text} is not exported, so the runner types data as unknown: export it`,
      entry.data.loc!,
      'warning',
    );
  return diagnostics;
}

type Report = (code: DiagnosticCode, message: string, loc: SourceLocation, severity?: Severity) => void;

/** `ctx.goto('x')` in a step may only name one of the step's declared successors. */
function checkGotos(entry: MachineEntry, report: Report): void {
  const graph = machineGraph(entry.model);
  entry.model.steps.forEach((step, i) => {
    const allowed = successors(graph, step);
    for (const call of entry.gotos[i] ?? []) {
      if (allowed.includes(call.target)) continue;
      const hint = step.next ? `declared next: ${allowed.map((s) => `'${s}'`).join(', ')}` : `it declares no next, so it may only go to '${allowed[0]}'`;
      report(
        'FSM_E_GOTO_UNDECLARED',
        `step "${step.name}" goes to "${call.target}", which is not among its successors (${hint}): add it to the step's next`,
        call.loc,
      );
    }
  });
}

/** Types that say "no schema" on purpose: no warning for them. */
const OPEN_INPUT = /^(unknown|any|void|undefined|never)$/;

/** A transition's `Input` type the generator could not turn into a JSON Schema: its input is not validated. */
function checkInputs(entry: MachineEntry, report: Report): void {
  entry.model.transitions?.forEach((t, i) => {
    const input = entry.inputs[i];
    if (!input || t.input !== undefined || OPEN_INPUT.test(input.loc.text.trim())) return;
    report(
      'FSM_W_INPUT_SCHEMA',
      `the input type ${input.loc.text} of transition "${t.name}" cannot be turned into a JSON Schema (a type from a package, a type parameter, a function or any), so its input is not validated: use a type declared in the project, or give { input } a schema`,
      input.loc,
      'warning',
    );
  });
}

/** Which base could not be read, why, and what that leaves out of the model. */
function unresolvedBaseMessage(className: string, base: UnresolvedBase): string {
  const how = base.className === className ? 'extends' : `inherits, through ${base.className}, from`;
  return (
    `${className} ${how} ${base.text}, which is not read from source (${base.reason}): ` +
    `steps, @Lock and back handlers it inherits from there are ignored; declare them on ${className}`
  );
}

/** A machine name may be used once in the whole project: it names tables, topics and files. */
export function reportDuplicates(entries: readonly MachineEntry[], root: string, diagnostics: Diagnostic[]): void {
  const first = new Map<string, MachineEntry>();
  const ordered = [...entries].sort((a, b) => compareLocations(a.locations['']!, b.locations['']!));
  for (const entry of ordered) {
    const name = entry.model.name;
    if (!name) continue;
    const earlier = first.get(name);
    if (!earlier) {
      first.set(name, entry);
      continue;
    }
    const where = position(earlier.locations['']!, root);
    diagnostics.push({
      code: 'FSM_E_MACHINE_DUPLICATE',
      severity: 'error',
      message: `machine name "${name}" is already used by ${earlier.model.className} at ${where.file}:${where.line}:${where.column}: names must be unique`,
      ...position(locate(entry, 'name'), root),
    });
  }
}

/** The source of a model path, or of the nearest enclosing path that has one. */
export function locate(entry: MachineEntry, path: string): SourceLocation {
  let key = path;
  for (;;) {
    const loc = entry.locations[key];
    if (loc) return loc;
    if (!key) throw new Error('machine entry without a class location');
    key = key.includes('.') ? key.slice(0, key.lastIndexOf('.')) : '';
  }
}

function position(loc: SourceLocation, root: string): Omit<Diagnostic, 'code' | 'severity' | 'message'> {
  return { file: relative(root, loc.file).split(sep).join('/'), line: loc.line, column: loc.column, text: loc.text };
}

function compareLocations(a: SourceLocation, b: SourceLocation): number {
  return a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.column - b.column;
}
