import mysql, { type Pool, type PoolOptions } from 'mysql2/promise';

export const DEFAULT_MYSQL_URL = 'mysql://root@127.0.0.1:3306/test';

export interface PoolSettings {
  /** Default: `FSM_MYSQL_URL`, else mysql://root@127.0.0.1:3306/test. */
  url?: string;
  /** Connections in the pool. Default 10. */
  poolSize?: number;
  /** Default 10 000. */
  connectTimeoutMs?: number;
}

export function defaultUrl(): string {
  return process.env['FSM_MYSQL_URL'] || DEFAULT_MYSQL_URL;
}

/**
 * A pool as the store needs it: dates in UTC as Date objects (DATETIME(3) keeps the
 * milliseconds), and every connection in READ COMMITTED, which claim loops need to avoid
 * deadlocks and which keeps the commit transaction short.
 */
export function createPool(settings: PoolSettings = {}): Pool {
  const options: PoolOptions = {
    uri: settings.url ?? defaultUrl(),
    connectionLimit: settings.poolSize ?? 10,
    connectTimeout: settings.connectTimeoutMs ?? 10_000,
    timezone: 'Z',
    dateStrings: false,
    enableKeepAlive: true,
    // Our errors carry their own stack; capturing one per statement costs more than the statement's JavaScript.
    trace: false,
    // A commit sends START TRANSACTION and its writes in one round trip. Every value goes
    // through a placeholder and every identifier is checked, so no text can add a statement.
    multipleStatements: true,
    // mysql2 scans a query's whole text for placeholders even when it has no values; a commit's
    // text comes with its values inlined (kilobytes of data), so skip the scan then.
    queryFormat: (sql: string, values: unknown) =>
      values === undefined || (Array.isArray(values) && values.length === 0) ? sql : mysql.format(sql, values as Parameters<typeof mysql.format>[1], false, 'Z'),
  };
  const pool = mysql.createPool(options);
  // Runs before the new connection is handed out: the command queue is ordered.
  pool.pool.on('connection', (connection) => {
    connection.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', () => undefined);
  });
  return pool;
}
