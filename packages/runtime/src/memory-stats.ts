import type { HistoryRecord, InstanceRecord, InstanceStatus } from './records.js';
import type { MachineStats, StatsBucket, StatsOptions, StepStats } from './store.js';

const FINISHED: ReadonlySet<InstanceStatus> = new Set(['done', 'failed', 'compensated']);

/** Linear interpolation between closest ranks (SQL's PERCENTILE_CONT); `percent` from 0 to 100. */
export function percentileCont(sorted: readonly number[], percent: number): number {
  if (sorted.length === 0) return 0;
  // Ranks from integer arithmetic, as the MySQL store picks them.
  const lo = Math.floor((percent * (sorted.length - 1)) / 100);
  const hi = Math.ceil((percent * (sorted.length - 1)) / 100);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * ((percent * (sorted.length - 1)) / 100 - lo);
}

const inRange = (t: Date, o: StatsOptions): boolean => (!o.from || t >= o.from) && (!o.to || t < o.to);

/** What a store's `stats` answers, computed from rows in memory (the memory store's way). */
export function computeStats(
  machine: string,
  instances: Iterable<InstanceRecord>,
  history: Iterable<HistoryRecord>,
  options: StatsOptions = {},
): MachineStats {
  const byStatus: MachineStats['byStatus'] = {};
  const byState: Record<string, number> = {};
  const bucketMs = (options.bucketSeconds ?? 3600) * 1000;
  const timeline = new Map<number, StatsBucket>();
  let total = 0;
  for (const r of instances) {
    if (!inRange(r.createdAt, options)) continue;
    total++;
    byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    byState[r.currentState] = (byState[r.currentState] ?? 0) + 1;
    if (FINISHED.has(r.status)) {
      const at = Math.floor(r.updatedAt.getTime() / bucketMs) * bucketMs;
      let b = timeline.get(at);
      if (!b) timeline.set(at, (b = { at: new Date(at), done: 0, failed: 0, compensated: 0 }));
      b[r.status as 'done' | 'failed' | 'compensated']++;
    }
  }
  const groups = new Map<string, { step: string; direction: HistoryRecord['direction']; ms: number[]; failures: number }>();
  for (const h of history) {
    if (!inRange(h.startedAt, options)) continue;
    const key = `${h.step}\u0000${h.direction}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { step: h.step, direction: h.direction, ms: [], failures: 0 }));
    g.ms.push(h.finishedAt.getTime() - h.startedAt.getTime());
    if (h.error) g.failures++;
  }
  const steps: StepStats[] = [...groups.values()]
    .sort((a, b) => (a.step < b.step ? -1 : a.step > b.step ? 1 : a.direction < b.direction ? -1 : 1))
    .map((g) => {
      const ms = g.ms.sort((a, b) => a - b);
      const sumMs = ms.reduce((s, v) => s + v, 0);
      const stat: StepStats = {
        step: g.step,
        direction: g.direction,
        count: ms.length,
        failures: g.failures,
        avgMs: sumMs / ms.length,
        p50Ms: options.percentiles === false ? 0 : percentileCont(ms, 50),
        p95Ms: options.percentiles === false ? 0 : percentileCont(ms, 95),
        p99Ms: options.percentiles === false ? 0 : percentileCont(ms, 99),
        sumMs,
      };
      if (options.buckets) stat.histogram = options.buckets.map((le) => ms.filter((v) => v <= le * 1000).length);
      return stat;
    });
  return { machine, total, byStatus, byState, steps, timeline: [...timeline.values()].sort((a, b) => a.at.getTime() - b.at.getTime()) };
}
