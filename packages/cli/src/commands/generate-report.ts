import { isAbsolute, relative } from 'node:path';
import type { GenerateResult } from '@fsmkit/generator';
import { formatDiagnostic } from '@fsmkit/generator';
import { EXIT_FAILURE, EXIT_OK, type Io } from '../command.js';

/**
 * Prints what a generate run found and did, the same for a single run and for each run of a
 * watch: every diagnostic on stderr, then one summary line. Returns the exit code.
 */
export function reportRun(result: GenerateResult, io: Io, options: { check?: boolean; update?: boolean } = {}): number {
  // Paths under the working directory are shown relative to it, others in full.
  const show = (path: string) => {
    const rel = relative(io.cwd, path);
    return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? path : rel;
  };
  const errors = result.diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = result.diagnostics.length - errors;
  for (const d of result.diagnostics) io.err(`${formatDiagnostic(d)}\n`);
  if (errors > 0) {
    io.err(`fsm generate: ${count(errors, 'error')}${warnings ? `, ${count(warnings, 'warning')}` : ''}; nothing was written\n`);
    return EXIT_FAILURE;
  }

  const outDir = show(result.config.outDir);
  if (options.check) {
    if (result.stale.length === 0) {
      io.out(`fsm generate --check: ${count(result.files.length, 'file')} in ${outDir} are up to date\n`);
      return EXIT_OK;
    }
    for (const stale of result.stale) io.err(`  ${stale.reason.padEnd(8)} ${show(stale.path)}\n`);
    if (result.migrations.length > 0) io.err('  (a machine changed since its snapshot: `fsm generate` writes a migration for it)\n');
    io.err(`fsm generate --check: ${count(result.stale.length, 'file')} out of date in ${outDir}: run \`fsm generate\`\n`);
    return EXIT_FAILURE;
  }
  const parts = [`${result.written.length} written`, `${result.unchanged.length} unchanged`];
  if (result.removed.length > 0) parts.push(`${result.removed.length} removed`);
  // An update names the sources it read again: with many machines, that says what the change reached.
  const reread = options.update ? `, from ${result.reread.length <= 3 ? result.reread.map(show).join(', ') || 'no source' : count(result.reread.length, 'source')}` : '';
  io.out(`fsm generate: ${count(result.machines, 'machine')} -> ${outDir} (${parts.join(', ')})${reread}\n`);
  for (const path of result.migrations) io.out(`  new migration ${show(path)}: review it, then run \`fsm migrate\`\n`);
  return EXIT_OK;
}

export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
