import { lockModel, type LockOptions, type MachineOptions, type StepOptions, type TransitionOptions } from './model.js';
import {
  claimPendingSteps,
  hasOwnLock,
  hasOwnMachine,
  METADATA_KEYS,
  recordLock,
  recordMachine,
  recordMember,
  recordMemberOnClass,
  type AnyClass,
  type StepRecord,
  type TransitionRecord,
} from './metadata.js';

/**
 * `@Machine`, `@Step` and `@Lock` only record what they are given; `machineModelOf` turns it
 * into a model later, so the order in which they run does not matter. Each works as a legacy
 * decorator (`experimentalDecorators`) and as a TC39 standard decorator: the arguments tell
 * which one the compiler is calling.
 *
 * They throw only for what a model cannot hold (a step on a field, a static or private method);
 * everything else, such as duplicate orders or bad names, is left to `checkModel`.
 */

/** A class decorator in both modes. */
export interface ClassMarker {
  (target: AnyClass, context?: ClassDecoratorContext): void;
}

/** A method decorator in both modes. */
export interface MethodMarker {
  (target: object, key: string | symbol, descriptor: PropertyDescriptor): void;
  (value: (...args: never[]) => unknown, context: ClassMethodDecoratorContext): void;
}

/** Marks a class as a machine. Not inherited: a subclass is a machine only with its own `@Machine`. */
export function Machine(options: MachineOptions): ClassMarker {
  if (typeof options !== 'object' || options === null || typeof options.name !== 'string')
    throw new TypeError("@Machine needs an options object with a string name, such as @Machine({ name: 'order' })");
  const recorded: MachineOptions = { ...options };
  return (target: unknown, context?: unknown) => {
    const cls = decoratedClass('@Machine', target, context);
    if (hasOwnMachine(cls)) throw new TypeError(`${cls.name} has two @Machine decorators: keep one`);
    recordMachine(cls, recorded);
  };
}

/**
 * Locks the machine's instances: `global` (one running instance in the whole system) or
 * `local` (one per user, or per machine type with `{ by: 'type' }`). Inherited by subclasses.
 */
export function Lock(scope: 'global' | 'local', options?: LockOptions): ClassMarker {
  assertOptionsObject(`@Lock('${String(scope)}')`, options);
  const lock = lockModel(scope, options);
  return (target: unknown, context?: unknown) => {
    const cls = decoratedClass('@Lock', target, context);
    if (hasOwnLock(cls)) throw new TypeError(`${cls.name} has two @Lock decorators: keep one`);
    recordLock(cls, lock);
  };
}

/**
 * Marks a method as the step run at position `order` (a positive integer, unique per machine).
 * `TPayload`: the payload type of the step's message wait (`waitFor`), from which the generator
 * derives the schema `deliver` checks; the runtime does not use it.
 */
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- read from source by the generator only
export function Step<TPayload = unknown>(order: number, options?: StepOptions): MethodMarker {
  const label = `@Step(${String(order)})`;
  assertOptionsObject(label, options);
  const recordedOptions = options === undefined ? undefined : { ...options };
  return memberMarker(label, METADATA_KEYS.steps, (method): StepRecord =>
    recordedOptions === undefined ? { order, method } : { order, method, options: recordedOptions },
  );
}

/**
 * Marks a method as a named transition, run only when called with
 * `runner.transition(id, name, input, { actor })`: allowed from the `from` states (`'*'`: any
 * state that is not final), it moves the instance to `to`. What the method returns is recorded
 * in history.
 */
export function Transition(name: string, options: TransitionOptions): MethodMarker {
  const label = `@Transition(${JSON.stringify(name)})`;
  if (typeof name !== 'string') throw new TypeError('@Transition needs a name, such as @Transition(\'approve\', { from, to })');
  if (typeof options !== 'object' || options === null || options.to === undefined || options.from === undefined)
    throw new TypeError(`${label} needs { from, to }`);
  const recorded: TransitionOptions = { ...options };
  return memberMarker(label, METADATA_KEYS.transitions, (method): TransitionRecord => ({ name, method, options: recorded }));
}

/** A method decorator in both modes that records `record(methodName)` under `key`. */
function memberMarker(
  label: string,
  key: typeof METADATA_KEYS.steps | typeof METADATA_KEYS.transitions,
  record: (method: string) => { method: string },
): MethodMarker {
  return (target: unknown, keyOrContext: unknown, descriptor?: unknown) => {
    if (isDecoratorContext(keyOrContext)) {
      const context = keyOrContext;
      if (context.kind !== 'method')
        throw new TypeError(`${label} decorates methods, but was applied to a ${context.kind} (${describe(context.name)})`);
      const { name, metadata } = context;
      if (context.static) throw staticMethod(label, name);
      if (context.private) throw new TypeError(`${label} cannot mark private method ${describe(name)}: the runtime calls it by name`);
      recordMember(key, target, record(methodName(label, name)), metadata);
      return;
    }
    if (typeof target === 'function') {
      if (keyOrContext === undefined) throw new TypeError(`${label} decorates methods, but was applied to class ${target.name}`);
      throw staticMethod(label, keyOrContext as string | symbol);
    }
    if (typeof target !== 'object' || target === null || (typeof keyOrContext !== 'string' && typeof keyOrContext !== 'symbol'))
      throw new TypeError(`${label} must be used as a decorator on a method`);
    const method = methodName(label, keyOrContext);
    const value = (descriptor as PropertyDescriptor | undefined)?.value;
    if (typeof value !== 'function')
      throw new TypeError(`${label} decorates methods, but ${describe(method)} is a property or accessor`);
    recordMemberOnClass(key, target.constructor as AnyClass, record(method));
  };
}

/** The class a class decorator was applied to, in either mode. */
function decoratedClass(label: string, target: unknown, context: unknown): AnyClass {
  if (isDecoratorContext(context)) {
    const { kind, name } = context;
    if (kind !== 'class') throw new TypeError(`${label} decorates classes, but was applied to a ${kind} (${describe(name)})`);
    // Steps recorded without decorator metadata are this class's (or its bases'): take them now.
    claimPendingSteps(target as AnyClass);
    return target as AnyClass;
  }
  if (context !== undefined)
    throw new TypeError(`${label} decorates classes, but was applied to member ${describe(context as string | symbol)}`);
  if (typeof target !== 'function') throw new TypeError(`${label} must be used as a decorator on a class`);
  return target as AnyClass;
}

function isDecoratorContext(value: unknown): value is DecoratorContext {
  return typeof value === 'object' && value !== null && typeof (value as { kind?: unknown }).kind === 'string';
}

function assertOptionsObject(label: string, options: unknown): void {
  if (options !== undefined && (typeof options !== 'object' || options === null))
    throw new TypeError(`${label} takes an options object as its second argument`);
}

function methodName(label: string, name: string | symbol): string {
  if (typeof name === 'symbol') throw new TypeError(`${label} needs a method with a string name, not ${describe(name)}`);
  return name;
}

function staticMethod(label: string, name: string | symbol | undefined): TypeError {
  return new TypeError(`${label} cannot mark static method ${describe(name)}: handlers run on instances of the machine class`);
}

function describe(name: string | symbol | undefined): string {
  return typeof name === 'string' ? `"${name}"` : String(name);
}
