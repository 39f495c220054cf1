import type { MachineModel } from '@fsmkit/decorators';
import type { DataTypeRef, JsonSchema } from '../extract/types.js';
import type { Templates } from './templates.js';

/** What an emitter needs to know of one machine; tests build it by hand. */
export interface EmitMachine {
  model: MachineModel;
  /** Absolute path of the file that declares the class. */
  source: string;
  /** Name the class is exported by; `default` for a default export. Defaults to the class name. */
  exportName?: string;
  data: { ref: DataTypeRef; schema: JsonSchema };
  /**
   * The `Input` type of each transition's method, indexed as `model.transitions`; absent (or
   * without `ref`) when none is written: the runner types that input as `void`.
   */
  inputs?: ReadonlyArray<{ ref?: DataTypeRef } | undefined>;
}

export interface EmitOptions {
  /** Sources are named relative to this folder in headers (generate passes the output folder). */
  root: string;
  /** Absolute folder the files will be written to; imports are relative to it. */
  outDir: string;
  /** Prefix of every SQL table. Default `fsm_`. */
  tablePrefix?: string;
  /** Folder whose templates replace the default ones, file by file. */
  templates?: string;
}

/** One output file: its name inside outDir, and its full text. */
export interface GeneratedFile {
  path: string;
  content: string;
}

export interface EmitContext {
  root: string;
  outDir: string;
  tablePrefix: string;
  templates: Templates;
}
