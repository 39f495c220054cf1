import type { Guard, Handler, MachineDefinition, StandardSchemaV1, TransitionHandler } from './context.js';
import {
  buildModel,
  lockModel,
  normalizeName,
  type JsonSchema,
  type LocalLockBy,
  type MachineOptions,
  type StepOptions,
  type TransitionOptions,
} from './model.js';

/** Handlers by method name: the decorator-free twin of a machine class's methods. */
export type MachineMethods<TData> = Record<string, Handler<TData>>;

/**
 * `@Transition(name, options)` as data, with its method (`run`) and guard as functions;
 * `input` is a JSON Schema or any Standard Schema validator (such as zod's).
 */
export interface TransitionDefinition<TData> extends Omit<TransitionOptions, 'guard' | 'input'> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the input type is the caller's to state
  run: TransitionHandler<TData, any>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  guard?: Guard<TData, any>;
  input?: JsonSchema | StandardSchemaV1;
}

/** `@Step(order, options)` as data; `back` must name one of the methods. */
export interface StepDefinition<TMethod extends string = string> extends Omit<StepOptions, 'back'> {
  order: number;
  back?: TMethod;
}

/** `@Lock(...)` as data; no lock when absent. */
export type LockDefinition = { scope: 'none' } | { scope: 'global' } | { scope: 'local'; by?: LocalLockBy };

export interface DefineMachineOptions<TData, TMethods extends MachineMethods<TData>> extends MachineOptions {
  /** The model's `className`; defaults to the name in PascalCase plus `Machine` (`order` -> `OrderMachine`). */
  className?: string;
  lock?: LockDefinition;
  /** Which methods are steps, as `@Step` would mark them on a class. */
  steps: { [K in keyof TMethods & string]?: StepDefinition<keyof TMethods & string> };
  /** Named transitions by name; their methods are `run` (and `guard`), stored under the transition's name. */
  transitions?: Record<string, TransitionDefinition<TData>>;
  methods: TMethods & MachineMethods<TData>;
}

export interface DefinedMachine<TData, TMethods extends object> extends MachineDefinition<TData> {
  /** The `methods` object itself: the runtime calls its handlers as it would a class instance's. */
  create(): TMethods;
}

/**
 * Defines a machine without decorators; the model equals that of the class it mirrors.
 *
 * The data type is inferred from a handler's `ctx: StepContext<TData>` annotation, and then
 * the `steps` keys and `back` values are checked against the method names. Passing it
 * explicitly (`defineMachine<OrderData>({...})`) types every `ctx` without annotations, but
 * TypeScript then cannot infer the method names, so those names are checked at run time only
 * (a step without a method throws here; a missing `back` method is reported by `checkModel`).
 */
export function defineMachine<TData = unknown, const TMethods extends MachineMethods<TData> = MachineMethods<TData>>(
  definition: DefineMachineOptions<TData, TMethods>,
): DefinedMachine<TData, TMethods> {
  const { className, lock, steps, methods, transitions, ...options } = definition;
  const stepList = Object.entries(steps as Record<string, StepDefinition | undefined>).flatMap(([method, step]) => {
    if (step === undefined) return [];
    if (typeof methods[method] !== 'function')
      throw new TypeError(`machine "${options.name}" has step "${method}" but no method of that name in its methods`);
    const { order, ...stepOptions } = step;
    return [{ order, method, options: stepOptions }];
  });
  const model = buildModel({
    className: className ?? defaultClassName(options.name),
    options,
    ...(lock ? { lock: lock.scope === 'local' ? lockModel('local', { by: lock.by }) : lockModel(lock.scope) } : {}),
    steps: stepList,
    transitions: Object.entries(transitions ?? {}).map(([name, t]) => {
      const { run: _run, guard, input, ...rest } = t;
      const options: TransitionOptions = guard === undefined ? rest : { ...rest, guard: guardName(name) };
      if (input !== undefined && !isStandardSchema(input)) options.input = input;
      return { name, method: name, options };
    }),
  });
  const all: Record<string, unknown> = { ...methods };
  const validators: Record<string, StandardSchemaV1> = {};
  for (const [name, t] of Object.entries(transitions ?? {})) {
    all[name] = t.run;
    if (t.guard !== undefined) all[guardName(name)] = t.guard;
    if (isStandardSchema(t.input)) validators[name] = t.input;
  }
  const create = () => all as TMethods;
  return Object.keys(validators).length > 0 ? { model, create, validators } : { model, create };
}

/** The method name a `defineMachine` guard is stored under. */
function guardName(transition: string): string {
  return `${transition}Guard`;
}

function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  return typeof value === 'object' && value !== null && '~standard' in value;
}

function defaultClassName(name: string): string {
  const pascal = normalizeName(name)
    .split('_')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
  return `${pascal}Machine`;
}
