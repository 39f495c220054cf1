import {
  buildModel,
  lockModel,
  type LockModel,
  type LockOptions,
  type LockScope,
  type MachineModel,
  type MachineOptions,
  type RetryPolicy,
  type StepOptions,
} from '@fsmkit/decorators';
import type { SourceLocation } from './diagnostics.js';
import type { LiteralValue } from './extract/literals.js';
import type { DataTypeInfo, ExtractedDecorator, ExtractedMachine, ExtractedStep, Extraction, UnresolvedBase } from './extract/types.js';

export { MODEL_VERSION } from '@fsmkit/decorators';

/** Codes of problems found while reading decorator arguments, before the model rules run. */
export type ExtractionProblemCode =
  | 'FSM_E_ORDER_NOT_LITERAL'
  | 'FSM_E_ORDER_INVALID'
  | 'FSM_E_OPTION_NOT_LITERAL'
  | 'FSM_E_OPTION_TYPE'
  | 'FSM_E_OPTION_UNKNOWN'
  | 'FSM_E_DECORATOR_REPEATED';

export interface ExtractionProblem {
  code: ExtractionProblemCode;
  message: string;
  /** Model path the problem concerns, dot-joined (`steps.1.order`); model rules on it are then not repeated. */
  path: string;
  loc: SourceLocation;
}

/** A machine as the generator knows it: its model plus what the model cannot hold. */
export interface MachineEntry {
  model: MachineModel;
  /** Absolute path of the file that declares the class. */
  source: string;
  /** Name the class is exported by (`default` for a default export); absent when not exported. */
  exportName?: string;
  /** Methods of the class and its ancestors; absent when an ancestor cannot be read from source. */
  methods?: string[];
  /** The ancestor that cannot be read from source, if any. */
  unresolvedBase?: UnresolvedBase;
  data: DataTypeInfo;
  /** Model path (dot-joined, `''` for the class) -> where it is written. */
  locations: Record<string, SourceLocation>;
  problems: ExtractionProblem[];
}

type Kind = 'string' | 'number' | 'boolean' | 'object';

// `satisfies Record<keyof ...>` makes the compiler flag an option added to the decorators but not read here.
const MACHINE_OPTIONS = {
  name: 'string',
  topic: 'string',
  saveAfterStep: 'boolean',
  immediate: 'boolean',
  version: 'number',
  onError: 'string',
  initial: 'string',
} as const satisfies Record<keyof MachineOptions, Kind>;
const STEP_OPTIONS = {
  name: 'string',
  back: 'string',
  immediate: 'boolean',
  retry: 'object',
  timeoutMs: 'number',
  // Read apart (arrays and rules): see the graph options.
  next: 'object',
  end: 'boolean',
  catch: 'object',
} as const satisfies Record<keyof StepOptions, Kind>;
const RETRY_OPTIONS = {
  maxAttempts: 'number',
  backoffMs: 'number',
  factor: 'number',
  maxBackoffMs: 'number',
  on: 'object',
} as const satisfies Record<keyof RetryPolicy, Kind>;
const LOCK_OPTIONS = { by: 'string' } as const satisfies Record<keyof LockOptions, Kind>;

const ON_ERROR: ReadonlySet<string> = new Set(['fail', 'compensate']);

/** Builds one entry per extracted machine, with `buildModel` so defaults match the decorators exactly. */
export function buildModels(extraction: Extraction): MachineEntry[] {
  return extraction.machines.map(toEntry);
}

function toEntry(machine: ExtractedMachine): MachineEntry {
  const reader = new OptionReader();
  const [machineDecorator, ...extraMachines] = machine.machine;
  for (const extra of [...extraMachines, ...machine.lock.slice(1)]) reader.repeated(extra);
  // The name's place is its literal when there is one (set while reading), else the decorator.
  const locations: Record<string, SourceLocation> = { '': machine.loc, steps: machine.loc, name: machineDecorator!.loc };
  const options = reader.options(machineDecorator!, 0, MACHINE_OPTIONS, '', 'name', locations) as Partial<MachineOptions>;
  if (options.onError !== undefined && !ON_ERROR.has(options.onError))
    reader.problem('FSM_E_OPTION_TYPE', `onError must be 'fail' or 'compensate', got '${options.onError}'`, 'onError', locations.onError!);
  const lock = readLock(machine.lock[0], reader, locations);

  const steps = new Map<string, ReadStep>();
  for (const step of machine.steps) {
    if (steps.has(step.method)) reader.repeated(step.decorator);
    else steps.set(step.method, readStep(step));
  }

  const model = buildModel({
    className: machine.className ?? '',
    options: { ...options, name: options.name ?? '' },
    ...(lock ? { lock } : {}),
    steps: [...steps].map(([method, step]) => ({ order: step.order, method, options: step.options })),
  });

  // buildModel sorts steps by order: map each model step back to its source by method name.
  const problems = reader.problems;
  model.steps.forEach((modelStep, i) => {
    const step = steps.get(modelStep.method)!;
    const prefixed = (path: string) => (path ? `steps.${i}.${path}` : `steps.${i}`);
    for (const [path, loc] of Object.entries(step.locations)) locations[prefixed(path)] = loc;
    for (const p of step.problems) problems.push({ ...p, path: prefixed(p.path) });
  });

  const entry: MachineEntry = { model, source: machine.file, data: machine.data, locations, problems };
  if (machine.exportName !== undefined) entry.exportName = machine.exportName;
  if (machine.unresolvedBase) entry.unresolvedBase = machine.unresolvedBase;
  else entry.methods = [...machine.methods];
  return entry;
}

/** One `@Step(order, options)` read on its own; paths are relative to the step. */
interface ReadStep {
  order: number;
  options: StepOptions;
  locations: Record<string, SourceLocation>;
  problems: ExtractionProblem[];
}

function readStep(step: ExtractedStep): ReadStep {
  const { decorator } = step;
  const reader = new OptionReader();
  const arg = decorator.args[0];
  const locations: Record<string, SourceLocation> = { '': decorator.loc, name: step.loc, order: arg?.loc ?? decorator.loc };
  // NaN for an order that cannot be read: the problem is reported here, not again by the model rules.
  const order = arg?.kind === 'number' ? arg.value : Number.NaN;
  if (arg === undefined) reader.problem('FSM_E_ORDER_NOT_LITERAL', '@Step needs an order: @Step(1)', 'order', decorator.loc);
  else if (arg.kind === 'nonliteral')
    reader.problem(
      'FSM_E_ORDER_NOT_LITERAL',
      'step order must be an integer literal such as @Step(1), not an expression: the generator reads it from source without running it',
      'order',
      arg.loc,
    );
  else if (arg.kind !== 'number')
    reader.problem('FSM_E_ORDER_INVALID', `step order must be a positive integer, got ${arg.loc.text}`, 'order', arg.loc);

  const options = reader.options(decorator, 1, STEP_OPTIONS, '', '', locations) as StepOptions;
  const retry = objectArg(decorator, 1)?.properties.retry;
  if (retry?.kind === 'object') options.retry = reader.object(retry, RETRY_OPTIONS, 'retry.', locations) as unknown as RetryPolicy;
  return { order, options, locations, problems: reader.problems };
}

function readLock(
  decorator: ExtractedDecorator | undefined,
  reader: OptionReader,
  locations: Record<string, SourceLocation>,
): LockModel | undefined {
  if (!decorator) return undefined;
  locations.lock = decorator.loc;
  locations['lock.scope'] = decorator.loc;
  const scope = decorator.args[0];
  if (scope?.kind !== 'string') {
    reader.problem(
      scope?.kind === 'nonliteral' ? 'FSM_E_OPTION_NOT_LITERAL' : 'FSM_E_OPTION_TYPE',
      "@Lock needs a scope literal: @Lock('global') or @Lock('local', { by: 'user' })",
      'lock.scope',
      scope?.loc ?? decorator.loc,
    );
    return undefined;
  }
  locations['lock.scope'] = scope.loc;
  const options = reader.options(decorator, 1, LOCK_OPTIONS, 'lock.', 'lock.by', locations) as LockOptions;
  return lockModel(scope.value as LockScope, options);
}

function objectArg(decorator: ExtractedDecorator, index: number): Extract<LiteralValue, { kind: 'object' }> | undefined {
  const arg = decorator.args[index];
  return arg?.kind === 'object' ? arg : undefined;
}

/** Reads literal options against a table of known keys, collecting problems instead of throwing. */
class OptionReader {
  readonly problems: ExtractionProblem[] = [];

  problem(code: ExtractionProblemCode, message: string, path: string, loc: SourceLocation): void {
    this.problems.push({ code, message, path, loc });
  }

  repeated(decorator: ExtractedDecorator): void {
    this.problem('FSM_E_DECORATOR_REPEATED', `@${decorator.name} is used more than once here: keep one`, '', decorator.loc);
  }

  /**
   * The options object at `args[index]`, read against `table`. `wholePath` is the model path
   * blamed when the object itself is not a literal.
   */
  options(
    decorator: ExtractedDecorator,
    index: number,
    table: Record<string, Kind>,
    prefix: string,
    wholePath: string,
    locations: Record<string, SourceLocation>,
  ): Record<string, unknown> {
    const arg = decorator.args[index];
    if (arg === undefined) return {};
    if (arg.kind !== 'object') {
      this.problem(
        arg.kind === 'nonliteral' ? 'FSM_E_OPTION_NOT_LITERAL' : 'FSM_E_OPTION_TYPE',
        `@${decorator.name} options must be an object literal: the generator reads them from source without running it`,
        wholePath,
        arg.loc,
      );
      return {};
    }
    return this.object(arg, table, prefix, locations);
  }

  /** Literal values of the known keys; nested objects are left to the caller. */
  object(
    value: Extract<LiteralValue, { kind: 'object' }>,
    table: Record<string, Kind>,
    prefix: string,
    locations: Record<string, SourceLocation>,
  ): Record<string, unknown> {
    const result: Record<string, unknown> = {};
    for (const [key, prop] of Object.entries(value.properties)) {
      const path = prefix + key;
      const expected = table[key];
      locations[path] = prop.loc;
      if (expected === undefined)
        this.problem('FSM_E_OPTION_UNKNOWN', `unknown option "${key}": use one of ${Object.keys(table).join(', ')}`, path, value.keys[key]!);
      else if (prop.kind === 'nonliteral')
        this.problem(
          'FSM_E_OPTION_NOT_LITERAL',
          `option "${key}" must be a literal: the generator reads it from source without running it`,
          path,
          prop.loc,
        );
      else if (prop.kind !== expected)
        this.problem('FSM_E_OPTION_TYPE', `option "${key}" must be a ${expected}, got ${prop.loc.text}`, path, prop.loc);
      else if (prop.kind !== 'object') result[key] = prop.value;
    }
    return result;
  }
}
