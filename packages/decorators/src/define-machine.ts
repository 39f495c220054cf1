import type { Handler, MachineDefinition } from './context.js';
import { buildModel, lockModel, normalizeName, type LocalLockBy, type MachineOptions, type StepOptions } from './model.js';

/** Handlers by method name: the decorator-free twin of a machine class's methods. */
export type MachineMethods<TData> = Record<string, Handler<TData>>;

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
  const { className, lock, steps, methods, ...options } = definition;
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
  });
  return { model, create: () => methods };
}

function defaultClassName(name: string): string {
  const pascal = normalizeName(name)
    .split('_')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
  return `${pascal}Machine`;
}
