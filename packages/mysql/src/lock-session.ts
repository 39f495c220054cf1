import { createHash } from 'node:crypto';
import mysql, { type Connection } from 'mysql2/promise';
import { SESSION_SQL_MODE } from './pool.js';

/** What a connection of its own needs, besides the pool's connections. */
export interface SessionSettings {
  url: string;
  connectTimeoutMs: number;
}

/**
 * A connection outside the pool, for user-level locks (they belong to their session). Its
 * socket does not keep the process alive while it idles; `ref` it while a caller waits on it.
 */
export async function openSession(settings: SessionSettings, onLost: () => void): Promise<Connection> {
  const conn = await mysql.createConnection({ uri: settings.url, connectTimeout: settings.connectTimeoutMs, enableKeepAlive: true });
  // An idle connection that dies emits an error: without a listener it would end the process.
  conn.on('error', onLost);
  // As on the pool's sessions: mysql2's escaping of the caller's key text is right only without it.
  await conn.query(SESSION_SQL_MODE).catch((error: unknown) => {
    conn.destroy();
    throw error;
  });
  holdProcess(conn, false);
  return conn;
}

export function holdProcess(conn: Connection, hold: boolean): void {
  const stream = (conn as unknown as { connection?: { stream?: { ref?: () => void; unref?: () => void } } }).connection?.stream;
  if (hold) stream?.ref?.();
  else stream?.unref?.();
}

/**
 * The user-level lock that announces a key's lease (`GET_LOCK` names are server-wide and at
 * most 64 characters): a hash of the database, the table prefix and the stored key.
 */
export function notifyLockName(scope: string, storedKey: string): string {
  return `fsm:${createHash('sha256').update(scope).update('\0').update(storedKey).digest('base64url').slice(0, 43)}`;
}

/**
 * The database a URL names, with the table prefix: what tells one store's lock names from
 * another's on the same server (the host is left out: one server has many names).
 */
export function notifyScope(url: string, tablePrefix: string): string {
  let database = url;
  try {
    database = new URL(url).pathname;
  } catch {
    // not a URL: the whole text, which still tells stores apart
  }
  return `${database}/${tablePrefix}`;
}
