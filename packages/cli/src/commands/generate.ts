import { isAbsolute, relative } from 'node:path';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type Command, type Io, parseFlags } from '../command.js';

const USAGE = `Usage: fsm generate [options]

Reads @Machine classes and writes, per machine, a typed runner, MySQL DDL, the JSON Schema of
its events and a Mermaid diagram; for all machines, the shared DDL, an AsyncAPI document, an
index and model.json. Nothing is written when any source has an error.

It keeps a snapshot of each machine in migrations/meta/; when a machine's steps change (added,
removed, renamed, reordered), it writes the next migrations/NNNN_<machine>_<change>.sql for
\`fsm migrate\` to apply: review it first.

Options:
  -c, --config <file>     config file (default: fsm.config.ts, .mts, .mjs or .js in the cwd)
      --include <glob>    files to read, instead of the config's include (repeatable)
      --out <dir>         output folder, instead of the config's outDir
      --templates <dir>   folder of templates that replace the default ones
      --check             write nothing; exit 1 if any generated file (or migration) is missing, stale or extra
  -h, --help              show this help

Exit codes: 0 ok, 1 errors in the sources or (with --check) stale output, 2 bad usage or config.`;

export const generateCommand: Command = {
  name: 'generate',
  summary: 'read @Machine classes and write runners, SQL, event schemas and diagrams',
  usage: USAGE,
  run: runGenerate,
};

async function runGenerate(args: string[], io: Io): Promise<number> {
  const values = parseFlags(
    args,
    {
      config: { type: 'string', short: 'c' },
      include: { type: 'string', multiple: true },
      out: { type: 'string' },
      templates: { type: 'string' },
      check: { type: 'boolean', default: false },
    },
    USAGE,
    io,
  );
  if (values === null) return EXIT_OK;

  // Loaded here, not at the top: `fsm --help` should not pay for the TypeScript compiler.
  const { ConfigError, formatDiagnostic, generate } = await import('@fsmkit/generator');
  let result;
  try {
    result = await generate({
      cwd: io.cwd,
      check: values.check,
      ...(values.config ? { config: values.config } : {}),
      ...(values.include ? { include: values.include } : {}),
      ...(values.out ? { outDir: values.out } : {}),
      ...(values.templates ? { templates: values.templates } : {}),
    });
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(`fsm generate: ${error.message}\n`);
      return EXIT_USAGE;
    }
    throw error;
  }

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
  if (values.check) {
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
  const machines = result.files.filter((f) => f.path.endsWith('.runner.ts')).length;
  io.out(`fsm generate: ${count(machines, 'machine')} -> ${outDir} (${parts.join(', ')})\n`);
  for (const path of result.migrations) io.out(`  new migration ${show(path)}: review it, then run \`fsm migrate\`\n`);
  return EXIT_OK;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
