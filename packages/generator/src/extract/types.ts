import type { ts } from 'ts-morph';
import type { SourceLocation } from '../diagnostics.js';
import type { LiteralValue } from './literals.js';

export type DecoratorName = 'Machine' | 'Step' | 'Lock' | 'Transition';

export interface ExtractedDecorator {
  name: DecoratorName;
  args: LiteralValue[];
  loc: SourceLocation;
  /** The call's first type argument (`@Step<Payment>(...)`), read for its schema only. */
  typeArgument?: ts.TypeNode;
}

export interface ExtractedStep {
  method: string;
  /** Where the method's name is written. */
  loc: SourceLocation;
  decorator: ExtractedDecorator;
  /** `ctx.goto('state')` calls with a literal state, in the step's body. */
  gotos: ExtractedGoto[];
  /** JSON Schema derived from the decorator's type argument (`@Step<Payment>(...)`): its message wait's payload. */
  payload?: JsonSchema;
}

export interface ExtractedGoto {
  target: string;
  /** Where the literal is written. */
  loc: SourceLocation;
}

export interface ExtractedTransition {
  method: string;
  /** Where the method's name is written. */
  loc: SourceLocation;
  decorator: ExtractedDecorator;
  /** Where the `Input` of `TransitionContext<T, Input>` is written; absent when it is not. */
  inputLoc?: SourceLocation;
  /** How the runner names the `Input` type. */
  inputRef?: DataTypeRef;
  /** JSON Schema of `Input`; absent when no input type is written, `{}` when it cannot be derived. */
  input?: JsonSchema;
}

/** A JSON Schema (2020-12) as a plain object. */
export type JsonSchema = { [key: string]: unknown };

/**
 * How the generated runner names the machine's data type:
 * - `import`: an exported type, imported by name from a file (absolute path) or a package;
 * - `inline`: a self-contained type written in place (`{ n: number }`, `string[]`);
 * - `unknown`: nothing usable (no `StepContext<T>`, or a type that cannot be imported).
 */
export type DataTypeRef =
  | { kind: 'import'; importedName: string; localName: string; from: { file: string } | { package: string } }
  | { kind: 'inline'; text: string }
  | { kind: 'unknown'; reason: 'none' | 'not-exported' | 'not-importable' };

export interface DataTypeInfo {
  ref: DataTypeRef;
  /** JSON Schema of the data, derived from the TS type where possible; `{}` otherwise. */
  schema: JsonSchema;
  /** The type argument of the first step that has one. */
  loc?: SourceLocation;
  /** Steps whose `StepContext<T>` names a different type than the first one. */
  conflicts: SourceLocation[];
}

export interface ExtractedMachine {
  /** Absolute path of the source file. */
  file: string;
  /** Class name; absent for an anonymous default-exported class. */
  className?: string;
  /** Name to import the class by: its export name, `default`, or absent when not exported. */
  exportName?: string;
  /** Where the class name (or the `class` keyword) is written. */
  loc: SourceLocation;
  /** Every `@Machine` on the class; more than one is an error. */
  machine: ExtractedDecorator[];
  /** The `@Lock` of the class, else of its nearest ancestor that has one; more than one is an error. */
  lock: ExtractedDecorator[];
  /**
   * The class's own steps and those it inherits, merged as the decorators' runtime does. An
   * inherited step keeps the location in its own class's file.
   */
  steps: ExtractedStep[];
  /** `@Transition` methods of the class and its ancestors, merged by method as steps are. */
  transitions: ExtractedTransition[];
  /** Every method (and function-valued property) the class and its ancestors declare; `back` must name one. */
  methods: string[];
  /** Set when an ancestor cannot be read from source: what it inherits from there is unknown. */
  unresolvedBase?: UnresolvedBase;
  data: DataTypeInfo;
}

/** An `extends` the generator could not follow to a class in source. */
export interface UnresolvedBase {
  /** The class whose `extends` it is: the machine class or one of its ancestors. */
  className: string;
  /** The base as written after `extends`. */
  text: string;
  /** Why it could not be read. */
  reason: string;
}

export interface Extraction {
  /** Sorted by file, then position. */
  machines: ExtractedMachine[];
  /** Every file given to read, absolute (files of base classes they extend are read as well). */
  files: string[];
  /**
   * For each file read, the project files it imports that the extraction followed (relative
   * imports, `paths` aliases, base classes), absolute, whether they exist or not: what a
   * machine depends on besides its own file.
   */
  imports: Map<string, string[]>;
}

/** Where a generate run is: `read` counts files parsed, `types` data types derived, `write` is the rest. */
export interface GenerateProgress {
  stage: 'read' | 'types' | 'write';
  done: number;
  total: number;
}
