import { ts } from 'ts-morph';

/** Parses without parent pointers, JSDoc or a ts-morph wrapper: the cheapest tree the compiler API gives. */
export function parse(file: string, text: string): ts.SourceFile {
  const options = { languageVersion: ts.ScriptTarget.ES2022, jsDocParsingMode: ts.JSDocParsingMode.ParseNone };
  return ts.createSourceFile(file, text, options, false, /\.[cm]?tsx$/.test(file) ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
}
