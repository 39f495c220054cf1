import mysql, { type Pool, type PoolOptions } from 'mysql2/promise';
import { formatQuery } from './inline-values.js';

export const DEFAULT_MYSQL_URL = 'mysql://root@127.0.0.1:3306/test';

export interface PoolSettings {
  /** Default: `FSM_MYSQL_URL`, else mysql://root@127.0.0.1:3306/test. */
  url?: string;
  /** Connections in the pool. Default 10. */
  poolSize?: number;
  /** Default 10 000. */
  connectTimeoutMs?: number;
  /**
   * Idle time before TCP keepalive probes start on a pooled connection, so that a peer gone
   * silent is noticed in minutes rather than the operating system's two hours. Default 10 000.
   */
  keepAliveDelayMs?: number;
}

/** The session's sql_mode without NO_BACKSLASH_ESCAPES, whatever else the server sets. */
export const SESSION_SQL_MODE =
  "SET SESSION sql_mode = TRIM(BOTH ',' FROM REPLACE(CONCAT(',', @@SESSION.sql_mode, ','), ',NO_BACKSLASH_ESCAPES,', ','))";


export function defaultUrl(): string {
  return process.env['FSM_MYSQL_URL'] || DEFAULT_MYSQL_URL;
}

/**
 * A pool as the store needs it: dates in UTC as Date objects (DATETIME(3) keeps the
 * milliseconds), and every connection in READ COMMITTED, which claim loops need to avoid
 * deadlocks and which keeps the commit transaction short. Text queries get their literals from
 * `formatQuery`, which the server reads the same in every sql_mode; each session also drops
 * NO_BACKSLASH_ESCAPES, so that mysql2's own `escape` stays right for code that calls it.
 */
export function createPool(settings: PoolSettings = {}): Pool {
  const options: PoolOptions = {
    uri: settings.url ?? defaultUrl(),
    connectionLimit: settings.poolSize ?? 10,
    connectTimeout: settings.connectTimeoutMs ?? 10_000,
    timezone: 'Z',
    dateStrings: false,
    enableKeepAlive: true,
    keepAliveInitialDelay: settings.keepAliveDelayMs ?? 10_000,
    // Our errors carry their own stack; capturing one per statement costs more than the statement's JavaScript.
    trace: false,
    // A commit sends START TRANSACTION and its writes in one round trip. Its values are
    // literals from `sqlLiteral` (test/sql-mode.int.test.ts sends hostile text in every field
    // under NO_BACKSLASH_ESCAPES) and its identifiers are checked names.
    multipleStatements: true,
    // Also skips the placeholder scan of a text that comes with its values inlined.
    queryFormat: formatQuery,
  };
  const pool = mysql.createPool(options);
  // Runs before the new connection is handed out: the command queue is ordered.
  pool.pool.on('connection', (connection) => {
    connection.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', () => undefined);
    connection.query(SESSION_SQL_MODE, () => undefined);
  });
  return pool;
}
