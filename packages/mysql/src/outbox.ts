import type { ErrorInfo, FsmEvent } from '@fsmkit/runtime';
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import { OUTBOX_COLUMNS, outboxValues } from './rows.js';
import { quoteId, sharedDdl, sharedTables, type SchemaOptions } from './schema.js';
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

const CLAIM_COLUMNS = ['id', 'event_id', 'topic', 'message_key', 'instance_id', 'sequence', 'event_type', 'payload', 'headers']
  .map(quoteId)
  .join(', ');

/**
 * The `fsm_outbox` table as an outbox a relay drains (it satisfies @fsmkit/kafka's `Outbox`).
 * The store writes rows in the transaction of each state change; relays on any number of
 * hosts claim them with `FOR UPDATE SKIP LOCKED` under READ COMMITTED.
 *
 * A claim never contains a row whose instance has an earlier unsent row outside the claim
 * (claimed by another relay, locked by a concurrent claim, or past the limit): so a relay
 * that publishes a claim in sequence order and marks it sent before claiming again keeps
 * every instance's events in order, with no coordination between relays but these rows.
 */
export class MysqlOutbox {
  readonly table: string;
  private readonly schema: SchemaOptions;
  private readonly q: string;

  constructor(
    private readonly pool: Pool,
    options: MysqlOutboxOptions = {},
  ) {
    this.schema = options.tablePrefix === undefined ? {} : { tablePrefix: options.tablePrefix };
    this.table = sharedTables(this.schema).outbox;
    this.q = quoteId(this.table);
  }

  /** Creates the outbox table when missing, with the same DDL the generator writes. */
  async ensureOutbox(): Promise<void> {
    const ddl = sharedDdl(this.schema).find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS ${this.q} `));
    if (!ddl) throw new Error(`no DDL for ${this.table} in sharedDdl`);
    try {
      await this.pool.query(ddl);
    } catch (cause) {
      throw storeError({ operation: `create the outbox table ${this.table}` }, cause);
    }
  }

  /** Writes events as unsent rows, in the caller's transaction when given a connection. */
  async enqueue(events: FsmEvent[], conn?: PoolConnection): Promise<void> {
    if (events.length === 0) return;
    const now = new Date();
    const values = events.map((event) => outboxValues({ event, payload: JSON.stringify(event) }, now));
    const sql = `INSERT INTO ${this.q} (${OUTBOX_COLUMNS.map(quoteId).join(', ')}) VALUES ?`;
    try {
      await (conn ?? this.pool).query(sql, [values]);
    } catch (cause) {
      throw storeError({ operation: `write ${events.length} event(s) to ${this.table}` }, cause);
    }
  }

  async claim(owner: string, limit: number, leaseMs: number): Promise<MysqlOutboxRow[]> {
    return this.transaction(`claim rows of ${this.table}`, async (conn) => {
      const [candidates] = await conn.query<RowDataPacket[]>(
        `SELECT ${CLAIM_COLUMNS} FROM ${this.q}
          WHERE sent_at IS NULL AND (claimed_until IS NULL OR claimed_until < UTC_TIMESTAMP(3))
          ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED`,
        [limit],
      );
      if (candidates.length === 0) return [];
      const keep = await this.orderedPrefix(conn, candidates);
      if (keep.length === 0) return [];
      await conn.query(
        `UPDATE ${this.q} SET claimed_by = ?, claimed_until = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND,
            attempts = attempts + 1 WHERE id IN (?)`,
        [owner, Math.round(leaseMs * 1000), keep.map((r) => r['id'] as unknown)],
      );
      return keep.map(toRow);
    });
  }

  async markSent(_owner: string, ids: OutboxId[]): Promise<void> {
    if (ids.length === 0) return;
    await this.write(
      `mark ${ids.length} row(s) of ${this.table} sent`,
      `UPDATE ${this.q} SET sent_at = UTC_TIMESTAMP(3), claimed_until = NULL WHERE id IN (?) AND sent_at IS NULL`,
      [ids.map(String)],
    );
  }

  async markFailed(owner: string, ids: OutboxId[], error: ErrorInfo): Promise<void> {
    if (ids.length === 0) return;
    const text = JSON.stringify({ name: error.name, message: error.message.slice(0, 8000), code: error.code });
    await this.write(
      `release ${ids.length} failed row(s) of ${this.table}`,
      `UPDATE ${this.q} SET claimed_by = NULL, claimed_until = NULL, last_error = ?
        WHERE id IN (?) AND claimed_by = ? AND sent_at IS NULL`,
      [text, ids.map(String), owner],
    );
  }

  /** Deletes up to `limit` rows sent before `before`; returns how many went. */
  async purgeSent(before: Date, limit = 10_000): Promise<number> {
    const [result] = await this.run(`purge sent rows of ${this.table}`, (conn) =>
      conn.query(`DELETE FROM ${this.q} WHERE sent_at IS NOT NULL AND sent_at < ? ORDER BY id LIMIT ?`, [before, limit]),
    );
    return (result as { affectedRows: number }).affectedRows;
  }

  /**
   * Keeps the candidates that start their instance's unsent backlog: per instance, the unsent
   * rows in sequence order are walked and taken while they are candidates; the first one that
   * is not (someone else holds it, or it was skipped or cut off) stops that instance.
   */
  private async orderedPrefix(conn: PoolConnection, candidates: RowDataPacket[]): Promise<RowDataPacket[]> {
    const byId = new Map(candidates.map((r) => [String(r['id']), r]));
    const instances = [...new Set(candidates.map((r) => r['instance_id'] as string))];
    const maxSequence = Math.max(...candidates.map((r) => r['sequence'] as number));
    // A plain read: under READ COMMITTED it sees rows other claims have locked or leased.
    const [unsent] = await conn.query<RowDataPacket[]>(
      `SELECT \`id\`, \`instance_id\` FROM ${this.q}
        WHERE \`instance_id\` IN (?) AND \`sent_at\` IS NULL AND \`sequence\` <= ?
        ORDER BY \`instance_id\`, \`sequence\`, \`id\``,
      [instances, maxSequence],
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
      // SKIP LOCKED claims deadlock under REPEATABLE READ; this sets the next transaction only.
      await conn.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
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
