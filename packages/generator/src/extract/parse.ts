import type { ts } from 'ts-morph';
import { tsc } from './ts.js';

/** Parses without parent pointers, JSDoc or a ts-morph wrapper: the cheapest tree the compiler API gives. */
export function parse(file: string, text: string): ts.SourceFile {
  const options = { languageVersion: tsc.ScriptTarget.ES2022, jsDocParsingMode: tsc.JSDocParsingMode.ParseNone };
  return tsc.createSourceFile(file, text, options, false, /\.[cm]?tsx$/.test(file) ? tsc.ScriptKind.TSX : tsc.ScriptKind.TS);
}
