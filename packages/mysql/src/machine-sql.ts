import { FsmError } from '@fsmkit/runtime';
import { HISTORY_COLUMNS, INSTANCE_COLUMNS, OUTBOX_COLUMNS, UPDATE_COLUMNS } from './rows.js';
import { machineTables, quoteId, sharedTables, type SchemaOptions, type SharedTableNames, type TableNames } from './schema.js';

const cols = (names: readonly string[]): string => names.map(quoteId).join(', ');
const tuple = (n: number): string => `(${new Array<string>(n).fill('?').join(', ')})`;

/** `(?, ?), (?, ?)` for a multi-row INSERT. */
function tuples(rows: number, width: number): string {
  const one = tuple(width);
  return new Array<string>(rows).fill(one).join(', ');
}

/**
 * Multi-row INSERT text by row count, kept for the usual small counts so the hot path reuses
 * one string (mysql2 keys its prepared statements by the text).
 */
class InsertText {
  private readonly cache: string[] = [];

  constructor(
    private readonly prefix: string,
    private readonly width: number,
  ) {}

  rows(n: number): string {
    const cached = this.cache[n];
    if (cached !== undefined) return cached;
    const text = this.prefix + tuples(n, this.width);
    if (n <= 16) this.cache[n] = text;
    return text;
  }
}

/**
 * Validates a machine name through `machineTables` before any SQL exists for it: a bad name
 * becomes an FsmError and never reaches the server.
 */
export function checkedTables(machine: string, options: SchemaOptions): TableNames {
  try {
    return machineTables(machine, options);
  } catch (cause) {
    throw invalidName(`machine name ${JSON.stringify(machine)}`, cause, { machine });
  }
}

export function checkedSharedTables(options: SchemaOptions): SharedTableNames {
  try {
    return sharedTables(options);
  } catch (cause) {
    throw invalidName(`table prefix ${JSON.stringify(options.tablePrefix)}`, cause, { tablePrefix: options.tablePrefix });
  }
}

function invalidName(what: string, cause: unknown, context: Record<string, unknown>): FsmError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new FsmError('FSM_INVALID_MODEL', `${what} cannot be used in SQL: ${reason}. Nothing was sent to the database.`, {
    cause,
    context,
  });
}

/** Every statement of one machine's tables, built once from validated names. */
export class MachineSql {
  readonly tables: TableNames;
  readonly insert: string;
  readonly selectById: string;
  readonly selectColumns: string;
  /** Commit while the stored pause flag is 0 (the usual case): writes the record's flag. */
  readonly updateUnpaused: string;
  /** Commit with `clearPauseRequest`. */
  readonly updateClearing: string;
  /** Commit that keeps the stored pause flag and reason as they are. */
  readonly updateKeeping: string;
  readonly lockRow: string;
  readonly requestPause: string;
  readonly selectHistory: string;
  private readonly historyInsert: InsertText;

  constructor(machine: string, options: SchemaOptions) {
    const t = checkedTables(machine, options);
    this.tables = t;
    const table = quoteId(t.instances);
    this.selectColumns = cols(INSTANCE_COLUMNS);
    this.insert = `INSERT INTO ${table} (${this.selectColumns}) VALUES ${tuple(INSTANCE_COLUMNS.length)}`;
    this.selectById = `SELECT ${this.selectColumns} FROM ${table} WHERE \`id\` = ?`;
    const set = UPDATE_COLUMNS.map((c) => `${quoteId(c)} = ?`).join(', ') + ', `version` = `version` + 1';
    const where = 'WHERE `id` = ? AND `version` = ?';
    this.updateUnpaused = `UPDATE ${table} SET ${set}, \`pause_requested\` = ?, \`pause_reason\` = ? ${where} AND \`pause_requested\` = 0`;
    this.updateClearing = `UPDATE ${table} SET ${set}, \`pause_requested\` = 0, \`pause_reason\` = ? ${where}`;
    this.updateKeeping = `UPDATE ${table} SET ${set} ${where}`;
    this.lockRow = `SELECT \`version\`, \`pause_requested\`, \`pause_reason\` FROM ${table} WHERE \`id\` = ? FOR UPDATE`;
    this.requestPause = `UPDATE ${table} SET \`pause_requested\` = 1, \`pause_reason\` = ? WHERE \`id\` = ?`;
    this.selectHistory = `SELECT ${cols(HISTORY_COLUMNS)} FROM ${quoteId(t.history)} WHERE \`instance_id\` = ? ORDER BY \`seq\``;
    this.historyInsert = new InsertText(`INSERT INTO ${quoteId(t.history)} (${cols(HISTORY_COLUMNS)}) VALUES `, HISTORY_COLUMNS.length);
  }

  insertHistory(rows: number): string {
    return this.historyInsert.rows(rows);
  }

  currentStates(ids: number): string {
    return `SELECT \`id\`, \`current_state\` FROM ${quoteId(this.tables.instances)} WHERE \`id\` IN ${tuple(ids)}`;
  }
}

/** Statements on the shared tables. */
export class SharedSql {
  readonly tables: SharedTableNames;
  private readonly outboxInsert: InsertText;

  constructor(options: SchemaOptions) {
    this.tables = checkedSharedTables(options);
    this.outboxInsert = new InsertText(`INSERT INTO ${quoteId(this.tables.outbox)} (${cols(OUTBOX_COLUMNS)}) VALUES `, OUTBOX_COLUMNS.length);
  }

  insertOutbox(rows: number): string {
    return this.outboxInsert.rows(rows);
  }

  /** Current token of each fenced key, from whichever lock table holds it; locked until commit. */
  fenceTokens(keys: number): string {
    const list = tuple(keys);
    const from = (table: string) =>
      `(SELECT \`lock_key\`, \`token\` FROM ${quoteId(table)} WHERE \`lock_key\` IN ${list} LOCK IN SHARE MODE)`;
    return `${from(this.tables.globalLock)} UNION ALL ${from(this.tables.localLock)}`;
  }
}
