import type { GenerateResult } from '@fsmkit/generator';
import { EXIT_OK, EXIT_USAGE, type Command, type Io, parseFlags, UsageError } from '../command.js';
import { progressLine } from '../progress.js';

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
  -w, --watch             after the first run, watch the sources and rewrite the files of each machine a
                          change reaches (its file, or a file it imports); SIGINT or SIGTERM stops
  -h, --help              show this help

Exit codes: 0 ok (a watch: stopped by a signal), 1 errors in the sources or (with --check) stale
output, 2 bad usage or config.`;

export const generateCommand: Command = {
  name: 'generate',
  summary: 'read @Machine classes and write runners, SQL, event schemas and diagrams',
  usage: USAGE,
  run: runGenerate,
};

/**
 * Runs `fsm generate`; with --watch, until `stop` aborts (by default: SIGINT or SIGTERM).
 * Exported so that tests can stop a watch without signalling their own process; `onRun` hears
 * of every run a watch makes.
 */
export async function runGenerate(args: string[], io: Io, stop?: AbortSignal, onRun?: (result: GenerateResult | undefined) => void): Promise<number> {
  const values = parseFlags(
    args,
    {
      config: { type: 'string', short: 'c' },
      include: { type: 'string', multiple: true },
      out: { type: 'string' },
      templates: { type: 'string' },
      check: { type: 'boolean', default: false },
      watch: { type: 'boolean', short: 'w', default: false },
    },
    USAGE,
    io,
  );
  if (values === null) return EXIT_OK;
  if (values.check && values.watch) throw new UsageError('--check and --watch cannot be used together');

  // Loaded here, not at the top: `fsm --help` should not pay for the TypeScript compiler.
  const { ConfigError, GenerateSession, loadConfig } = await import('@fsmkit/generator');
  const { reportRun } = await import('./generate-report.js');
  const load = () =>
    loadConfig({
      cwd: io.cwd,
      ...(values.config ? { config: values.config } : {}),
      overrides: {
        ...(values.include ? { include: values.include } : {}),
        ...(values.out ? { outDir: values.out } : {}),
        ...(values.templates ? { templates: values.templates } : {}),
      },
    });
  let config;
  try {
    config = await load();
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(`fsm generate: ${error.message}\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
  if (values.watch) {
    const { watchGenerate } = await import('./generate-watch.js');
    return watchGenerate({ config, load, io, ...(stop ? { stop } : {}), ...(onRun ? { onRun } : {}) });
  }
  const progress = progressLine(io.terminal);
  const result = await new GenerateSession(config).run({ check: values.check, onProgress: progress.update });
  progress.done();
  return reportRun(result, io, { check: values.check });
}
