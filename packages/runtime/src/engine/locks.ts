import { AsyncLocalStorage } from 'node:async_hooks';
import type { LockModel } from '@fsmkit/decorators';
import { FsmError } from '../errors.js';
import type { AcquireMode, Lease, Locker } from '../locker.js';
import type { InstanceRecord } from '../records.js';

/**
 * The lock keys an instance runs under: the machine's own lock, the runner's added lock and
 * those its record was created with, so that runners of one machine configured differently
 * still exclude each other. `user:<id>` spans machine types: one instance at a time per user.
 */
export function lockKeys(locks: readonly LockModel[], modelLock: LockModel, rec: InstanceRecord): string[] {
  const keys = new Set<string>();
  const add = (l: LockModel) => {
    if (l.scope === 'global') keys.add('global');
    if (l.scope === 'local') keys.add(l.by === 'type' ? `type:${rec.machine}` : `user:${rec.userId ?? ''}`);
  };
  locks.forEach(add);
  if (rec.isGlobalLock) add({ scope: 'global' });
  if (rec.isLocalLock) add(modelLock.scope === 'local' ? modelLock : { scope: 'local', by: 'user' });
  // One order for every holder, so that two instances needing two keys never wait on each other in a circle.
  return [...keys].sort();
}

/** Keys the drive running in this async context holds (a step that starts another instance). */
const heldHere = new AsyncLocalStorage<ReadonlySet<string>>();

export function runHolding<T>(keys: readonly string[], work: () => Promise<T>): Promise<T> {
  if (keys.length === 0) return work();
  const outer = heldHere.getStore();
  return heldHere.run(new Set([...(outer ?? []), ...keys]), work);
}

export interface AcquireSettings {
  owner: string;
  leaseMs: number;
  mode: AcquireMode;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

/**
 * Takes every key, in order; gives back what it took when one is busy in `skip` mode (null).
 * A key the calling drive already holds would wait for itself: refused at once.
 */
export async function acquireAll(locker: Locker, keys: readonly string[], rec: Pick<InstanceRecord, 'id' | 'machine'>, s: AcquireSettings): Promise<Lease[] | null> {
  if (keys.length === 0) return [];
  const mine = heldHere.getStore();
  const own = keys.find((k) => mine?.has(k));
  if (own !== undefined) {
    throw new FsmError(
      'FSM_LOCK_BUSY',
      `${rec.machine} instance ${rec.id} needs lock "${own}", which the step calling it holds: it would wait for itself. ` +
        'Create the instance (create) and let a worker or a later call run it once this step is over.',
      { context: { key: own, machine: rec.machine, id: rec.id, reentrant: true } },
    );
  }
  const leases: Lease[] = [];
  try {
    for (const key of keys) {
      const lease = await locker.acquire(key, s.owner, {
        instanceId: rec.id,
        machine: rec.machine,
        leaseMs: s.leaseMs,
        mode: s.mode,
        timeoutMs: s.timeoutMs,
        ...(s.signal ? { signal: s.signal } : {}),
      });
      if (lease === null) {
        await releaseAll(locker, leases);
        return null;
      }
      leases.push(lease);
    }
    return leases;
  } catch (error) {
    await releaseAll(locker, leases);
    throw error;
  }
}

export async function releaseAll(locker: Locker, leases: readonly Lease[]): Promise<void> {
  if (leases.length === 0) return;
  await Promise.all(leases.map((l) => locker.release(l).catch(() => undefined)));
}
