import { FsmError } from './errors.js';
import type { AcquireOptions, Lease, Locker } from './locker.js';

interface Held {
  owner: string;
  token: number;
  instanceId: string;
  expiresAt: number;
}

/**
 * In-process locker with the same lease semantics as the MySQL one: a lease expires unless
 * renewed, so a holder that stalls blocks others for at most the lease time, and every
 * acquisition gets a larger fencing token.
 */
export class MemoryLocker implements Locker {
  private readonly held = new Map<string, Held>();
  private readonly tokens = new Map<string, number>();
  private readonly waiters = new Map<string, Array<() => void>>();

  async acquire(key: string, owner: string, options: AcquireOptions): Promise<Lease | null> {
    const deadline = Date.now() + options.timeoutMs;
    for (;;) {
      const now = Date.now();
      const current = this.held.get(key);
      if (options.signal?.aborted) return null;
      if (!current || current.expiresAt <= now) {
        const token = (this.tokens.get(key) ?? 0) + 1;
        this.tokens.set(key, token);
        const expiresAt = now + options.leaseMs;
        this.held.set(key, { owner, token, instanceId: options.instanceId, expiresAt });
        return { key, owner, token, expiresAt: new Date(expiresAt) };
      }
      if (options.mode === 'skip') return null;
      if (options.mode === 'fail') {
        throw new FsmError('FSM_LOCK_BUSY', `lock "${key}" is held by instance ${current.instanceId}; try again later`, {
          context: { key, holder: current.instanceId, owner: current.owner },
        });
      }
      if (now >= deadline) {
        throw new FsmError(
          'FSM_LOCK_TIMEOUT',
          `waited ${options.timeoutMs} ms for lock "${key}", still held by instance ${current.instanceId}`,
          { context: { key, holder: current.instanceId, timeoutMs: options.timeoutMs } },
        );
      }
      // Wake on release, or when the holder's lease or our deadline runs out.
      await this.waitFor(key, Math.min(deadline, current.expiresAt) - now, options.signal);
    }
  }

  async renew(lease: Lease, leaseMs: number): Promise<boolean> {
    const current = this.held.get(lease.key);
    // An expired lease is lost even if nobody took the key since: it is not revived.
    if (!current || current.token !== lease.token || current.expiresAt <= Date.now()) return false;
    current.expiresAt = Date.now() + leaseMs;
    lease.expiresAt = new Date(current.expiresAt);
    return true;
  }

  async release(lease: Lease): Promise<void> {
    const current = this.held.get(lease.key);
    if (current && current.token === lease.token) this.held.delete(lease.key);
    const queue = this.waiters.get(lease.key);
    if (queue) {
      this.waiters.delete(lease.key);
      for (const wake of queue) wake();
    }
  }

  /** True when `token` is still the live holder of `key`: the fencing check stores can use. */
  isCurrent(key: string, token: number): boolean {
    const current = this.held.get(key);
    return !!current && current.token === token && current.expiresAt > Date.now();
  }

  private waitFor(key: string, ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      let queue = this.waiters.get(key);
      if (!queue) this.waiters.set(key, (queue = []));
      const timer = setTimeout(done, Math.max(1, ms));
      signal?.addEventListener('abort', done, { once: true });
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      queue.push(done);
    });
  }
}

/** Shared by every runner in the process that is not given a locker, so their locks agree. */
export const processLocker = new MemoryLocker();
