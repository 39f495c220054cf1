/** Where a piece of a machine was written: an absolute file path, 1-based line and column, and the source text. */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
  text: string;
}

export type Severity = 'error' | 'warning';

/**
 * One problem found in the sources. `file` is relative to the project root (the folder of the
 * config file), with forward slashes, so that the output reads the same on every machine.
 */
export interface Diagnostic {
  code: string;
  severity: Severity;
  message: string;
  file: string;
  line: number;
  column: number;
  text: string;
}

const MAX_TEXT = 120;

/** `file:line:col  CODE  message` and, below it, the offending text (first line, shortened). */
export function formatDiagnostic(d: Diagnostic): string {
  const lines = d.text.split('\n');
  let text = lines[0]!.trimEnd();
  if (lines.length > 1 || text.length > MAX_TEXT) text = `${text.slice(0, MAX_TEXT)} …`;
  const code = d.severity === 'warning' ? `${d.code} (warning)` : d.code;
  return `${d.file}:${d.line}:${d.column}  ${code}  ${d.message}\n    > ${text}`;
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}

/** Sorts by file, line, column, then code, so that output is stable. */
export function sortDiagnostics(diagnostics: Diagnostic[]): Diagnostic[] {
  return diagnostics.sort(
    (a, b) =>
      compare(a.file, b.file) || a.line - b.line || a.column - b.column || compare(a.code, b.code),
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
