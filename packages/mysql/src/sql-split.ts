/**
 * Splits a SQL script into statements at top-level `;`, skipping `;` inside quotes
 * ('...', "...", `...`) and comments (`-- `, `#`, `/* *\/`). Comment-only pieces are dropped;
 * each statement starts at its first non-comment character. MySQL's executable comments
 * (`/*! ... *\/`) count as statement text. `DELIMITER` is a client command, not SQL, and is
 * not supported.
 */
export function splitStatements(script: string): string[] {
  const statements: string[] = [];
  let start = -1; // first content character of the current statement
  let i = 0;
  const n = script.length;
  const content = (at: number) => {
    if (start < 0) start = at;
  };
  while (i < n) {
    const ch = script[i]!;
    const next = script[i + 1];
    if (ch === ';') {
      if (start >= 0) statements.push(script.slice(start, i).trimEnd());
      start = -1;
      i++;
    } else if (ch === "'" || ch === '"' || ch === '`') {
      content(i);
      i = skipQuoted(script, i, ch);
    } else if (ch === '#' || (ch === '-' && next === '-' && isSpaceOrEnd(script[i + 2]))) {
      const end = script.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
    } else if (ch === '/' && next === '*') {
      const executable = script[i + 2] === '!' || (script[i + 2] === 'M' && script[i + 3] === '!');
      if (executable) content(i);
      const end = script.indexOf('*/', i + 2);
      if (end < 0) throw new SyntaxError(`unterminated comment at offset ${i}`);
      i = end + 2;
    } else {
      if (!/\s/.test(ch)) content(i);
      i++;
    }
  }
  if (start >= 0) statements.push(script.slice(start).trimEnd());
  return statements;
}

function isSpaceOrEnd(ch: string | undefined): boolean {
  return ch === undefined || ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r';
}

/** Index just past the closing quote; a doubled quote or a backslash escape stays inside. */
function skipQuoted(script: string, open: number, quote: string): number {
  let i = open + 1;
  while (i < script.length) {
    const ch = script[i]!;
    if (ch === '\\' && quote !== '`') {
      i += 2;
    } else if (ch === quote) {
      if (script[i + 1] === quote) i += 2;
      else return i + 1;
    } else {
      i++;
    }
  }
  throw new SyntaxError(`unterminated ${quote} quote starting at offset ${open}`);
}
