import { FsmError, type LockModel } from '@fsmkit/runtime';
import { GLOBAL_KEY, storedLockKey } from './lock-key.js';
import type { FenceUpdate, RowUpdate } from './group-head.js';
import { inlineValues, sqlLiteral } from './inline-values.js';
import { ALL_UPDATE_COLUMNS, HISTORY_COLUMNS, INSTANCE_COLUMNS, OUTBOX_COLUMNS, PLACEHOLDERS, UPDATE_COLUMNS, type SqlValue } from './rows.js';
import { machineTables, quoteId, sharedTables, type SchemaOptions, type SharedTableNames, type TableNames } from './schema.js';

const cols = (names: readonly string[]): string => names.map(quoteId).join(', ');
const tuple = (n: number): string => `(${new Array<string>(n).fill('?').join(', ')})`;
const placeholder = (column: string): string => PLACEHOLDERS[column] ?? '?';

/** `(?, ?), (?, ?)` for a multi-row INSERT. */
function tuples(rows: number, width: number): string {
  const one = tuple(width);
  return new Array<string>(rows).fill(one).join(', ');
}

/** A multi-row INSERT in parts: its text up to and including `VALUES `, and one row's tuple of placeholders. */
export interface RowsInsert {
  into: string;
  row: string;
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
    /** One row's tuple, when its placeholders are not all `?`. */
    private readonly row?: string,
  ) {}

  /** The statement's parts, for rows inlined one by one and joined later (a group's INSERT). */
  get parts(): RowsInsert {
    return { into: this.prefix, row: this.row ?? tuple(this.width) };
  }

  rows(n: number): string {
    const cached = this.cache[n];
    if (cached !== undefined) return cached;
    const text = this.prefix + (this.row === undefined ? tuples(n, this.width) : new Array<string>(n).fill(this.row).join(', '));
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
  /** Commit that keeps the stored pause flag and reason as they are, writing every column. */
  readonly updateKeeping: string;
  readonly lockRow: string;
  readonly requestPause: string;
  /** Extends a running instance's lease while its owner holds it at the version it committed. */
  readonly renewLease: string;
  readonly selectHistory: string;
  /** The instance waiting for a message and key (the `ix_wait` index, in id order). */
  readonly selectWaiting: string;
  /** Due-now for waiting rows an earlier release left without a due time (claimed as before). */
  readonly dueUnmarkedWaits: string;
  /** Children of a parent with their status, by the `ix_parent` index. */
  readonly children: string;
  /** Starts a queued child (values: its id, the queued marker). */
  readonly startQueued: string;
  /** Starts a queued child running, leased (values: owner, lease in microseconds, its id, the queued marker). */
  readonly startQueuedLeased: string;
  /**
   * Makes a parent that waits for children, and is not due yet, due now (values: 1 to wake it
   * in any case, its id, the wait's prefix); unless `@fsm_started` says a sibling was started.
   */
  readonly wakeParent: string;
  /**
   * The end of a map's chain (`@fsm_started` = 0) locks its parent's row (values: parent id)
   * before `wakeParentLast` looks for the children left: chain ends of one parent then look one
   * after another, each seeing the ends before it committed, so the last one wakes the parent.
   */
  readonly lockForWake: string;
  /** The sibling `startQueuedLeased` started, if it did. */
  readonly selectStarted: string;
  /**
   * Children of a parent that ended (values: parent id, the queued marker), read under shared
   * locks: a child's commit in flight finishes first, so the count sees it, and none ends
   * until the parent's commit does (the parent's join check, see Commit.joinCheck).
   */
  readonly countEnded: string;
  /** Makes an instance due now. */
  readonly dueNow: string;
  /** `insertHistory` in parts. */
  readonly historyRows: RowsInsert;
  private readonly historyInsert: InsertText;
  /** `wakeParentLast` texts by child machine. */
  private readonly wakeLast = new Map<string, string>();
  private readonly insertIgnore: InsertText;
  /** UPDATE texts by pause handling, then by column set. */
  private readonly updates = { unpaused: new Map<number, string>(), clearing: new Map<number, string>() };

  constructor(
    readonly machine: string,
    options: SchemaOptions,
  ) {
    const t = checkedTables(machine, options);
    this.tables = t;
    const table = quoteId(t.instances);
    this.selectColumns = cols(INSTANCE_COLUMNS);
    this.insert = `INSERT INTO ${table} (${this.selectColumns}) VALUES (${INSTANCE_COLUMNS.map(placeholder).join(', ')})`;
    this.selectById = `SELECT ${this.selectColumns} FROM ${table} WHERE \`id\` = ?`;
    this.updateKeeping = `UPDATE ${table} SET ${this.setList(ALL_UPDATE_COLUMNS)} WHERE \`id\` = ? AND \`version\` = ?`;
    this.lockRow = `SELECT \`version\`, \`pause_requested\`, \`pause_reason\` FROM ${table} WHERE \`id\` = ? FOR UPDATE`;
    this.requestPause = `UPDATE ${table} SET \`pause_requested\` = 1, \`pause_reason\` = ? WHERE \`id\` = ?`;
    this.renewLease =
      `UPDATE ${table} SET \`lease_expires_at\` = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND ` +
      "WHERE `id` = ? AND `lease_owner` = ? AND `version` = ? AND `status` = 'running'";
    // Read without locking: a delivery writes the row with a conditional UPDATE on its version,
    // which locks the row before its index entries as every commit does, so none deadlock.
    this.selectWaiting = `SELECT ${this.selectColumns} FROM ${table} WHERE \`wait_message\` = ? AND \`wait_key\` = ? AND \`status\` = 'waiting' ORDER BY \`id\` LIMIT 1`;
    this.dueUnmarkedWaits =
      `UPDATE ${table} SET \`next_run_at\` = \`updated_at\` WHERE \`status\` = 'waiting' AND \`next_run_at\` IS NULL AND \`waiting_for\` IS NULL`;
    this.selectHistory = `SELECT ${cols(HISTORY_COLUMNS)} FROM ${quoteId(t.history)} WHERE \`instance_id\` = ? ORDER BY \`seq\``;
    this.historyInsert = new InsertText(`INSERT INTO ${quoteId(t.history)} (${cols(HISTORY_COLUMNS)}) VALUES `, HISTORY_COLUMNS.length);
    this.historyRows = this.historyInsert.parts;
    this.insertIgnore = new InsertText(`INSERT IGNORE INTO ${table} (${this.selectColumns}) VALUES `, 0, `(${INSTANCE_COLUMNS.map(placeholder).join(', ')})`);
    this.children = `SELECT \`id\`, \`status\` FROM ${table} WHERE \`parent_id\` = ?`;
    this.startQueued =
      `UPDATE ${table} SET \`status\` = 'ready', \`waiting_for\` = NULL, \`version\` = \`version\` + 1 ` +
      "WHERE `id` = ? AND `status` = 'waiting' AND `waiting_for` = ?";
    this.startQueuedLeased =
      `UPDATE ${table} SET \`status\` = 'running', \`lease_owner\` = ?, \`lease_expires_at\` = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND, ` +
      "`waiting_for` = NULL, `version` = `version` + 1 WHERE `id` = ? AND `status` = 'waiting' AND `waiting_for` = ?";
    this.wakeParent =
      `UPDATE ${table} SET \`next_run_at\` = UTC_TIMESTAMP(3) ` +
      // Matched by id only when no sibling was started: otherwise no row is read, so none is locked.
      "WHERE `id` = IF(@fsm_started = 0 OR ? = 1, ?, NULL) AND `status` = 'waiting' AND `next_run_at` IS NULL AND `waiting_for` LIKE ?";
    this.lockForWake = `UPDATE ${table} SET \`next_run_at\` = \`next_run_at\` WHERE \`id\` = IF(@fsm_started = 0, ?, NULL)`;
    this.selectStarted = `SELECT ${this.selectColumns} FROM ${table} WHERE \`id\` = IF(@fsm_started = 1, ?, NULL)`;
    // Queued children are not locked (they have not run, so have not ended): a sibling's SKIP LOCKED pick must find them.
    this.countEnded =
      `SELECT COUNT(*) AS \`n\` FROM (SELECT \`status\` FROM ${table} WHERE \`parent_id\` = ? ` +
      'AND (`waiting_for` IS NULL OR `waiting_for` <> ?) LOCK IN SHARE MODE) AS `c` ' +
      "WHERE `status` IN ('done', 'failed', 'compensated')";
    this.dueNow = `UPDATE ${table} SET \`next_run_at\` = UTC_TIMESTAMP(3) WHERE \`id\` = ?`;
  }

  /**
   * `wakeParent` for the end of a child of a map of `children`'s machine (values: 1 to wake it
   * in any case, its id, the wait's prefix, 1 again, its id again, the id prefix of the children
   * of the map's visit): at the end of a chain, only when none of those children is left that
   * has not ended, read after `lockForWake` so that it sees every earlier chain's end. In READ
   * COMMITTED an UPDATE's subquery is a plain read and locks no child (a `SET @v = (SELECT ...)`
   * would share-lock them, and deadlock with the siblings' commits).
   */
  wakeParentLast(children: MachineSql): string {
    let text = this.wakeLast.get(children.machine);
    if (text === undefined) {
      const left =
        `SELECT 1 FROM ${quoteId(children.tables.instances)} WHERE \`parent_id\` = ? AND \`id\` LIKE ? ` +
        "AND `status` NOT IN ('done', 'failed', 'compensated')";
      text = `${this.wakeParent} AND (? = 1 OR NOT EXISTS (${left}))`;
      this.wakeLast.set(children.machine, text);
    }
    return text;
  }

  /**
   * `startQueuedLeased` for `n` siblings (values: owner, lease in microseconds, the ids, the
   * queued marker), for a group's child ends (see `groupStarts`).
   */
  startQueuedIn(n: number): string {
    return (
      `UPDATE ${quoteId(this.tables.instances)} SET \`status\` = 'running', \`lease_owner\` = ?, ` +
      '`lease_expires_at` = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND, `waiting_for` = NULL, `version` = `version` + 1 ' +
      `WHERE \`id\` IN (${Array(n).fill('?').join(', ')}) AND \`status\` = 'waiting' AND \`waiting_for\` = ?`
    );
  }

  /** Instances by id (values: the `n` ids). */
  selectIn(n: number): string {
    return `SELECT ${this.selectColumns} FROM ${quoteId(this.tables.instances)} WHERE \`id\` IN (${Array(n).fill('?').join(', ')})`;
  }

  /** INSERT IGNORE of `rows` instances: one whose id exists is left as it is. */
  insertInstances(rows: number): string {
    return this.insertIgnore.rows(rows);
  }

  /**
   * A commit's UPDATE of the columns in `columns` (a set of UPDATE_COLUMNS as bits) and the
   * version, by pause flag: `unpaused` matches only while the stored flag is 0 and writes the
   * record's flag and reason (values: columns, flag, reason, id, version); `clearing` clears it
   * (values: columns, reason, id, version).
   */
  update(pause: 'unpaused' | 'clearing', columns: number): string {
    const cache = this.updates[pause];
    let text = cache.get(columns);
    if (text === undefined) {
      const table = quoteId(this.tables.instances);
      const where = 'WHERE `id` = ? AND `version` = ?';
      text =
        pause === 'unpaused'
          ? `UPDATE ${table} SET ${this.setList(columns)}, \`pause_requested\` = ?, \`pause_reason\` = ? ${where} AND \`pause_requested\` = 0`
          : `UPDATE ${table} SET ${this.setList(columns)}, \`pause_requested\` = 0, \`pause_reason\` = ? ${where}`;
      // Commits of one machine use a few dozen column sets at most; beyond that, build each time.
      if (cache.size < 256) cache.set(columns, text);
    }
    return text;
  }

  /** `update(pause, columns)` in parts, with its values (in the same order) inlined: for a group to merge with others. */
  updateRow(pause: 'unpaused' | 'clearing', columns: number, values: readonly SqlValue[]): RowUpdate {
    const set: Array<[string, string]> = [];
    let at = 0;
    for (let i = 0; i < UPDATE_COLUMNS.length; i++) {
      if (!(columns & (1 << i))) continue;
      const column = UPDATE_COLUMNS[i]!;
      set.push([quoteId(column), inlineValues(placeholder(column), [values[at++] as SqlValue])]);
    }
    set.push(['`pause_requested`', pause === 'unpaused' ? sqlLiteral(values[at++]) : '0'], ['`pause_reason`', sqlLiteral(values[at++])]);
    return { table: quoteId(this.tables.instances), id: sqlLiteral(values[at]), version: sqlLiteral(values[at + 1]), set, unpaused: pause === 'unpaused' };
  }

  /** A commit's UPDATE of the columns in `columns` that keeps the pause flag as stored (values: columns, id, version). */
  updateKeepingColumns(columns: number): string {
    return `UPDATE ${quoteId(this.tables.instances)} SET ${this.setList(columns)} WHERE \`id\` = ? AND \`version\` = ?`;
  }

  private setList(columns: number): string {
    const set = UPDATE_COLUMNS.filter((_, i) => columns & (1 << i)).map((c) => `${quoteId(c)} = ${placeholder(c)}`);
    return [...set, '`version` = `version` + 1'].join(', ');
  }

  /**
   * Claim queries, each ordered as an index is so that LIMIT ends the scan: a locking read that
   * sorted would lock every match and starve the other claimers. `priority` (index `ix_claim`):
   * highest priority first, then the earliest due (instances to run at once, with no due time,
   * first); `oldest` (index `ix_status_next`): the earliest due whatever the priority, the lane
   * that keeps low priorities from starving, asked once for instances with a due time and once
   * for those without (`due`), which count as due since they were created (UUIDv7 ids: in id
   * order). `exclude` ids already taken by this claim (its own locks do not make them skipped).
   * A wait for something (`waiting_for`) with no due time is left to what it waits for.
   */
  claimQuery(statuses: 'continuing' | 'ready', lockFree: string | null, order: 'priority' | 'oldest' = 'priority', exclude = 0, due: 'set' | 'none' | 'any' = 'any'): string {
    const now = 'UTC_TIMESTAMP(3)';
    // Without a due time, `next_run_at` is left out of the order: MariaDB then sorts otherwise.
    const by = order === 'priority' ? '`priority` DESC, `next_run_at`, `id`' : due === 'none' ? '`id`' : '`next_run_at`, `id`';
    // Spelled as MariaDB plans them without a filesort (checked with EXPLAIN, and by claim-plan.int.test.ts).
    const [which, sort] =
      statuses === 'continuing'
        ? // A wait with no due time (a message without timeout) is never claimed: only a call or a message moves it.
          [`\`status\` IN ('running', 'waiting') AND (\`status\` = 'running' OR \`next_run_at\` <= ${now})`, `\`status\`, ${by}`]
        : [`\`status\` = 'ready' AND (\`next_run_at\` IS NULL OR \`next_run_at\` <= ${now})`, by];
    const split = due === 'any' ? '' : `AND \`next_run_at\` IS ${due === 'none' ? '' : 'NOT '}NULL `;
    return (
      `SELECT \`id\`, \`user_id\`, \`status\`, \`priority\`, \`next_run_at\`, \`created_at\` FROM ${quoteId(this.tables.instances)} AS \`i\` WHERE ${which} ${split}` +
      `AND (\`lease_expires_at\` IS NULL OR \`lease_expires_at\` <= ${now}) ${lockFree === null ? '' : `AND ${lockFree} `}` +
      `${exclude > 0 ? `AND \`id\` NOT IN ${tuple(exclude)} ` : ''}ORDER BY ${sort} LIMIT ? FOR UPDATE SKIP LOCKED`
    );
  }

  /** Leases claimed ids to an owner, without a version bump: a claim is not a change of the instance. */
  lease(ids: number): string {
    // Claiming a running instance takes it over from a drive that died: counted per instance.
    return `UPDATE ${quoteId(this.tables.instances)} SET \`lease_owner\` = ?, \`lease_expires_at\` = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND, \`takeovers\` = \`takeovers\` + (\`status\` = 'running') WHERE \`id\` IN ${tuple(ids)}`;
  }

  unclaim(ids: number): string {
    return `UPDATE ${quoteId(this.tables.instances)} SET \`lease_owner\` = NULL, \`lease_expires_at\` = NULL WHERE \`lease_owner\` = ? AND \`id\` IN ${tuple(ids)}`;
  }

  insertHistory(rows: number): string {
    return this.historyInsert.rows(rows);
  }

  /** A batch of finished instances to prune, oldest first by the `ix_updated` index; locked, skipping rows in use. */
  pruneSelect(statuses: number, limit: number): string {
    return (
      `SELECT \`id\` FROM ${quoteId(this.tables.instances)} WHERE \`status\` IN ${tuple(statuses)} AND \`updated_at\` < ? ` +
      `ORDER BY \`updated_at\` LIMIT ${Math.floor(limit)} FOR UPDATE SKIP LOCKED`
    );
  }

  deleteHistory(ids: number): string {
    return `DELETE FROM ${quoteId(this.tables.history)} WHERE \`instance_id\` IN ${tuple(ids)}`;
  }

  deleteInstances(ids: number): string {
    return `DELETE FROM ${quoteId(this.tables.instances)} WHERE \`id\` IN ${tuple(ids)}`;
  }

  currentStates(ids: number): string {
    return `SELECT \`id\`, \`current_state\` FROM ${quoteId(this.tables.instances)} WHERE \`id\` IN ${tuple(ids)}`;
  }
}

/** Statements on the shared tables. */
export class SharedSql {
  readonly tables: SharedTableNames;
  private readonly outboxInsert: InsertText;
  /** `insertOutbox` in parts. */
  readonly outboxRows: RowsInsert;

  constructor(options: SchemaOptions) {
    this.tables = checkedSharedTables(options);
    this.outboxInsert = new InsertText(`INSERT INTO ${quoteId(this.tables.outbox)} (${cols(OUTBOX_COLUMNS)}) VALUES `, OUTBOX_COLUMNS.length);
    this.outboxRows = this.outboxInsert.parts;
  }

  insertOutbox(rows: number): string {
    return this.outboxInsert.rows(rows);
  }

  /**
   * Current token of each fenced key and whether its lease is live (database clock), from
   * whichever lock table holds it; share-locked until commit, so nobody takes it meanwhile.
   */
  fenceTokens(keys: number): string {
    const list = tuple(keys);
    const from = (table: string) =>
      `(SELECT \`lock_key\`, \`token\`, \`expires_at\` > UTC_TIMESTAMP(3) AS \`live\` FROM ${quoteId(table)} WHERE \`lock_key\` IN ${list} LOCK IN SHARE MODE)`;
    return `${from(this.tables.globalLock)} UNION ALL ${from(this.tables.localLock)}`;
  }

  /**
   * A condition on a claimed instance row `i`: its lock (as the runtime keys it) has no live
   * lease now. Read without locking: a claim does not wait for lock holders. Null: no lock.
   * User ids too long for `lock_key` are stored hashed and not matched here; those instances
   * are claimed and wait for their lock as usual.
   */
  lockFree(lock: LockModel, machine: string): { sql: string; params: string[] } | null {
    if (lock.scope === 'none') return null;
    const live = (table: string, key: string) =>
      `NOT EXISTS (SELECT 1 FROM ${quoteId(table)} AS \`l\` WHERE \`l\`.\`lock_key\` = ${key} AND \`l\`.\`expires_at\` > UTC_TIMESTAMP(3))`;
    if (lock.scope === 'global') return { sql: live(this.tables.globalLock, '?'), params: [GLOBAL_KEY] };
    if (lock.by === 'type') return { sql: live(this.tables.localLock, '?'), params: [storedLockKey(`type:${machine}`)] };
    return { sql: live(this.tables.localLock, "CONCAT('user:', COALESCE(`i`.`user_id`, ''))"), params: [] };
  }

  /**
   * A fence as one UPDATE that matches the lock's row only while the writer's lease is live:
   * ending it (`release`, a drive's last commit), handing it to the next holder (a waiter of the
   * same process), or leaving it as it is. Either way the row stays locked until the commit
   * ends, so nobody takes the lock meanwhile.
   */
  fenceUpdate(global: boolean, release: boolean | LeaseHandover): string {
    return `UPDATE ${this.lockTable(global)} SET ${fenceSet(release)} WHERE \`lock_key\` = ? AND \`token\` = ? AND \`expires_at\` > UTC_TIMESTAMP(3)`;
  }

  /** The fence UPDATE of one key in parts, for a group to merge with others (see `mergedFence`). */
  fenceParts(global: boolean, release: boolean | LeaseHandover, key: string, token: number): FenceUpdate {
    return { table: this.lockTable(global), set: fenceSet(release), key: sqlLiteral(key), token: sqlLiteral(token) };
  }

  private lockTable(global: boolean): string {
    return quoteId(global ? this.tables.globalLock : this.tables.localLock);
  }
}

/** The next holder of a lease a commit ends, as its row records it (see `MysqlLocker.handover`). */
export interface LeaseHandover {
  instanceId: string | null;
  machine: string | null;
  owner: string;
  leaseUs: number;
}

/**
 * What a fence UPDATE writes: nothing (the row still counts as matched on our pools), the
 * lease's end, or its handover to the next holder, whose token is the ended one's plus one.
 */
function fenceSet(release: boolean | LeaseHandover): string {
  if (release === false) return '`token` = `token`';
  if (release === true) return '`owner` = NULL, `expires_at` = UTC_TIMESTAMP(3)';
  return (
    `\`state_machine_id\` = ${sqlLiteral(release.instanceId)}, \`machine\` = ${sqlLiteral(release.machine)}, \`owner\` = ${sqlLiteral(release.owner)}, ` +
    `\`lock_timestamp\` = UTC_TIMESTAMP(3), \`token\` = \`token\` + 1, \`expires_at\` = UTC_TIMESTAMP(3) + INTERVAL ${Math.round(release.leaseUs)} MICROSECOND`
  );
}
