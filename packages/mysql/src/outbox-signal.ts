/**
 * Commits that wrote outbox rows wake the relays of the same process watching that table, so
 * they claim the rows at once instead of at their next poll. Keyed by table name only: two
 * databases with the same table in one process wake each other's relays for nothing, which
 * costs one empty claim.
 */
const watchers = new Map<string, Set<() => void>>();

/** Calls `listener` after each commit of outbox rows into `table` in this process; returns what stops it. */
export function watchOutbox(table: string, listener: () => void): () => void {
  let set = watchers.get(table);
  if (!set) watchers.set(table, (set = new Set()));
  const own = () => listener(); // one registration per call, even of the same function
  set.add(own);
  return () => {
    set.delete(own);
    if (set.size === 0 && watchers.get(table) === set) watchers.delete(table);
  };
}

/** Rows of `table` were committed: tells its watchers. */
export function outboxCommitted(table: string): void {
  const set = watchers.get(table);
  if (!set) return;
  for (const listener of set) {
    try {
      listener();
    } catch {
      // A watcher's failure is not the commit's: the rows are stored, a poll finds them.
    }
  }
}
