/**
 * Commits that make instances runnable (children stored, a parent woken by its children) wake
 * the workers of the same process claiming from that store and machine, so they claim at once
 * instead of at their next poll. A signal may be for nothing (the parent was not woken after
 * all): it costs one empty claim.
 */
const watchers = new WeakMap<object, Map<string, Set<() => void>>>();

/** Calls `listener` after each commit in this process that may have made instances of `machine` in `store` runnable; returns what stops it. */
export function watchRunnable(store: object, machine: string, listener: () => void): () => void {
  let machines = watchers.get(store);
  if (!machines) watchers.set(store, (machines = new Map()));
  let set = machines.get(machine);
  if (!set) machines.set(machine, (set = new Set()));
  const own = () => listener(); // one registration per call, even of the same function
  set.add(own);
  return () => {
    set.delete(own);
    if (set.size === 0 && machines.get(machine) === set) machines.delete(machine);
  };
}

/** Instances of `machine` in `store` may have become runnable: tells its watchers. */
export function runnableCommitted(store: object, machine: string): void {
  const set = watchers.get(store)?.get(machine);
  if (!set) return;
  for (const listener of set) {
    try {
      listener();
    } catch {
      // A watcher's failure is not the commit's: a poll finds the instances.
    }
  }
}
