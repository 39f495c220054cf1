/**
 * Versions of the layout of a machine's two tables. Each release that adds columns adds a
 * layout here; `machineDdl` creates the newest one, and a database created by an earlier
 * release is brought up to date by the generator's migration (`fsm migrate`) or by
 * `MysqlStore.ensureSchema`, both from this list.
 */
import { quoteId, type TableNames } from './schema.js';

/** Layout 1: the first release. */
export const TABLE_LAYOUT = 3;

export interface AddedColumn {
  table: keyof TableNames;
  column: string;
  /** Type and default, exactly as in `machineDdl` (a test keeps the two equal). */
  definition: string;
}

/** The columns each layout added, appended at the end of their table as `machineDdl` writes them. */
export const LAYOUT_COLUMNS: Readonly<Record<number, readonly AddedColumn[]>> = {
  2: [
    { table: 'instances', column: 'takeovers', definition: 'INT NOT NULL DEFAULT 0' },
    { table: 'history', column: 'transition', definition: 'VARCHAR(64) NULL' },
    { table: 'history', column: 'actor', definition: 'VARCHAR(191) NULL' },
    { table: 'history', column: 'result', definition: 'TEXT NULL' },
  ],
  // Waiting and composing: priorities, message waits, child machines, chains.
  3: [
    { table: 'instances', column: 'priority', definition: 'INT NOT NULL DEFAULT 0' },
    { table: 'instances', column: 'wait_message', definition: 'VARCHAR(64) NULL' },
    { table: 'instances', column: 'wait_key', definition: 'VARCHAR(191) NULL' },
    { table: 'instances', column: 'waiting_for', definition: 'TEXT NULL' },
    { table: 'instances', column: 'parent_machine', definition: 'VARCHAR(48) NULL' },
    { table: 'instances', column: 'parent_id', definition: 'CHAR(36) CHARACTER SET ascii NULL' },
    { table: 'instances', column: 'chained_from', definition: 'VARCHAR(1024) NULL' },
  ],
};

export interface AddedIndex {
  table: keyof TableNames;
  index: string;
  /** The key's column list, exactly as in `machineDdl`. */
  columns: string;
}

/** The indexes each layout added, as `machineDdl` declares them. */
export const LAYOUT_INDEXES: Readonly<Record<number, readonly AddedIndex[]>> = {
  3: [
    { table: 'instances', index: 'ix_wait', columns: '`wait_message`, `wait_key`' },
    { table: 'instances', index: 'ix_parent', columns: '`parent_id`, `id`' },
    // Claims by priority, then due time (see MachineSql.claimQuery).
    { table: 'instances', index: 'ix_claim', columns: '`status`, `priority` DESC, `next_run_at`' },
  ],
};

/**
 * Rows a layout's meaning changed for, brought up to date once its columns exist. Layout 3: a
 * waiting instance with no due time is never claimed any more, so the step-at-a-time waits an
 * earlier release left without one become due (as `MysqlStore.ensureSchema` does too).
 */
export const LAYOUT_DATA: Readonly<Record<number, ReadonlyArray<(tables: TableNames) => string>>> = {
  3: [
    (t) =>
      `UPDATE ${quoteId(t.instances)} SET \`next_run_at\` = \`updated_at\` WHERE \`status\` = 'waiting' AND \`next_run_at\` IS NULL AND \`waiting_for\` IS NULL`,
  ],
};

/** Indexes added after layout `from`, oldest layout first. */
export function indexesAddedSince(from: number): AddedIndex[] {
  const added: AddedIndex[] = [];
  for (let layout = from + 1; layout <= TABLE_LAYOUT; layout++) added.push(...(LAYOUT_INDEXES[layout] ?? []));
  return added;
}

/** `ALTER TABLE t ADD KEY k (...)`: for tables known to lack the index. */
export function addIndexSql(tables: TableNames, added: AddedIndex): string {
  return `ALTER TABLE ${quoteId(tables[added.table])} ADD KEY ${quoteId(added.index)} (${added.columns})`;
}

/** Columns added after layout `from`, oldest layout first. */
export function columnsAddedSince(from: number): AddedColumn[] {
  const added: AddedColumn[] = [];
  for (let layout = from + 1; layout <= TABLE_LAYOUT; layout++) added.push(...(LAYOUT_COLUMNS[layout] ?? []));
  return added;
}

/** `ALTER TABLE t ADD COLUMN c ...`: for tables known to lack the column. */
export function addColumnSql(tables: TableNames, added: AddedColumn): string {
  return `ALTER TABLE ${quoteId(tables[added.table])} ADD COLUMN ${quoteId(added.column)} ${added.definition}`;
}

/**
 * Statements that add each column and index missing since layout `from`, and leave one that
 * exists alone: MySQL 8 has no `ADD COLUMN IF NOT EXISTS`, so each ALTER is prepared only when
 * information_schema says the column is missing. A database whose tables were created at the
 * newest layout (a fresh one, where `<machine>.sql` ran first) is left as it is.
 */
export function layoutUpgradeSql(tables: TableNames, from: number): string[] {
  const statements: string[] = [];
  for (const added of columnsAddedSince(from)) {
    const missing =
      'SELECT COUNT(*) = 0 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ' +
      `AND TABLE_NAME = ${literal(tables[added.table])} AND COLUMN_NAME = ${literal(added.column)}`;
    statements.push(...ifMissing(missing, addColumnSql(tables, added)));
  }
  for (const added of indexesAddedSince(from)) {
    const missing =
      'SELECT COUNT(*) = 0 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() ' +
      `AND TABLE_NAME = ${literal(tables[added.table])} AND INDEX_NAME = ${literal(added.index)}`;
    statements.push(...ifMissing(missing, addIndexSql(tables, added)));
  }
  for (let layout = from + 1; layout <= TABLE_LAYOUT; layout++) for (const update of LAYOUT_DATA[layout] ?? []) statements.push(update(tables));
  return statements;
}

/** Runs `ddl` only when the query `missing` returns true. */
function ifMissing(missing: string, ddl: string): string[] {
  return [`SET @fsm_ddl = IF((${missing}), ${literal(ddl)}, 'DO 0')`, 'PREPARE fsm_stmt FROM @fsm_ddl', 'EXECUTE fsm_stmt', 'DEALLOCATE PREPARE fsm_stmt'];
}

/** A SQL string literal; what it quotes is built from validated names only. */
function literal(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}
