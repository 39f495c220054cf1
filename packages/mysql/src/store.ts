import {
  FsmError,
  type Commit,
  type CommitResult,
  type FsmEvent,
  type HistoryRecord,
  type InstanceRecord,
  type ListFilter,
  type Store,
} from '@fsmkit/runtime';
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { checkPauseReason, Encoder, MEDIUMTEXT_BYTES } from './encode.js';
import { listQuery } from './list-query.js';
import { MachineSql, SharedSql } from './machine-sql.js';
import { createPool, type PoolSettings } from './pool.js';
import {
  historyFromRow,
  historyValues,
  insertValues,
  instanceFromRow,
  outboxValues,
  updateValues,
  type EncodedEvent,
  type EncodedInstance,
  type HistoryRow,
  type InstanceRow,
  type SqlValue,
} from './rows.js';
import { machineDdl, sharedDdl, type SchemaOptions } from './schema.js';
import { isConnectionError, QueryTimeoutError, storeError, type ErrorScope } from './store-error.js';

export interface MysqlStoreOptions extends PoolSettings {
  /**
   * A pool to use instead of creating one from `url`; the store leaves it open on close. It must
   * read and write dates in UTC as Date objects (`timezone: 'Z'`, no `dateStrings`): `createPool`
   * makes such a pool.
   */
  pool?: Pool;
  /** Prefix of every table name. Default `fsm_`. */
  tablePrefix?: string;
  /** Longest wait for the database per call (a commit's whole transaction counts as one). Default 30 000; 0: none. */
  queryTimeoutMs?: number;
  /** Largest serialized instance data accepted, in bytes. Default and maximum: MEDIUMTEXT's 16 MiB - 1. */
  maxStateBytes?: number;
}

/** Ids per `IN (...)` list in `currentStates`. */
const IDS_PER_QUERY = 500;

/**
 * Id columns are ASCII (ids are UUIDs); comparing one with other text is an error in MySQL, not "no
 * match", so such ids are answered as absent without asking.
 */
const ASCII = /^[ -~]*$/;
const storableId = (id: string): boolean => ASCII.test(id);

type Rows = RowDataPacket[];

export function createMysqlStore(options: MysqlStoreOptions = {}): MysqlStore {
  return new MysqlStore(options);
}

/**
 * The production store: one table per machine plus its history table, and the shared outbox,
 * written together in one READ COMMITTED transaction per commit.
 */
export class MysqlStore implements Store {
  readonly pool: Pool;
  private readonly ownsPool: boolean;
  private readonly schema: SchemaOptions;
  private readonly shared: SharedSql;
  private readonly machines = new Map<string, MachineSql>();
  private readonly encoder: Encoder;
  private readonly timeout: number;

  constructor(options: MysqlStoreOptions = {}) {
    this.schema = options.tablePrefix === undefined ? {} : { tablePrefix: options.tablePrefix };
    this.shared = new SharedSql(this.schema);
    this.encoder = new Encoder(Math.min(options.maxStateBytes ?? MEDIUMTEXT_BYTES, MEDIUMTEXT_BYTES));
    this.timeout = options.queryTimeoutMs ?? 30_000;
    this.ownsPool = options.pool === undefined;
    this.pool = options.pool ?? createPool(options);
  }

  /** Creates the shared tables and those of each machine when missing, with the generator's DDL. */
  async ensureSchema(models: Array<{ name: string }>): Promise<void> {
    // Validate every name first: a bad one stops everything before any SQL runs.
    for (const model of models) this.sql(model.name);
    const statements = [...sharedDdl(this.schema), ...models.flatMap((m) => machineDdl(m, this.schema))];
    try {
      for (const statement of statements) await this.deadline(this.pool.query(statement));
    } catch (cause) {
      throw storeError({ operation: 'create the tables of', machine: models.map((m) => m.name).join(', ') }, cause);
    }
  }

  async insert(record: InstanceRecord, events: FsmEvent[]): Promise<void> {
    const scope = { operation: 'insert', machine: record.machine, id: record.id };
    const sql = this.sql(record.machine);
    const instance = this.encoder.instance(scope, record);
    const encoded = events.map((e) => this.encoder.event(scope, e));
    if (encoded.length === 0) {
      await this.write(scope, sql.insert, insertValues(instance));
      return;
    }
    await this.transaction(scope, async (conn) => {
      await this.run(conn, sql.insert, insertValues(instance));
      await this.insertOutbox(conn, encoded, record.updatedAt);
    });
  }

  async commit(c: Commit): Promise<CommitResult> {
    const { record } = c;
    const scope = { operation: 'commit', machine: record.machine, id: record.id };
    const sql = this.sql(record.machine);
    const instance = this.encoder.instance(scope, record);
    const history = c.history.map((h) => this.encoder.history(scope, h));
    const events = c.events.map((e) => this.encoder.event(scope, e));
    return this.transaction(scope, async (conn) => {
      if (c.fence !== undefined && c.fence.length > 0) await this.checkFence(conn, scope, c.fence);
      const result = await this.update(conn, sql, c, instance);
      if (history.length > 0) await this.run(conn, sql.insertHistory(history.length), history.flatMap(historyValues));
      if (events.length > 0) await this.insertOutbox(conn, events, record.updatedAt);
      return result;
    });
  }

  async get(machine: string, id: string): Promise<InstanceRecord | undefined> {
    const sql = this.sql(machine);
    if (!storableId(id)) return undefined;
    const rows = await this.read({ operation: 'get', machine, id }, sql.selectById, [id], true);
    const row = rows[0];
    return row && instanceFromRow(row as InstanceRow);
  }

  async list(machine: string, filter: ListFilter = {}): Promise<InstanceRecord[]> {
    const query = listQuery(this.sql(machine), filter);
    if (query === null) return [];
    // Filters vary in shape: client-side placeholders, so no server statement per shape.
    const rows = await this.read({ operation: 'list', machine }, query.sql, query.params, false);
    return rows.map((row) => instanceFromRow(row as InstanceRow));
  }

  async history(machine: string, id: string): Promise<HistoryRecord[]> {
    const sql = this.sql(machine);
    if (!storableId(id)) return [];
    const rows = await this.read({ operation: 'read the history of', machine, id }, sql.selectHistory, [id], true);
    return rows.map((row) => historyFromRow(machine, row as HistoryRow));
  }

  async requestPause(machine: string, id: string, reason: string | null): Promise<boolean> {
    const scope = { operation: 'request a pause of', machine, id };
    const sql = this.sql(machine);
    checkPauseReason(scope, reason);
    if (!storableId(id)) return false;
    // Setting a flag is idempotent, so a lost connection may be retried like a read.
    const result = await this.write(scope, sql.requestPause, [reason, id], true);
    return result.affectedRows > 0;
  }

  async currentStates(machine: string, ids: string[]): Promise<Map<string, string>> {
    const sql = this.sql(machine);
    const found = new Map<string, string>();
    const asked = ids.filter(storableId);
    for (let start = 0; start < asked.length; start += IDS_PER_QUERY) {
      const chunk = asked.slice(start, start + IDS_PER_QUERY);
      const rows = await this.read({ operation: 'read the states of', machine }, sql.currentStates(chunk.length), chunk, false);
      for (const row of rows) found.set(row['id'] as string, row['current_state'] as string);
    }
    // In the caller's order, as the memory store answers.
    const states = new Map<string, string>();
    for (const id of ids) {
      const state = found.get(id);
      if (state !== undefined) states.set(id, state);
    }
    return states;
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }

  private sql(machine: string): MachineSql {
    let sql = this.machines.get(machine);
    if (sql === undefined) {
      sql = new MachineSql(machine, this.schema);
      this.machines.set(machine, sql);
    }
    return sql;
  }

  /**
   * The UPDATE of a commit, in one round trip in the usual case: it assumes the stored pause
   * flag is clear (or is being cleared), so it knows the flag after the UPDATE without reading
   * it. When the UPDATE matches no row, the row is read under lock to tell a missing row, a
   * stale version and a pending pause request apart.
   */
  private async update(conn: PoolConnection, sql: MachineSql, c: Commit, instance: EncodedInstance): Promise<CommitResult> {
    const r = c.record;
    const values = updateValues(instance);
    const fast = c.clearPauseRequest
      ? () => this.run(conn, sql.updateClearing, [...values, r.pauseReason, r.id, c.expectedVersion])
      : () => this.run(conn, sql.updateUnpaused, [...values, r.pauseRequested ? 1 : 0, r.pauseReason, r.id, c.expectedVersion]);
    const asWritten = { pauseRequested: c.clearPauseRequest ? false : r.pauseRequested, pauseReason: r.pauseReason };
    if ((await fast()).affectedRows === 1) return asWritten;

    const [rows] = await conn.execute<Rows>(sql.lockRow, [r.id]);
    const row = rows[0];
    const context = { machine: r.machine, id: r.id, expected: c.expectedVersion };
    if (row === undefined) {
      throw new FsmError('FSM_NOT_FOUND', `no ${r.machine} instance ${r.id} to commit; it was deleted or never inserted`, { context });
    }
    const stored = row['version'] as number;
    if (stored !== c.expectedVersion) {
      throw new FsmError(
        'FSM_STALE_VERSION',
        `${r.machine} instance ${r.id} changed since it was read (expected version ${c.expectedVersion}, stored ${stored}); reload it and try again`,
        { context: { ...context, actual: stored } },
      );
    }
    if (!c.clearPauseRequest && row['pause_requested'] === 1) {
      // Someone asked for a pause: keep their flag and reason, and tell the caller.
      await this.run(conn, sql.updateKeeping, [...values, r.id, c.expectedVersion]);
      return { pauseRequested: true, pauseReason: row['pause_reason'] as string | null };
    }
    // The row is locked and current now, so the same UPDATE matches.
    await fast();
    return asWritten;
  }

  private async checkFence(conn: PoolConnection, scope: ErrorScope, fence: NonNullable<Commit['fence']>): Promise<void> {
    const keys = fence.map((f) => f.key);
    const [rows] = await conn.execute<Rows>(this.shared.fenceTokens(keys.length), [...keys, ...keys]);
    const held = new Map(rows.map((row) => [row['lock_key'] as string, Number(row['token'])]));
    for (const { key, token } of fence) {
      const current = held.get(key);
      if (current !== token) {
        throw new FsmError(
          'FSM_LOCK_LOST',
          `lock ${key} of ${scope.machine} instance ${scope.id} was lost (held token ${token}, stored ${current ?? 'none'}); the lease expired and another holder took it, so nothing was written`,
          { context: { ...scope, key, token, stored: current ?? null } },
        );
      }
    }
  }

  private async insertOutbox(conn: PoolConnection, events: EncodedEvent[], fallbackTime: Date): Promise<void> {
    await this.run(conn, this.shared.insertOutbox(events.length), events.flatMap((e) => outboxValues(e, fallbackTime)));
  }

  // Statements use mysql2's plain (sql, values) form: its options-object form, which per-statement
  // timeouts need, costs more client CPU than the rest of a commit's JavaScript together. The
  // deadline is one timer per call instead.

  private async run(conn: PoolConnection, sql: string, values: SqlValue[]): Promise<ResultSetHeader> {
    const [result] = await conn.execute<ResultSetHeader>(sql, values);
    return result;
  }

  /** One statement outside a transaction (autocommit). */
  private async write(scope: ErrorScope, sql: string, values: SqlValue[], retry = false): Promise<ResultSetHeader> {
    try {
      return await this.once(() => this.pool.execute<ResultSetHeader>(sql, values), retry);
    } catch (cause) {
      throw storeError(scope, cause);
    }
  }

  private async read(scope: ErrorScope, sql: string, values: SqlValue[], prepared: boolean): Promise<Rows> {
    try {
      return await this.once(() => (prepared ? this.pool.execute<Rows>(sql, values) : this.pool.query<Rows>(sql, values)), true);
    } catch (cause) {
      throw storeError(scope, cause);
    }
  }

  /**
   * Runs a statement within the deadline, once more on a fresh connection when the pooled one
   * turns out to be dead (killed, server restarted). Only for statements that may run twice.
   */
  private async once<T>(statement: () => Promise<[T, unknown]>, retry: boolean): Promise<T> {
    try {
      return (await this.deadline(statement()))[0];
    } catch (error) {
      if (!retry || !isLostConnection(error)) throw error;
      return (await this.deadline(statement()))[0];
    }
  }

  /** Rejects with QueryTimeoutError when `queryTimeoutMs` passes first; 0 disables it. */
  private async deadline<T>(work: Promise<T>, onExpire?: () => void): Promise<T> {
    if (this.timeout <= 0) return work;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        onExpire?.();
        reject(new QueryTimeoutError(this.timeout));
      }, this.timeout);
    });
    try {
      return await Promise.race([work, expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * BEGIN ... COMMIT on one pooled connection, within one deadline. Any failure rolls back; a
   * connection that failed or ran out of time is destroyed rather than returned, and the server
   * rolls its transaction back.
   */
  private async transaction<T>(scope: ErrorScope, work: (conn: PoolConnection) => Promise<T>): Promise<T> {
    let conn: PoolConnection | undefined;
    let expired = false;
    const attempt = async (): Promise<T> => {
      const acquired = await this.begin(true);
      if (expired) {
        // The caller has been told it failed: this connection must not write anything.
        acquired.destroy();
        throw new QueryTimeoutError(this.timeout);
      }
      conn = acquired;
      const result = await work(acquired);
      await acquired.query('COMMIT');
      return result;
    };
    try {
      const result = await this.deadline(attempt(), () => (expired = true));
      conn!.release();
      return result;
    } catch (error) {
      if (conn !== undefined) await this.abandon(conn, error);
      throw storeError(scope, error);
    }
  }

  /** A connection with an open transaction; nothing has been written yet, so a dead one is replaced once. */
  private async begin(retry: boolean): Promise<PoolConnection> {
    const conn = await this.pool.getConnection();
    try {
      if (!this.ownsPool) {
        // A caller's pool keeps its own session settings: set the level for this transaction only.
        await conn.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
      }
      await conn.query('START TRANSACTION');
      return conn;
    } catch (error) {
      await this.abandon(conn, error);
      if (retry && isLostConnection(error)) return this.begin(false);
      throw error;
    }
  }

  private async abandon(conn: PoolConnection, error: unknown): Promise<void> {
    if (isConnectionError(error)) {
      conn.destroy();
      return;
    }
    try {
      await this.deadline(conn.query('ROLLBACK'));
      conn.release();
    } catch {
      conn.destroy();
    }
  }
}

/** A dead connection, as opposed to a slow one: a timed-out statement may have run. */
function isLostConnection(error: unknown): boolean {
  return isConnectionError(error) && !(error instanceof QueryTimeoutError);
}
