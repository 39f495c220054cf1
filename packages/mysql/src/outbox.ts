import type { ErrorInfo, FsmEvent } from '@fsmkit/runtime';
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { OUTBOX_COLUMNS, outboxValues, type SqlValue } from './rows.js';
import { outboxCommitted, watchOutbox } from './outbox-signal.js';
import { outboxFailedDdl, outboxFailedTable, quoteId, sharedDdl, sharedTables, type SchemaOptions } from './schema.js';
import { isConnectionError, storeError } from './store-error.js';

/** One unsent event as the relay publishes it (structurally the `OutboxRow` of @fsmkit/kafka). */
export interface MysqlOutboxRow {
  id: string;
  eventId: string;
  topic: string;
  key: string;
  instanceId: string;
  sequence: number;
  type: string;
  payload: string;
  headers: Record<string, string>;
}

export interface MysqlOutboxOptions {
  /** Prefix of every table name. Default `fsm_`. */
  tablePrefix?: string;
}

type OutboxId = string | number | bigint;

/** An event set aside after the broker refused it too often (structurally @fsmkit/kafka's `DeadLetter`). */
export interface MysqlDeadLetter {
  id: string;
  eventId: string;
  instanceId: string;
  topic: string;
  type: string;
  sequence: number;
  failures: number;
  error: ErrorInfo;
  deadAt: Date;
  /** Later unsent events of the same instance, held back until this one is sent. */
  waiting: number;
}

/** Which dead letters to put back in line; every given list must match. */
export interface MysqlDeadLetterFilter {
  instanceIds?: readonly string[];
  topics?: readonly string[];
  eventIds?: readonly string[];
}

export interface MysqlRejectOptions {
  maxFailures: number;
  backoff: { initialMs: number; maxMs: number };
}

/** SKIP LOCKED claims deadlock under REPEATABLE READ; this sets the next transaction only. */
const SET_READ_COMMITTED = 'SET TRANSACTION ISOLATION LEVEL READ COMMITTED';
const BEGIN_READ_COMMITTED = `${SET_READ_COMMITTED}; START TRANSACTION`;

/** INSERTs of `enqueue` in flight at once outside a transaction; callers arriving meanwhile are grouped. */
const ENQUEUE_LANES = 2;
/** Most rows, and payload characters, of one grouped INSERT (well under any `max_allowed_packet`). */
const GROUP_ROWS = 256;
const GROUP_CHARS = 1_000_000;

/** An `enqueue` outside a transaction, waiting for a lane. */
interface Enqueued {
  values: SqlValue[][];
  chars: number;
  resolve(): void;
  reject(error: unknown): void;
}

const CLAIM_COLUMNS = ['id', 'event_id', 'topic', 'message_key', 'instance_id', 'sequence', 'event_type', 'payload', 'headers']
  .map((c) => `o.${quoteId(c)}`)
  .join(', ');

/**
 * The `fsm_outbox` table as an outbox a relay drains (it satisfies @fsmkit/kafka's `Outbox`).
 * The store writes rows in the transaction of each state change; relays on any number of
 * hosts claim them with `FOR UPDATE SKIP LOCKED` under READ COMMITTED.
 *
 * A claim never contains a row whose instance has an earlier unsent row outside the claim
 * (claimed by any relay, this one's earlier claims included, locked by a concurrent claim, or
 * past the limit): so a relay that publishes each claim in sequence order keeps every
 * instance's events in order, even when it claims again while a claim is in flight, with no
 * coordination between relays but these rows.
 */
export class MysqlOutbox {
  readonly table: string;
  readonly failedTable: string;
  private readonly schema: SchemaOptions;
  private readonly q: string;
  private readonly f: string;
  private failedReady: Promise<void> | null = null;
  /** Rows this object claimed whose instance has a refusal on record: sending them clears it. */
  private readonly heldIds = new Set<string>();
  private readonly enqueued: Enqueued[] = [];
  private inserting = 0;

  constructor(
    private readonly pool: Pool,
    options: MysqlOutboxOptions = {},
  ) {
    this.schema = options.tablePrefix === undefined ? {} : { tablePrefix: options.tablePrefix };
    this.table = sharedTables(this.schema).outbox;
    this.failedTable = outboxFailedTable(this.schema);
    this.q = quoteId(this.table);
    this.f = quoteId(this.failedTable);
  }

  /** Creates the outbox table (the same DDL the generator writes) and the refused-events table when missing. */
  async ensureOutbox(): Promise<void> {
    const ddl = sharedDdl(this.schema).find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS ${this.q} `));
    if (!ddl) throw new Error(`no DDL for ${this.table} in sharedDdl`);
    try {
      await this.pool.query(ddl);
    } catch (cause) {
      throw storeError({ operation: `create the outbox table ${this.table}` }, cause);
    }
    await this.ensureFailedTable();
  }

  /**
   * Creates the refused-events table when missing, once per object: a database made before it
   * existed gets it on first use. A user without CREATE rights can run `outboxFailedDdl()` ahead.
   */
  ensureFailedTable(): Promise<void> {
    this.failedReady ??= this.pool.query(outboxFailedDdl(this.schema)).then(
      () => undefined,
      (cause: unknown) => {
        this.failedReady = null;
        throw storeError({ operation: `create the table ${this.failedTable} (run outboxFailedDdl() with a user that may create tables)` }, cause);
      },
    );
    return this.failedReady;
  }

  /**
   * Writes events as unsent rows, in the caller's transaction when given a connection.
   * Without one, calls that arrive while earlier ones are being written wait and go together
   * in one INSERT (one commit for all); each resolves once that INSERT committed. When a
   * grouped INSERT fails, each call is written again alone, so a refused row fails only its
   * own call.
   */
  async enqueue(events: FsmEvent[], conn?: PoolConnection): Promise<void> {
    if (events.length === 0) return;
    const now = new Date();
    const payloads = events.map((event) => JSON.stringify(event));
    const values = events.map((event, i) => outboxValues({ event, payload: payloads[i]! }, now));
    if (conn) {
      // In the caller's transaction the rows are not claimable before its commit: no wake-up yet.
      await this.insert(values, conn).catch((cause: unknown) => {
        throw this.enqueueError(values.length, cause);
      });
      return;
    }
    const chars = payloads.reduce((n, p) => n + p.length, 0);
    await new Promise<void>((resolve, reject) => {
      this.enqueued.push({ values, chars, resolve, reject });
      this.nextInsert();
    });
  }

  /** Starts INSERTs of the waiting calls while a lane is free; a call goes alone when nothing waits with it. */
  private nextInsert(): void {
    while (this.inserting < ENQUEUE_LANES && this.enqueued.length > 0) {
      const group = [this.enqueued.shift()!];
      let rows = group[0]!.values.length;
      let chars = group[0]!.chars;
      for (let next = this.enqueued[0]; next; next = this.enqueued[0]) {
        if (rows + next.values.length > GROUP_ROWS || chars + next.chars > GROUP_CHARS) break;
        group.push(this.enqueued.shift()!);
        rows += next.values.length;
        chars += next.chars;
      }
      this.inserting++;
      void this.insertGroup(group).finally(() => {
        this.inserting--;
        this.nextInsert();
      });
    }
  }

  private async insertGroup(group: Enqueued[]): Promise<void> {
    try {
      await this.insert(group.flatMap((g) => g.values));
      for (const g of group) g.resolve();
      outboxCommitted(this.table);
      return;
    } catch (cause) {
      // A lost connection leaves the outcome unknown, as for a call alone: each caller is told.
      if (group.length === 1 || isConnectionError(cause)) {
        for (const g of group) g.reject(this.enqueueError(g.values.length, cause));
        return;
      }
    }
    let written = false;
    for (const g of group) {
      try {
        await this.insert(g.values);
        written = true;
        g.resolve();
      } catch (cause) {
        g.reject(this.enqueueError(g.values.length, cause));
      }
    }
    if (written) outboxCommitted(this.table);
  }

  private async insert(values: SqlValue[][], conn?: PoolConnection): Promise<void> {
    await (conn ?? this.pool).query(`INSERT INTO ${this.q} (${OUTBOX_COLUMNS.map(quoteId).join(', ')}) VALUES ?`, [values]);
  }

  private enqueueError(count: number, cause: unknown): Error {
    return storeError({ operation: `write ${count} event(s) to ${this.table}` }, cause);
  }

  /**
   * Calls `listener` after every commit of rows into this table by a store or an outbox of this
   * process (a relay's wake-up); returns what stops it. Other processes' rows are found by polling.
   */
  watch(listener: () => void): () => void {
    return watchOutbox(this.table, listener);
  }

  /**
   * Claims in one READ COMMITTED transaction: the candidates locked with SKIP LOCKED, a plain
   * read of their instances' backlogs to keep only each one's start, then the claim itself. On a
   * pool that allows several statements per query (`createPool`'s), the transaction's start and
   * end ride with the first and last statements: three round trips instead of six.
   */
  async claim(owner: string, limit: number, leaseMs: number): Promise<MysqlOutboxRow[]> {
    await this.ensureFailedTable();
    const operation = `claim rows of ${this.table}`;
    // An instance is held while its refused row waits for its retry time, or for good once dead.
    const held = (o: string) =>
      `EXISTS (SELECT 1 FROM ${this.f} f WHERE f.instance_id = ${o}.instance_id AND (f.dead_at IS NOT NULL OR f.retry_at > UTC_TIMESTAMP(3)))`;
    // Held instances are left out here, so their backlog never fills the LIMIT; the subqueries
    // are plain reads (a locking read locks only the outer table's rows). By the pending index:
    // left to itself, the optimizer may walk the primary key in id order, through every sent
    // row kept (a day's worth, by default) before the first unsent one.
    const select = `SELECT ${CLAIM_COLUMNS},
        EXISTS (SELECT 1 FROM ${this.f} f WHERE f.instance_id = o.instance_id AND f.outbox_id = o.id) AS retried
      FROM ${this.q} o FORCE INDEX (\`ix_pending\`)
      WHERE o.sent_at IS NULL AND (o.claimed_until IS NULL OR o.claimed_until < UTC_TIMESTAMP(3)) AND NOT ${held('o')}
      ORDER BY o.id LIMIT ? FOR UPDATE SKIP LOCKED`;
    // Checked again once the rows are locked: a relay that held them until then may have
    // recorded a refusal after the read above began.
    const update = `UPDATE ${this.q} o SET o.claimed_by = ?, o.claimed_until = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND,
        o.attempts = o.attempts + 1 WHERE o.id IN (?) AND NOT ${held('o')}`;
    const late = `SELECT instance_id FROM ${this.q} o WHERE o.id IN (?) AND ${held('o')}`;
    const batched = this.multipleStatements;
    const conn = await this.connection(operation);
    let open = false;
    try {
      let candidates: RowDataPacket[];
      open = true;
      if (batched) {
        const [results] = await conn.query<RowDataPacket[][]>(`${BEGIN_READ_COMMITTED}; ${select}`, [limit]);
        candidates = results[2]!;
      } else {
        await conn.query(SET_READ_COMMITTED);
        await conn.beginTransaction();
        [candidates] = await conn.query<RowDataPacket[]>(select, [limit]);
      }
      let keep = candidates.length === 0 ? [] : await this.orderedPrefix(conn, candidates);
      if (keep.length === 0) {
        await conn.commit();
        open = false;
        conn.release();
        return [];
      }
      const ids = keep.map((r) => r['id'] as unknown);
      const claimValues = [owner, Math.round(leaseMs * 1000), ids];
      let claimed: number;
      let lateRows: RowDataPacket[] = [];
      if (batched) {
        const [results] = await conn.query<RowDataPacket[][]>(`${update}; ${late}; COMMIT`, [...claimValues, ids]);
        open = false;
        claimed = (results[0] as unknown as ResultSetHeader).affectedRows;
        lateRows = results[1]!;
      } else {
        const [result] = await conn.query<ResultSetHeader>(update, claimValues);
        claimed = result.affectedRows;
        if (claimed < keep.length) [lateRows] = await conn.query<RowDataPacket[]>(late, [ids]);
        await conn.commit();
        open = false;
      }
      conn.release();
      if (claimed < keep.length) {
        const lateHeld = new Set(lateRows.map((r) => r['instance_id'] as string));
        keep = keep.filter((r) => !lateHeld.has(r['instance_id'] as string));
      }
      for (const r of keep) if (Number(r['retried']) === 1) this.heldIds.add(String(r['id']));
      return keep.map(toRow);
    } catch (cause) {
      if (open && !isConnectionError(cause)) await conn.rollback().catch(() => undefined);
      release(conn, cause);
      throw storeError({ operation }, cause);
    }
  }

  /** Whether the pool sends several statements in one query (`createPool` does). */
  private get multipleStatements(): boolean {
    const config = (this.pool as { pool?: { config?: { connectionConfig?: { multipleStatements?: boolean } } } }).pool?.config;
    return config?.connectionConfig?.multipleStatements === true;
  }

  async markSent(_owner: string, ids: OutboxId[]): Promise<void> {
    if (ids.length === 0) return;
    await this.write(
      `mark ${ids.length} row(s) of ${this.table} sent`,
      `UPDATE ${this.q} SET sent_at = UTC_TIMESTAMP(3), claimed_until = NULL WHERE id IN (?) AND sent_at IS NULL`,
      [ids.map(String)],
    );
    const cleared = ids.map(String).filter((id) => this.heldIds.delete(id));
    if (cleared.length > 0) {
      await this.write(`clear refusals in ${this.failedTable}`, `DELETE FROM ${this.f} WHERE outbox_id IN (?)`, [cleared]);
    }
  }

  async markFailed(owner: string, ids: OutboxId[], error: ErrorInfo): Promise<void> {
    if (ids.length === 0) return;
    const text = errorText(error);
    await this.write(
      `release ${ids.length} failed row(s) of ${this.table}`,
      `UPDATE ${this.q} SET claimed_by = NULL, claimed_until = NULL, last_error = ?
        WHERE id IN (?) AND claimed_by = ? AND sent_at IS NULL`,
      [text, ids.map(String), owner],
    );
  }

  /**
   * The broker refused this claimed row for a reason of its own: releases it and counts the
   * refusal against its instance, which waits `backoff` (doubled per refusal) before the row is
   * tried again; at `maxFailures` refusals the row becomes a dead letter. Either way the
   * instance's later rows are not claimed meanwhile. 'retry' when the row was no longer ours.
   */
  async reject(owner: string, id: OutboxId, error: ErrorInfo, options: MysqlRejectOptions): Promise<'retry' | 'dead'> {
    await this.ensureFailedTable();
    const text = errorText(error);
    return this.transaction(`record a refused row of ${this.table}`, async (conn) => {
      const [rows] = await conn.query<RowDataPacket[]>(
        `SELECT \`instance_id\`, \`event_id\`, \`topic\` FROM ${this.q} WHERE id = ? AND claimed_by = ? AND sent_at IS NULL FOR UPDATE`,
        [String(id), owner],
      );
      const row = rows[0];
      if (!row) return 'retry';
      const instance = row['instance_id'] as string;
      const [previous] = await conn.query<RowDataPacket[]>(`SELECT \`outbox_id\`, \`failures\` FROM ${this.f} WHERE instance_id = ? FOR UPDATE`, [instance]);
      const before = previous[0];
      const failures = before && String(before['outbox_id']) === String(id) ? (before['failures'] as number) + 1 : 1;
      const dead = failures >= options.maxFailures;
      const delayMs = Math.min(options.backoff.maxMs, options.backoff.initialMs * 2 ** (failures - 1));
      await conn.query(
        `INSERT INTO ${this.f} (instance_id, outbox_id, event_id, topic, failures, error, failed_at, retry_at, dead_at)
          VALUES (?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND, IF(?, UTC_TIMESTAMP(3), NULL))
          ON DUPLICATE KEY UPDATE outbox_id = VALUES(outbox_id), event_id = VALUES(event_id), topic = VALUES(topic),
            failures = VALUES(failures), error = VALUES(error), failed_at = VALUES(failed_at), retry_at = VALUES(retry_at), dead_at = VALUES(dead_at)`,
        [instance, String(id), row['event_id'], row['topic'], failures, text, Math.round(delayMs * 1000), dead],
      );
      await conn.query(`UPDATE ${this.q} SET claimed_by = NULL, claimed_until = NULL, last_error = ? WHERE id = ?`, [text, String(id)]);
      this.heldIds.delete(String(id));
      return dead ? 'dead' : 'retry';
    });
  }

  /** Dead letters, oldest first: events the broker refused `maxFailures` times, each holding back its instance. */
  async deadLetters(options: { limit?: number } = {}): Promise<MysqlDeadLetter[]> {
    await this.ensureFailedTable();
    const [rows] = await this.run(`list the dead letters of ${this.table}`, (conn) =>
      conn.query<RowDataPacket[]>(
        `SELECT f.outbox_id, f.event_id, f.instance_id, f.topic, f.failures, f.error, f.dead_at, o.event_type, o.\`sequence\`,
            (SELECT COUNT(*) FROM ${this.q} w WHERE w.instance_id = f.instance_id AND w.sent_at IS NULL AND w.\`sequence\` > o.\`sequence\`) AS waiting
          FROM ${this.f} f JOIN ${this.q} o ON o.id = f.outbox_id
          WHERE f.dead_at IS NOT NULL ORDER BY f.dead_at, f.outbox_id LIMIT ?`,
        [options.limit ?? 1000],
      ),
    );
    return rows.map((r) => ({
      id: String(r['outbox_id']),
      eventId: r['event_id'] as string,
      instanceId: r['instance_id'] as string,
      topic: r['topic'] as string,
      type: r['event_type'] as string,
      sequence: r['sequence'] as number,
      failures: r['failures'] as number,
      error: parseError(r['error']),
      deadAt: r['dead_at'] as Date,
      waiting: Number(r['waiting']),
    }));
  }

  /** Puts dead letters (all, or those matching `filter`) back in line with a fresh count; returns how many. */
  async retryDeadLetters(filter: MysqlDeadLetterFilter = {}): Promise<number> {
    await this.ensureFailedTable();
    const where = ['dead_at IS NOT NULL'];
    const params: unknown[] = [];
    for (const [column, list] of [
      ['instance_id', filter.instanceIds],
      ['topic', filter.topics],
      ['event_id', filter.eventIds],
    ] as const) {
      if (list === undefined) continue;
      if (list.length === 0) return 0;
      where.push(`${quoteId(column)} IN (?)`);
      params.push([...list]);
    }
    const [result] = await this.run(`retry dead letters of ${this.table}`, (conn) =>
      conn.query(`DELETE FROM ${this.f} WHERE ${where.join(' AND ')}`, params),
    );
    return (result as { affectedRows: number }).affectedRows;
  }

  /**
   * Deletes up to `limit` rows sent more than `olderThanMs` ago (by the database clock) and
   * returns how many went. The ids are read first, then deleted by primary key, so the delete
   * locks only those rows and never the range where new rows are inserted.
   */
  async purgeSent(olderThanMs: number, limit = 500): Promise<number> {
    return this.run(`purge sent rows of ${this.table}`, async (conn) => {
      const [rows] = await conn.query<RowDataPacket[]>(
        `SELECT id FROM ${this.q} WHERE sent_at IS NOT NULL AND sent_at < UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND ORDER BY sent_at LIMIT ?`,
        [Math.round(olderThanMs * 1000), limit],
      );
      if (rows.length === 0) return 0;
      const [result] = await conn.query(`DELETE FROM ${this.q} WHERE id IN (?) AND sent_at IS NOT NULL`, [rows.map((r) => String(r['id']))]);
      return (result as { affectedRows: number }).affectedRows;
    });
  }

  /**
   * Keeps the candidates that start their instance's unsent backlog: per instance, the unsent
   * rows in sequence order are walked and taken while they are candidates; the first one that
   * is not (someone else holds it, or it was skipped or cut off) stops that instance.
   */
  private async orderedPrefix(conn: PoolConnection, candidates: RowDataPacket[]): Promise<RowDataPacket[]> {
    const byId = new Map(candidates.map((r) => [String(r['id']), r]));
    const instances = [...new Set(candidates.map((r) => r['instance_id'] as string))];
    // An instance's rows are committed one after another by its one owner, so the rows before a
    // candidate have smaller ids: the unsent rows up to the last candidate are all there is to
    // walk. Read by the pending index, which holds no sent row however long they are kept (by
    // instance, each claim would walk every row its instances ever sent).
    const lastId = candidates.reduce((max, r) => (compareIds(r['id'], max) > 0 ? r['id'] : max), candidates[0]!['id']);
    // A plain read: under READ COMMITTED it sees rows other claims have locked or leased.
    const [unsent] = await conn.query<RowDataPacket[]>(
      `SELECT \`id\`, \`instance_id\` FROM ${this.q} FORCE INDEX (\`ix_pending\`)
        WHERE \`sent_at\` IS NULL AND \`id\` <= ? AND \`instance_id\` IN (?)
        ORDER BY \`instance_id\`, \`sequence\`, \`id\``,
      [String(lastId), instances],
    );
    const stopped = new Set<string>();
    const keep: RowDataPacket[] = [];
    for (const row of unsent) {
      const instance = row['instance_id'] as string;
      if (stopped.has(instance)) continue;
      const candidate = byId.get(String(row['id']));
      if (candidate) keep.push(candidate);
      else stopped.add(instance);
    }
    return keep.sort((a, b) => compareIds(a['id'], b['id']));
  }

  private async write(operation: string, sql: string, params: unknown[]): Promise<void> {
    await this.run(operation, (conn) => conn.query(sql, params));
  }

  private async run<T>(operation: string, task: (conn: PoolConnection) => Promise<T>): Promise<T> {
    const conn = await this.connection(operation);
    try {
      const result = await task(conn);
      conn.release();
      return result;
    } catch (cause) {
      release(conn, cause);
      throw storeError({ operation }, cause);
    }
  }

  private async transaction<T>(operation: string, task: (conn: PoolConnection) => Promise<T>): Promise<T> {
    const conn = await this.connection(operation);
    try {
      await conn.query(SET_READ_COMMITTED);
      await conn.beginTransaction();
      const result = await task(conn);
      await conn.commit();
      conn.release();
      return result;
    } catch (cause) {
      if (!isConnectionError(cause)) await conn.rollback().catch(() => undefined);
      release(conn, cause);
      throw storeError({ operation }, cause);
    }
  }

  private async connection(operation: string): Promise<PoolConnection> {
    try {
      return await this.pool.getConnection();
    } catch (cause) {
      throw storeError({ operation }, cause);
    }
  }
}

/** A connection whose socket failed goes away instead of back to the pool. */
function release(conn: PoolConnection, cause: unknown): void {
  if (isConnectionError(cause)) conn.destroy();
  else conn.release();
}

/** BIGINT ids may come back as numbers or strings; compare them exactly. */
function compareIds(a: unknown, b: unknown): number {
  const x = BigInt(String(a));
  const y = BigInt(String(b));
  return x < y ? -1 : x > y ? 1 : 0;
}

function toRow(r: RowDataPacket): MysqlOutboxRow {
  return {
    id: String(r['id']),
    eventId: r['event_id'] as string,
    topic: r['topic'] as string,
    key: r['message_key'] as string,
    instanceId: r['instance_id'] as string,
    sequence: r['sequence'] as number,
    type: r['event_type'] as string,
    payload: r['payload'] as string,
    headers: parseHeaders(r['headers']),
  };
}

function errorText(error: ErrorInfo): string {
  return JSON.stringify({ name: error.name, message: error.message.slice(0, 8000), code: error.code });
}

function parseError(text: unknown): ErrorInfo {
  try {
    const value = JSON.parse(String(text)) as Partial<ErrorInfo>;
    const info: ErrorInfo = { name: String(value.name ?? 'Error'), message: String(value.message ?? '') };
    if (typeof value.code === 'string') info.code = value.code;
    return info;
  } catch {
    return { name: 'Error', message: String(text) };
  }
}

function parseHeaders(text: unknown): Record<string, string> {
  if (typeof text !== 'string') return {};
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null) return {};
    return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    return {};
  }
}
