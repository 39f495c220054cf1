import 'reflect-metadata';
import type { LockModel, MachineOptions, StepOptions, TransitionOptions } from './model.js';

/**
 * Where the decorators keep what they record, and how it is read back.
 *
 * Legacy decorators store everything with reflect-metadata on the constructor. TC39 method
 * decorators do not see the class, so they write their step into `context.metadata`, which
 * the language attaches to the class as `Class[Symbol.metadata]`; when a transpiler provides
 * no metadata object, steps wait in a pending list until the class decorator claims them.
 * Class decorators store on the constructor with reflect-metadata in both modes.
 */

/** Any class, abstract or not, whatever its constructor parameters. */
export type AnyClass = abstract new (...args: never[]) => unknown;

/** What one `@Step` records: one entry of `buildModel`'s `steps`. */
export interface StepRecord {
  order: number;
  method: string;
  options?: StepOptions;
}

/** What one `@Transition` records: one entry of `buildModel`'s `transitions`. */
export interface TransitionRecord {
  name: string;
  method: string;
  options: TransitionOptions;
}

/** reflect-metadata keys on the constructor (and `context.metadata` keys for TC39 members). */
export const METADATA_KEYS = {
  machine: 'fsmkit:machine',
  lock: 'fsmkit:lock',
  steps: 'fsmkit:steps',
  transitions: 'fsmkit:transitions',
} as const;

/** The member decorators' records, by metadata key. */
type MemberKey = typeof METADATA_KEYS.steps | typeof METADATA_KEYS.transitions;
interface MemberRecord {
  method: string;
}

// Node 20 has no Symbol.metadata, and TypeScript's TC39 emit only creates `context.metadata`
// when it exists. The registered symbol is the one transpilers fall back to, so all agree.
const symbolConstructor = Symbol as SymbolConstructor & { metadata?: symbol };
symbolConstructor.metadata ??= Symbol.for('Symbol.metadata');
const METADATA_SYMBOL: symbol = symbolConstructor.metadata;

export function recordMachine(cls: AnyClass, options: MachineOptions): void {
  Reflect.defineMetadata(METADATA_KEYS.machine, options, cls);
}

export function recordLock(cls: AnyClass, lock: LockModel): void {
  Reflect.defineMetadata(METADATA_KEYS.lock, lock, cls);
}

export function hasOwnMachine(cls: AnyClass): boolean {
  return Reflect.hasOwnMetadata(METADATA_KEYS.machine, cls);
}

export function hasOwnLock(cls: AnyClass): boolean {
  return Reflect.hasOwnMetadata(METADATA_KEYS.lock, cls);
}

export function recordStepOnClass(cls: AnyClass, step: StepRecord): void {
  recordOnClass(METADATA_KEYS.steps, cls, step);
}

export function recordStepInMetadata(metadata: DecoratorMetadataObject, step: StepRecord): void {
  recordInMetadata(METADATA_KEYS.steps, metadata, step);
}

export function recordPendingStep(value: unknown, step: StepRecord): void {
  pending.push({ key: METADATA_KEYS.steps, value, step });
}

export function recordMember(key: MemberKey, target: unknown, record: MemberRecord, metadata: DecoratorMetadataObject | undefined): void {
  if (metadata) recordInMetadata(key, metadata, record);
  else pending.push({ key, value: target, step: record });
}

export function recordMemberOnClass(key: MemberKey, cls: AnyClass, record: MemberRecord): void {
  recordOnClass(key, cls, record);
}

function recordOnClass(key: MemberKey, cls: AnyClass, record: MemberRecord): void {
  const records = (Reflect.getOwnMetadata(key, cls) as MemberRecord[] | undefined) ?? [];
  Reflect.defineMetadata(key, [...records, record], cls);
}

function recordInMetadata(key: MemberKey, metadata: DecoratorMetadataObject, record: MemberRecord): void {
  // A subclass's metadata object inherits from its parent's: only its own entry is its own.
  const own = Object.hasOwn(metadata, key) ? (metadata[key] as MemberRecord[]) : [];
  metadata[key] = [...own, record];
}

interface PendingMember {
  key: MemberKey;
  value: unknown;
  step: MemberRecord;
}

const pending: PendingMember[] = [];

/**
 * Gives pending TC39 steps to their classes. TC39 applies a class's method decorators just
 * before its class decorators, so the class being decorated owns them; a step stays pending
 * only when it belongs to an undecorated base class, which a decorated subclass claims later.
 */
export function claimPendingSteps(cls: AnyClass): void {
  for (const entry of [...pending]) {
    const owner = ownerOf(cls, entry);
    if (!owner) continue;
    recordOnClass(entry.key, owner, entry.step);
    pending.splice(pending.indexOf(entry), 1);
  }
}

function ownerOf(cls: AnyClass, entry: PendingMember): AnyClass | undefined {
  for (const c of ancestry(cls)) {
    if (Object.getOwnPropertyDescriptor(c.prototype, entry.step.method)?.value === entry.value) return c;
  }
  // A decorator applied after @Step may have replaced the method with a wrapper.
  return Object.hasOwn(cls.prototype as object, entry.step.method) ? cls : undefined;
}

/** The class and its ancestors, the class first. */
export function ancestry(cls: AnyClass): AnyClass[] {
  const chain: AnyClass[] = [];
  for (let c: unknown = cls; typeof c === 'function' && c !== Function.prototype; c = Object.getPrototypeOf(c)) {
    chain.push(c as AnyClass);
  }
  return chain;
}

export function ownMachineOptions(cls: AnyClass): MachineOptions | undefined {
  return Reflect.getOwnMetadata(METADATA_KEYS.machine, cls) as MachineOptions | undefined;
}

/** The nearest `@Lock` of the class or its ancestors. */
export function inheritedLock(cls: AnyClass): LockModel | undefined {
  return Reflect.getMetadata(METADATA_KEYS.lock, cls) as LockModel | undefined;
}

/** Steps recorded on the class itself, whichever mode recorded them. */
export function ownSteps(cls: AnyClass): StepRecord[] {
  return ownMembers(METADATA_KEYS.steps, cls) as StepRecord[];
}

function ownMembers(key: MemberKey, cls: AnyClass): MemberRecord[] {
  const reflected = (Reflect.getOwnMetadata(key, cls) as MemberRecord[] | undefined) ?? [];
  const metadata = Object.hasOwn(cls, METADATA_SYMBOL)
    ? (cls as unknown as Record<symbol, DecoratorMetadataObject | undefined>)[METADATA_SYMBOL]
    : undefined;
  const standard = metadata && Object.hasOwn(metadata, key) ? (metadata[key] as MemberRecord[]) : [];
  return [...reflected, ...standard];
}

/**
 * Steps of the class and its ancestors. A class's own `@Step` on a method replaces every step
 * it inherits for that method; overriding a method without `@Step` keeps the inherited step.
 */
export function inheritedSteps(cls: AnyClass): StepRecord[] {
  return inheritedMembers(METADATA_KEYS.steps, cls) as StepRecord[];
}

/** Transitions of the class and its ancestors, merged by method as steps are. */
export function inheritedTransitions(cls: AnyClass): TransitionRecord[] {
  return inheritedMembers(METADATA_KEYS.transitions, cls) as TransitionRecord[];
}

function inheritedMembers(key: MemberKey, cls: AnyClass): MemberRecord[] {
  const byMethod = new Map<string, MemberRecord[]>();
  for (const c of ancestry(cls).reverse()) {
    const own = new Map<string, MemberRecord[]>();
    for (const record of ownMembers(key, c)) own.set(record.method, [...(own.get(record.method) ?? []), record]);
    for (const [method, records] of own) byMethod.set(method, records);
  }
  return [...byMethod.values()].flat();
}
