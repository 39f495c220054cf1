/** A held lock: a lease with an owner, an expiry and a fencing token. */
export interface Lease {
  key: string;
  owner: string;
  /** Grows with every acquisition of the key; a write carrying an older token is refused. */
  token: number;
  expiresAt: Date;
}

export type AcquireMode = 'wait' | 'fail' | 'skip';

export interface AcquireOptions {
  /** Instance that takes the lock, recorded with it. */
  instanceId: string;
  /** Machine of that instance, recorded with it so an operator can find the holder. */
  machine?: string;
  leaseMs: number;
  /** `wait` up to `timeoutMs` (FSM_LOCK_TIMEOUT), `fail` at once (FSM_LOCK_BUSY), `skip`: return null. */
  mode: AcquireMode;
  timeoutMs: number;
  /** Gives up waiting when aborted (a stopping worker): acquire then returns null, as `skip` does. */
  signal?: AbortSignal;
}

/** Keeps instances of one user, one type, or the whole system from running at once. */
export interface Locker {
  acquire(key: string, owner: string, options: AcquireOptions): Promise<Lease | null>;
  /**
   * Extends a lease; false when it was lost: it expired (taken by another or not), or was
   * released. A lost lease cannot be revived, and a store that checks fences refuses its writes.
   */
  renew(lease: Lease, leaseMs: number): Promise<boolean>;
  release(lease: Lease): Promise<void>;
}
