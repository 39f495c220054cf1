import {
  buildModel,
  type JoinModel,
  lockModel,
  type LockModel,
  type LockOptions,
  type LockScope,
  type MachineModel,
  type MachineOptions,
  type MessageWaitOptions,
  type RetryPolicy,
  type StepOptions,
  type TransitionOptions,
} from '@fsmkit/decorators';
import type { SourceLocation } from './diagnostics.js';
import type { LiteralValue } from './extract/literals.js';
import type {
  DataTypeInfo,
  DataTypeRef,
  ExtractedDecorator,
  ExtractedGoto,
  ExtractedMachine,
  ExtractedStep,
  ExtractedTransition,
  Extraction,
  JsonSchema,
  UnresolvedBase,
} from './extract/types.js';

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
  /** `ctx.goto('state')` calls of each step, indexed as `model.steps`. */
  gotos: ExtractedGoto[][];
  /** The `Input` type each transition's method is written with, indexed as `model.transitions`. */
  inputs: Array<TransitionInput | undefined>;
}

/** A transition's `Input` type as written, and its schema when one could be derived. */
export interface TransitionInput {
  loc: SourceLocation;
  schema?: JsonSchema;
  /** How the runner names the type. */
  ref?: DataTypeRef;
}

/** `custom`: read apart by the caller (arrays, rules, classes), only its place is recorded. */
type Kind = 'string' | 'number' | 'boolean' | 'object' | 'custom';

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
  next: 'custom',
  end: 'boolean',
  catch: 'custom',
  sleep: 'number',
  waitFor: 'custom',
  join: 'custom',
} as const satisfies Record<keyof StepOptions, Kind>;
const JOIN_OPTIONS = {
  into: 'string',
  field: 'string',
  onChildError: 'string',
} as const satisfies Record<keyof JoinModel, Kind>;
const WAIT_FOR_OPTIONS = {
  message: 'string',
  key: 'string',
  timeoutMs: 'number',
  onTimeout: 'string',
  payload: 'custom',
} as const satisfies Record<keyof MessageWaitOptions, Kind>;
const RETRY_OPTIONS = {
  maxAttempts: 'number',
  backoffMs: 'number',
  factor: 'number',
  maxBackoffMs: 'number',
  on: 'custom',
} as const satisfies Record<keyof RetryPolicy, Kind>;
const TRANSITION_OPTIONS = {
  from: 'custom',
  to: 'string',
  guard: 'string',
  input: 'custom',
} as const satisfies Record<keyof TransitionOptions, Kind>;
const CATCH_RULE = { on: 'custom', goto: 'string' } as const;
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

  const transitions = machine.transitions.map(readTransition);

  const model = buildModel({
    className: machine.className ?? '',
    options: { ...options, name: options.name ?? '' },
    ...(lock ? { lock } : {}),
    steps: [...steps].map(([method, step]) => ({ order: step.order, method, options: step.options })),
    transitions: transitions.map((t) => ({ name: t.name, method: t.method, options: t.options })),
  });

  // buildModel sorts steps by order: map each model step back to its source by method name.
  const problems = reader.problems;
  const merge = (prefix: string, read: { locations: Record<string, SourceLocation>; problems: ExtractionProblem[] }) => {
    const prefixed = (path: string) => (path ? `${prefix}.${path}` : prefix);
    for (const [path, loc] of Object.entries(read.locations)) locations[prefixed(path)] = loc;
    for (const p of read.problems) problems.push({ ...p, path: prefixed(p.path) });
  };
  const gotos: ExtractedGoto[][] = [];
  model.steps.forEach((modelStep, i) => {
    const step = steps.get(modelStep.method)!;
    merge(`steps.${i}`, step);
    gotos.push(step.gotos);
  });
  transitions.forEach((t, i) => merge(`transitions.${i}`, t));
  // A schema derived from the method's `Input` type, unless the decorator gives one itself.
  const inputs = transitions.map((t) => t.input);
  model.transitions?.forEach((t, i) => {
    const schema = inputs[i]?.schema;
    if (t.input === undefined && schema !== undefined && Object.keys(schema).length > 0) t.input = schema;
  });

  const entry: MachineEntry = { model, source: machine.file, data: machine.data, locations, problems, gotos, inputs };
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
  gotos: ExtractedGoto[];
}

/** One `@Transition(name, options)` read on its own; paths are relative to the transition. */
interface ReadTransition {
  name: string;
  method: string;
  options: TransitionOptions;
  locations: Record<string, SourceLocation>;
  problems: ExtractionProblem[];
  input?: TransitionInput;
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
  const props = objectArg(decorator, 1)?.properties ?? {};
  const retry = props.retry;
  if (retry?.kind === 'object') {
    const policy = reader.object(retry, RETRY_OPTIONS, 'retry.', locations) as unknown as RetryPolicy;
    if (retry.properties.on) policy.on = reader.matchers(retry.properties.on, 'retry.on', locations);
    options.retry = policy;
  }
  if (props.next) {
    const next = reader.states(props.next, 'next', locations, 'next');
    if (next) options.next = next;
  }
  if (props.catch) {
    const rules = reader.catchRules(props.catch, locations);
    if (rules) options.catch = rules;
  }
  const waitFor = props.waitFor;
  if (waitFor?.kind === 'object') {
    const wait = reader.object(waitFor, WAIT_FOR_OPTIONS, 'waitFor.', locations) as unknown as MessageWaitOptions;
    const payload = waitFor.properties.payload;
    if (payload) {
      const schema = jsonOf(payload);
      if (schema !== undefined && typeof schema === 'object' && schema !== null && !Array.isArray(schema)) wait.payload = schema as JsonSchema;
      else reader.problem('FSM_E_OPTION_TYPE', 'option "waitFor.payload" must be a JSON Schema object literal', 'waitFor.payload', payload.loc);
    } else if (step.payload !== undefined && Object.keys(step.payload).length > 0) {
      // `@Step<Payment>(n, { waitFor })`: the payload's schema derived from the type.
      wait.payload = step.payload;
    }
    options.waitFor = wait;
  } else if (waitFor) reader.problem('FSM_E_OPTION_TYPE', 'option "waitFor" must be an object literal such as { message, key, timeoutMs, onTimeout }', 'waitFor', waitFor.loc);
  const join = props.join;
  if (join?.kind === 'object') options.join = reader.object(join, JOIN_OPTIONS, 'join.', locations) as JoinModel;
  else if (join?.kind === 'boolean' && join.value) options.join = true;
  else if (join) reader.problem('FSM_E_OPTION_TYPE', 'option "join" must be true or an object literal such as { into, field, onChildError }', 'join', join.loc);
  return { order, options, locations, problems: reader.problems, gotos: step.gotos };
}

function readTransition(transition: ExtractedTransition): ReadTransition {
  const { decorator, method } = transition;
  const reader = new OptionReader();
  const arg = decorator.args[0];
  const locations: Record<string, SourceLocation> = { '': decorator.loc, method: transition.loc, name: arg?.loc ?? decorator.loc };
  let name = '';
  if (arg?.kind === 'string') name = arg.value;
  else
    reader.problem(
      arg?.kind === 'nonliteral' ? 'FSM_E_OPTION_NOT_LITERAL' : 'FSM_E_OPTION_TYPE',
      "@Transition needs a name literal: @Transition('approve', { from, to })",
      'name',
      arg?.loc ?? decorator.loc,
    );
  const options = reader.options(decorator, 1, TRANSITION_OPTIONS, '', '', locations) as Partial<TransitionOptions>;
  const props = objectArg(decorator, 1)?.properties ?? {};
  let from: string[] | undefined;
  if (props.from) from = reader.states(props.from, 'from', locations, 'from');
  if (props.input) {
    const schema = jsonOf(props.input);
    if (schema !== undefined && typeof schema === 'object' && schema !== null && !Array.isArray(schema)) options.input = schema as JsonSchema;
    else reader.problem('FSM_E_OPTION_TYPE', 'option "input" must be a JSON Schema object literal', 'input', props.input.loc);
  }
  const given = decorator.args[1];
  for (const key of ['from', 'to'] as const) {
    if (given === undefined || (given.kind === 'object' && props[key] === undefined))
      reader.problem('FSM_E_OPTION_TYPE', `@Transition(${arg?.loc.text ?? ''}) needs { from, to }`, key, given?.loc ?? decorator.loc);
  }
  const read: ReadTransition = {
    name,
    method,
    // Unreadable parts were reported: what stands in for them keeps the model rules from repeating it.
    options: { ...options, from: from ?? ['*'], to: options.to ?? '' },
    locations,
    problems: reader.problems,
  };
  if (transition.inputLoc)
    read.input = {
      loc: transition.inputLoc,
      ...(transition.input ? { schema: transition.input } : {}),
      ...(transition.inputRef ? { ref: transition.inputRef } : {}),
    };
  return read;
}

/** Plain JSON of a literal, or undefined when part of it is not one. */
function jsonOf(value: LiteralValue): unknown {
  switch (value.kind) {
    case 'string':
    case 'number':
    case 'boolean':
      return value.value;
    case 'array': {
      const items = value.items.map(jsonOf);
      return items.includes(undefined) ? undefined : items;
    }
    case 'object': {
      const entries = Object.entries(value.properties).map(([k, v]) => [k, jsonOf(v)] as const);
      return entries.some(([, v]) => v === undefined) ? undefined : Object.fromEntries(entries);
    }
    default:
      return undefined;
  }
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
      else if (expected === 'custom') continue;
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

  /** A state name or a list of them (`next`, `from`); items are located at `path.j`. */
  states(value: LiteralValue, path: string, locations: Record<string, SourceLocation>, option: string): string[] | undefined {
    const items = value.kind === 'array' ? value.items : [value];
    const states: string[] = [];
    for (const [j, item] of items.entries()) {
      locations[`${path}.${j}`] = item.loc;
      if (item.kind === 'string') states.push(item.value);
      else {
        this.literalProblem(item, `option "${option}" takes a state name or an array of them, as string literals`, `${path}.${j}`);
        return undefined;
      }
    }
    return states;
  }

  /** Error matchers: codes and names as strings, error classes by the name they are declared with. */
  matchers(value: LiteralValue, path: string, locations: Record<string, SourceLocation>): string[] {
    locations[path] = value.loc;
    const items = value.kind === 'array' ? value.items : [value];
    const names: string[] = [];
    for (const item of items) {
      if (item.kind === 'string') names.push(item.value);
      else if (item.kind === 'nonliteral' && item.reference !== undefined) names.push(item.reference);
      else this.literalProblem(item, `option "on" takes error codes, names (string literals) or error classes`, path);
    }
    return names;
  }

  /** `catch: [{ on, goto }]`. */
  catchRules(value: LiteralValue, locations: Record<string, SourceLocation>): Array<{ on: string[]; goto: string }> | undefined {
    if (value.kind !== 'array') {
      this.literalProblem(value, 'option "catch" takes an array of rules: catch: [{ on: [...], goto: \'state\' }]', 'catch');
      return undefined;
    }
    const rules: Array<{ on: string[]; goto: string }> = [];
    for (const [j, item] of value.items.entries()) {
      const path = `catch.${j}`;
      locations[path] = item.loc;
      if (item.kind !== 'object') {
        this.literalProblem(item, 'a catch rule is an object literal: { on: [...], goto: \'state\' }', path);
        continue;
      }
      const rule = this.object(item, CATCH_RULE, `${path}.`, locations);
      const on = item.properties.on ? this.matchers(item.properties.on, `${path}.on`, locations) : [];
      if (item.properties.on === undefined || typeof rule.goto !== 'string') {
        if (!this.problems.some((p) => p.path.startsWith(path)))
          this.problem('FSM_E_OPTION_TYPE', 'a catch rule needs on and goto: { on: [...], goto: \'state\' }', path, item.loc);
        continue;
      }
      rules.push({ on, goto: rule.goto });
    }
    return rules;
  }

  private literalProblem(value: LiteralValue, message: string, path: string): void {
    this.problem(value.kind === 'nonliteral' ? 'FSM_E_OPTION_NOT_LITERAL' : 'FSM_E_OPTION_TYPE', message, path, value.loc);
  }
}
