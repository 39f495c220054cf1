import { notifyLockName, notifyScope } from '../../src/lock-session.js';

/** The machine whose instances the `race` processes commit; the test creates its tables. */
export const RACE_MACHINE = 'race';

export interface LockWorkerConfig {
  url: string;
  prefix: string;
  key: string;
  mode: 'hold' | 'race';
  leaseMs: number;
  pollMs: number;
  cycles?: number;
  /** Table with one row (`id` 1, `inside` 0) that holders count themselves in. */
  probe?: string;
}

export function announcementName(url: string, prefix: string, key: string): string {
  return notifyLockName(notifyScope(url, `${prefix}local_lock`), key);
}

