import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FsmError } from '@fsmkit/runtime';
import mysql, { type Connection, type Pool, type RowDataPacket } from 'mysql2/promise';
import { checkedSharedTables } from './machine-sql.js';
import { defaultUrl } from './pool.js';
import { NAME_PATTERN } from '@fsmkit/decorators';
import { DEFAULT_TABLE_PREFIX, machineTables, quoteId, sharedDdl, tablePrefix, type SchemaOptions } from './schema.js';
import { splitStatements } from './sql-split.js';
import { storeError } from './store-error.js';

export interface MigrateOptions {
  /** Use this pool (left open); otherwise one connection to `url` (default `FSM_MYSQL_URL`). */
  pool?: Pool;
  url?: string;
  /** Folder the generator writes to: `fsm_shared.sql` (or `<prefix>shared.sql`), `<machine>.sql`, `migrations/NNNN_<name>.sql`. */
  dir: string;
  /**
   * Prefix of the journal and of every table. Default `fsm_`. When the files were generated
   * under another prefix (model.json's `tablePrefix`), their tables are created under this one.
   */
  tablePrefix?: string;
  /** List what would run; run nothing, create nothing. */
  dryRun?: boolean;
}

export interface PlannedStatement {
  file: string;
  sql: string;
}

export interface MigrateResult {
  /** Files applied by this run, in order (with `dryRun`: the files that would be). */
  applied: string[];
  /** Files already applied, unchanged. */
  skipped: string[];
  /** Files already applied whose content changed since; not run again. */
  changed: string[];
  /** One FSM_MIGRATION_CHANGED error per changed file, with context `{ file, expected, actual }` checksums. */
  problems: FsmError[];
  /** Statements run (with `dryRun`: that would run), in order. */
  statements: PlannedStatement[];
}

interface SqlFile {
  /** Path relative to `dir`, `/`-separated: the journal key. */
  name: string;
  checksum: string;
  statements: string[];
}

/**
 * Applies a folder of SQL files once each, in a fixed order: the shared file, the other
 * top-level files by name, then `migrations/` by name. Each applied file is journaled with the
 * sha256 of its statements, so comments and line endings may change (a generated header names
 * its source file); a journaled file whose statements changed since is reported, never re-run,
 * except a top-level file of CREATE TABLE IF NOT EXISTS alone, which runs again (see `recreatable`).
 * DDL commits at once in MySQL, so a file is journaled only after all its statements succeeded.
 */
export async function migrate(options: MigrateOptions): Promise<MigrateResult> {
  const schema: SchemaOptions = options.tablePrefix === undefined ? {} : { tablePrefix: options.tablePrefix };
  const journal = checkedSharedTables(schema).migrations;
  const sharedNames = new Set([`${DEFAULT_TABLE_PREFIX}shared.sql`, `${tablePrefix(schema)}shared.sql`]);
  const files = await readFiles(options.dir, sharedNames, tablePrefix(schema)).catch((cause: unknown) => {
    if (cause instanceof FsmError) throw cause;
    throw new FsmError('FSM_STORE', `cannot read the SQL files in ${options.dir}: ${(cause as Error).message}`, {
      cause,
      context: { dir: options.dir },
    });
  });
  const result: MigrateResult = { applied: [], skipped: [], changed: [], problems: [], statements: [] };

  const { conn, done } = await connect(options);
  const lockName = `fsmkit.migrate.${journal}`;
  let locked = false;
  try {
    if (!options.dryRun) {
      // Two deployments migrating at once would both see a file as new.
      const [rows] = await conn.execute<RowDataPacket[]>('SELECT GET_LOCK(?, 60) AS got', [lockName]);
      if (rows[0]?.['got'] !== 1) throw new Error(`another migration holds the lock ${lockName}; try again when it ends`);
      locked = true;
      await conn.query(journalDdl(schema, journal));
    }
    const applied = await readJournal(conn, journal);
    for (const file of files) {
      const known = applied.get(file.name);
      if (known === file.checksum) {
        result.skipped.push(file.name);
      } else if (known !== undefined && !recreatable(file)) {
        result.changed.push(file.name);
        result.problems.push(changedError(file, known));
      } else {
        if (!options.dryRun) await apply(conn, journal, file);
        result.applied.push(file.name);
        for (const sql of file.statements) result.statements.push({ file: file.name, sql });
      }
    }
    return result;
  } catch (cause) {
    throw storeError({ operation: `migrate ${options.dir}` }, cause);
  } finally {
    if (locked) await conn.execute('SELECT RELEASE_LOCK(?)', [lockName]).catch(() => undefined);
    await done();
  }
}

async function readFiles(dir: string, sharedNames: Set<string>, prefix: string): Promise<SqlFile[]> {
  // Plain code-unit order, the same on every machine and locale; the shared file first.
  const top = (await sqlNames(dir, false)).sort();
  top.sort((a, b) => Number(sharedNames.has(b)) - Number(sharedNames.has(a)));
  const later = (await sqlNames(join(dir, 'migrations'), true)).sort();
  const names = [...top, ...later.map((f) => `migrations/${f}`)];
  const machines = top.filter((f) => !sharedNames.has(f)).map((f) => f.slice(0, -'.sql'.length));
  const rename = await renames(dir, prefix, machines);
  const files = await Promise.all(
    names.map(async (name) => {
      // Line endings may change on checkout; they change nothing the server sees.
      const text = (await readFile(join(dir, ...name.split('/')), 'utf8')).replace(/\r\n/g, '\n');
      let statements: string[];
      try {
        statements = splitStatements(text);
      } catch (cause) {
        throw new FsmError('FSM_STORE', `migration ${name} cannot be split into statements: ${(cause as Error).message}`, {
          cause,
          context: { file: name },
        });
      }
      // The journal keeps the checksum of the file as written, whatever the prefix.
      return { name, checksum: checksum(statements), statements: rename ? statements.map(rename) : statements };
    }),
  );
  return files;
}

/**
 * The generated SQL names its tables with the prefix it was generated under (model.json's
 * `tablePrefix`). Migrating under another prefix renames exactly those tables, quoted as the
 * generator writes them, so that tables and journal share one prefix. Null when nothing changes.
 */
async function renames(dir: string, prefix: string, machineFiles: string[]): Promise<((sql: string) => string) | null> {
  let generated: { tablePrefix?: unknown; machines?: Array<{ model?: { name?: unknown } }> };
  try {
    generated = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as typeof generated;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const from = typeof generated.tablePrefix === 'string' ? generated.tablePrefix : DEFAULT_TABLE_PREFIX;
  if (from === prefix) return null;
  const machines = new Set(machineFiles);
  for (const m of generated.machines ?? []) if (typeof m.model?.name === 'string') machines.add(m.model.name);
  const map = new Map<string, string>();
  const [before, after] = [checkedSharedTables({ tablePrefix: from }), checkedSharedTables({ tablePrefix: prefix })];
  for (const key of Object.keys(before) as Array<keyof typeof before>) map.set(before[key], after[key]);
  for (const machine of machines) {
    if (!NAME_PATTERN.test(machine)) continue;
    const [old, now] = [machineTables(machine, { tablePrefix: from }), machineTables(machine, { tablePrefix: prefix })];
    map.set(old.instances, now.instances);
    map.set(old.history, now.history);
  }
  return (sql) => sql.replace(/`((?:[^`]|``)+)`/g, (quoted, name: string) => {
    const renamed = map.get(name);
    return renamed === undefined ? quoted : quoteId(renamed);
  });
}

async function sqlNames(dir: string, optional: boolean): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isFile() && e.name.endsWith('.sql')).map((e) => e.name);
  } catch (error) {
    if (optional && (error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

function journalDdl(schema: SchemaOptions, journal: string): string {
  const ddl = sharedDdl(schema).find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS ${quoteId(journal)} `));
  if (ddl === undefined) throw new Error(`sharedDdl has no statement for ${journal}`);
  return ddl;
}

async function readJournal(conn: Connection, journal: string): Promise<Map<string, string>> {
  try {
    const [rows] = await conn.query<RowDataPacket[]>(`SELECT \`name\`, \`checksum\` FROM ${quoteId(journal)}`);
    return new Map(rows.map((r) => [r['name'] as string, r['checksum'] as string]));
  } catch (error) {
    // A dry run on a fresh database: no journal yet, so nothing is applied.
    if ((error as { code?: unknown }).code === 'ER_NO_SUCH_TABLE') return new Map();
    throw error;
  }
}

async function apply(conn: Connection, journal: string, file: SqlFile): Promise<void> {
  for (const [index, sql] of file.statements.entries()) {
    try {
      await conn.query(sql);
    } catch (cause) {
      throw new FsmError(
        'FSM_STORE',
        `migration ${file.name} failed at statement ${index + 1} of ${file.statements.length}: ${(cause as Error).message}. ` +
          'Statements before it have run (DDL commits at once); fix the file or the database, then run migrate again.',
        { cause, context: { file: file.name, statement: index + 1, sql } },
      );
    }
  }
  await conn.execute(
    `INSERT INTO ${quoteId(journal)} (\`name\`, \`checksum\`, \`applied_at\`) VALUES (?, ?, ?) ` +
      'ON DUPLICATE KEY UPDATE `checksum` = VALUES(`checksum`), `applied_at` = VALUES(`applied_at`)',
    [file.name, file.checksum, new Date()],
  );
}

/**
 * A top-level file of nothing but CREATE TABLE IF NOT EXISTS (the tables `fsm generate`
 * writes) runs again when it changes: it cannot touch a table that exists, and a new release's
 * columns reach existing tables through a migration under migrations/ instead.
 */
function recreatable(file: SqlFile): boolean {
  return !file.name.includes('/') && file.statements.every((sql) => /^CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s/i.test(sql));
}

/** What the server runs, and nothing else: comments and blank lines are not part of it. */
function checksum(statements: string[]): string {
  return createHash('sha256').update(statements.join(';\n')).digest('hex');
}

function changedError(file: SqlFile, expected: string): FsmError {
  return new FsmError(
    'FSM_MIGRATION_CHANGED',
    `migration ${file.name} was applied with checksum ${expected} but its statements now have ${file.checksum}; it is not run again. ` +
      'Applied files must not change: restore it (e.g. from version control) and put the change in a new file under migrations/.',
    { context: { file: file.name, expected, actual: file.checksum } },
  );
}

async function connect(options: MigrateOptions): Promise<{ conn: Connection; done: () => Promise<void> }> {
  try {
    if (options.pool !== undefined) {
      const conn = await options.pool.getConnection();
      return { conn, done: async () => conn.release() };
    }
    const conn = await mysql.createConnection({ uri: options.url ?? defaultUrl(), timezone: 'Z' });
    return { conn, done: () => conn.end().catch(() => undefined) };
  } catch (cause) {
    throw storeError({ operation: `connect to migrate ${options.dir}` }, cause);
  }
}
