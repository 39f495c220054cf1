/**
 * Runs `tick` every third of `leaseMs` while a drive lasts, so that a lease taken for the drive
 * (an instance's, a lock's) never runs out while its process lives. Returns the stop function.
 */
export function keepAlive(leaseMs: number, tick: () => void): () => void {
  const timer = setInterval(tick, Math.max(25, Math.floor(leaseMs / 3)));
  timer.unref();
  return () => clearInterval(timer);
}
