import type { Pool, PoolConnection } from 'mysql2/promise';
import { isConnectionError, QueryTimeoutError } from './store-error.js';

/** Rejects with QueryTimeoutError when `ms` passes first; 0 disables it. */
export async function withDeadline<T>(work: Promise<T>, ms: number, onExpire?: () => void): Promise<T> {
  if (ms <= 0) return work;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onExpire?.();
      reject(new QueryTimeoutError(ms));
    }, ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One statement on a pooled connection within `ms`. A connection whose statement ran out of
 * time or lost its socket is destroyed, not given back: its reply may still come, and a hung
 * one would hold its pool slot for as long as the operating system keeps the socket open.
 */
export async function pooledStatement<T>(pool: Pool, ms: number, statement: (conn: PoolConnection) => Promise<[T, unknown]>): Promise<T> {
  let conn: PoolConnection | undefined;
  let expired = false;
  const attempt = async (): Promise<T> => {
    const acquired = await pool.getConnection();
    if (expired) {
      // Nothing ran on it: it is as good as before.
      acquired.release();
      throw new QueryTimeoutError(ms);
    }
    conn = acquired;
    return (await statement(acquired))[0];
  };
  try {
    const result = await withDeadline(attempt(), ms, () => (expired = true));
    conn!.release();
    return result;
  } catch (error) {
    if (conn !== undefined) {
      if (isConnectionError(error)) conn.destroy();
      else conn.release();
    }
    throw error;
  }
}
