import type { MachineDefinition, StepContext } from './context.js';
import { ancestry, inheritedLock, inheritedSteps, inheritedTransitions, ownMachineOptions, type AnyClass } from './metadata.js';
import { buildModel, type MachineModel } from './model.js';

/**
 * The model of a class decorated with `@Machine`, built from what its decorators recorded.
 *
 * Inheritance: `@Machine` itself is not inherited (its name names the machine's tables and
 * topic, so two classes must not share it by accident); steps and `@Lock` are. A subclass
 * with its own `@Machine` runs its parent's steps plus its own, and its own `@Step` on a
 * method replaces the step it inherits for that method.
 */
export function machineModelOf(cls: AnyClass): MachineModel {
  const options = ownMachineOptions(cls);
  if (!options) {
    const machineParent = ancestry(cls).find((c) => c !== cls && ownMachineOptions(c));
    const hint = machineParent
      ? `: it extends ${machineParent.name}, which is, but @Machine is not inherited; give ${cls.name} its own @Machine`
      : ': decorate it with @Machine({ name })';
    throw new TypeError(`class ${cls.name || '(anonymous)'} is not decorated with @Machine${hint}`);
  }
  const lock = inheritedLock(cls);
  return buildModel({
    className: cls.name,
    options,
    ...(lock ? { lock: { ...lock } } : {}),
    steps: inheritedSteps(cls),
    transitions: inheritedTransitions(cls),
  });
}

/** The data type of a machine class, read from its handlers' `StepContext<TData>` parameter. */
export type DataOfClass<C extends AnyClass> = OrUnknown<DataOfHandlers<InstanceType<C>>>;

type DataOfHandlers<T> = {
  [K in keyof T]: T[K] extends (ctx: StepContext<infer TData>, ...rest: never[]) => unknown ? TData : never;
}[keyof T];

type OrUnknown<T> = [T] extends [never] ? unknown : T;

/** A machine class the runtime can instantiate: no constructor arguments. */
export type MachineClass = new () => object;

export interface ClassDefinition<TData, TInstance extends object> extends MachineDefinition<TData> {
  create(): TInstance;
}

/**
 * What the runtime runs, from a decorated class: its model and a factory for its instances.
 * The data type comes from the handlers' `StepContext<TData>`, or from the type argument.
 */
export function definitionFromClass<C extends MachineClass>(cls: C): ClassDefinition<DataOfClass<C>, InstanceType<C>>;
export function definitionFromClass<TData>(cls: MachineClass): ClassDefinition<TData, object>;
export function definitionFromClass(cls: MachineClass): ClassDefinition<unknown, object> {
  const model = machineModelOf(cls);
  return { model, create: () => new cls() };
}
