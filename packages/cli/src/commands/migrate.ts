import { isAbsolute, relative, resolve } from 'node:path';
import { EXIT_FAILURE, EXIT_OK, UsageError, type Command, type Io, parseFlags } from '../command.js';
import { readSettings, SETTINGS_FLAGS } from '../settings.js';

const USAGE = `Usage: fsm migrate [options]

Applies the SQL that \`fsm generate\` wrote to a MySQL or MariaDB database, in order and once
each: the shared tables, each machine's tables, then migrations/ by name. Every applied file is
recorded in the journal table (<prefix>migrations) with the checksum of its statements; a
recorded file whose statements changed since is reported and not run again.

Options:
      --url <url>           mysql://user:password@host:port/database (default: FSM_MYSQL_URL,
                            else the config's url, else mysql://root@127.0.0.1:3306/test)
  -d, --dir <dir>           folder of the generated SQL (default: the config's outDir)
  -c, --config <file>       config file, for outDir, tablePrefix and url
                            (default: fsm.config.ts, .mts, .mjs or .js in the cwd, if any)
      --table-prefix <p>    prefix of the tables and the journal (default: the config's, else
                            fsm_); tables generated under another prefix are created under it
      --dry-run             print the statements that would run (on stdout); run nothing
  -h, --help                show this help

Exit codes: 0 ok, 1 an applied file changed or the database failed, 2 bad usage or config.`;

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'apply the generated SQL and migrations to MySQL, once each, with a journal',
  usage: USAGE,
  run: runMigrate,
};

async function runMigrate(args: string[], io: Io): Promise<number> {
  const values = parseFlags(
    args,
    {
      ...SETTINGS_FLAGS,
      dir: { type: 'string', short: 'd' },
      'dry-run': { type: 'boolean', default: false },
    },
    USAGE,
    io,
  );
  if (values === null) return EXIT_OK;

  const settings = await readSettings(values, io);
  const dir = values.dir === undefined ? settings.outDir : resolve(io.cwd, values.dir);
  if (dir === undefined) throw new UsageError(`no fsm.config.ts in ${io.cwd}: pass --dir <folder of the generated SQL>, or --config`);
  const target = { dir, tablePrefix: settings.tablePrefix };
  const dryRun = values['dry-run'];
  // Loaded here, not at the top: `fsm --help` should not load the MySQL driver.
  const [{ migrate }, { isFsmError }] = await Promise.all([import('@fsmkit/mysql'), import('@fsmkit/runtime')]);
  const url = settings.url;
  const shown = redact(url);
  const dirShown = show(io.cwd, target.dir);

  let result;
  try {
    result = await migrate({ url, dir: target.dir, tablePrefix: target.tablePrefix, dryRun });
  } catch (error) {
    if (!isFsmError(error)) throw error;
    io.err(`fsm migrate: ${error.message}\n`);
    return EXIT_FAILURE;
  }

  // With --dry-run, stdout is the SQL alone, so that it can be piped or saved.
  const report = dryRun ? io.err : io.out;
  report(`fsm migrate${dryRun ? ' --dry-run' : ''}: ${dirShown} -> ${shown} (journal ${target.tablePrefix}migrations)\n`);
  const line = (verb: string, file: string) => report(`  ${verb.padEnd(13)} ${file}\n`);
  for (const file of result.skipped) line('skipped', file);
  for (const file of result.applied) line(dryRun ? 'would apply' : 'applied', file);
  for (const file of result.changed) line('changed', file);
  if (dryRun) {
    let file: string | undefined;
    for (const statement of result.statements) {
      if (statement.file !== file) io.out(`${file === undefined ? '' : '\n'}-- ${(file = statement.file)}\n`);
      io.out(`${statement.sql};\n`);
    }
  }
  const counts = `${result.applied.length} ${dryRun ? 'to apply' : 'applied'}, ${result.skipped.length} skipped, ${result.changed.length} changed`;
  report(`fsm migrate${dryRun ? ' --dry-run' : ''}: ${counts}${dryRun ? '; nothing was run' : ''}\n`);

  if (result.problems.length === 0) return EXIT_OK;
  io.err(`fsm migrate: ${result.changed.length === 1 ? '1 applied file has' : `${result.changed.length} applied files have`} changed since, and ${result.changed.length === 1 ? 'was' : 'were'} not run again:\n`);
  for (const problem of result.problems) {
    const { file, expected, actual } = problem.context as { file: string; expected: string; actual: string };
    io.err(`  ${file}  (applied as ${expected.slice(0, 12)}…, now ${actual.slice(0, 12)}…)\n`);
  }
  io.err('Restore each (for example from version control) and put the change in a new file under migrations/.\n');
  return EXIT_FAILURE;
}

/** The URL without its password, for printing. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
  }
}

/** Paths under the working directory are shown relative to it, others in full. */
function show(cwd: string, path: string): string {
  const rel = relative(cwd, path);
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}
