import { createHash } from 'node:crypto';

/** Width of the `lock_key` column. */
const LOCK_KEY_CHARS = 191;

/** The runtime's key for the whole system; every other key lives in the local lock table. */
export const GLOBAL_KEY = 'global';

/**
 * The `lock_key` value of a runtime lock key. Keys embed user ids, which may be as long as the
 * column: a longer key keeps a readable head and ends with its SHA-256, so it stays unique.
 */
export function storedLockKey(key: string): string {
  if (key.length <= LOCK_KEY_CHARS) return key;
  return `${key.slice(0, LOCK_KEY_CHARS - 65)}#${createHash('sha256').update(key).digest('hex')}`;
}
