import type { Direction, InstanceStatus, MachineStats, StatsBucket, StatsOptions, StepStats } from '@fsmkit/runtime';
import type { RowDataPacket } from 'mysql2/promise';
import type { SqlValue } from './rows.js';
import { quoteId, type TableNames } from './schema.js';

export interface StatsQuery {
  sql: string;
  params: SqlValue[];
}

/** `AND col >= ? AND col < ?` for the range that is given. */
function range(column: string, options: StatsOptions): StatsQuery {
  const parts: string[] = [];
  const params: SqlValue[] = [];
  if (options.from) {
    parts.push(`\`${column}\` >= ?`);
    params.push(options.from);
  }
  if (options.to) {
    parts.push(`\`${column}\` < ?`);
    params.push(options.to);
  }
  return { sql: parts.length > 0 ? ` WHERE ${parts.join(' AND ')}` : '', params };
}

/**
 * The three statements of `stats`, each an aggregate over an index or a scan, never rows brought
 * back one by one: counts by status and state, finished instances by time bucket, and per step
 * how many runs took each duration (with their exact sum and failures), from which the caller
 * takes count, average, histogram and exact percentiles. A window function (PERCENTILE_CONT, or
 * ROW_NUMBER over the durations) sorts every row: 4-12 times slower over a million rows
 * (bench/README.md, stats).
 */
export function statsQueries(tables: TableNames, options: StatsOptions): { counts: StatsQuery; timeline: StatsQuery; durations: StatsQuery } {
  const instances = quoteId(tables.instances);
  const created = range('created_at', options);
  const counts = {
    sql: `SELECT \`status\`, \`current_state\` AS \`state\`, COUNT(*) AS \`n\` FROM ${instances}${created.sql} GROUP BY \`status\`, \`current_state\``,
    params: created.params,
  };
  const bucket = Math.max(1, Math.floor(options.bucketSeconds ?? 3600));
  // Seconds since the epoch without UNIX_TIMESTAMP, which reads DATETIME in the session's zone.
  const finished = `\`status\` IN ('done', 'failed', 'compensated')`;
  const timeline = {
    sql:
      `SELECT FLOOR(TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', \`updated_at\`) / ${bucket}) AS \`b\`, \`status\`, COUNT(*) AS \`n\` ` +
      `FROM ${instances}${created.sql ? `${created.sql} AND ${finished}` : ` WHERE ${finished}`} GROUP BY \`b\`, \`status\``,
    params: created.params,
  };
  const started = range('started_at', options);
  // Durations rounded to four significant digits (exact below 10 s, history keeps milliseconds):
  // a step has at most a few thousand distinct values, whatever the number of rows.
  const durations = {
    sql:
      `SELECT \`step\`, \`direction\`, ROUND(\`us\`, 3 - FLOOR(LOG10(GREATEST(ABS(\`us\`), 1)))) AS \`v\`, ` +
      `COUNT(*) AS \`n\`, SUM(\`us\`) AS \`sum\`, SUM(\`failed\`) AS \`failures\` ` +
      `FROM (SELECT \`step\`, \`direction\`, \`error\` IS NOT NULL AS \`failed\`, TIMESTAMPDIFF(MICROSECOND, \`started_at\`, \`finished_at\`) AS \`us\` ` +
      `FROM ${quoteId(tables.history)}${started.sql}) AS \`d\` GROUP BY \`step\`, \`direction\`, \`v\``,
    params: started.params,
  };
  return { counts, timeline, durations };
}

/** The answer of `stats`, from the rows of the three statements. */
export function statsFromRows(
  machine: string,
  options: StatsOptions,
  rows: { counts: RowDataPacket[]; timeline: RowDataPacket[]; durations: RowDataPacket[] },
): MachineStats {
  const byStatus: MachineStats['byStatus'] = {};
  const byState: Record<string, number> = {};
  let total = 0;
  for (const row of rows.counts) {
    const n = Number(row['n']);
    total += n;
    const status = row['status'] as InstanceStatus;
    byStatus[status] = (byStatus[status] ?? 0) + n;
    byState[row['state'] as string] = (byState[row['state'] as string] ?? 0) + n;
  }
  const bucketMs = Math.max(1, Math.floor(options.bucketSeconds ?? 3600)) * 1000;
  const buckets = new Map<number, StatsBucket>();
  for (const row of rows.timeline) {
    const at = Number(row['b']) * bucketMs;
    let b = buckets.get(at);
    if (!b) buckets.set(at, (b = { at: new Date(at), done: 0, failed: 0, compensated: 0 }));
    b[row['status'] as 'done' | 'failed' | 'compensated'] += Number(row['n']);
  }
  const groups = new Map<string, { step: string; direction: Direction; values: Array<[number, number]>; sumUs: number; failures: number }>();
  for (const row of rows.durations) {
    const key = `${String(row['step'])}\u0000${String(row['direction'])}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { step: row['step'] as string, direction: row['direction'] as Direction, values: [], sumUs: 0, failures: 0 }));
    g.values.push([Number(row['v']) / 1000, Number(row['n'])]);
    g.sumUs += Number(row['sum']);
    g.failures += Number(row['failures']);
  }
  const stepStats: StepStats[] = [...groups.values()]
    .map((g) => {
      const values = g.values.sort((a, b) => a[0] - b[0]);
      const count = values.reduce((n, [, c]) => n + c, 0);
      const sumMs = g.sumUs / 1000;
      const stat: StepStats = {
        step: g.step,
        direction: g.direction,
        count,
        failures: g.failures,
        avgMs: sumMs / count,
        p50Ms: options.percentiles === false ? 0 : percentile(values, count, 50),
        p95Ms: options.percentiles === false ? 0 : percentile(values, count, 95),
        p99Ms: options.percentiles === false ? 0 : percentile(values, count, 99),
        sumMs,
      };
      if (options.buckets) stat.histogram = options.buckets.map((le) => values.reduce((n, [v, c]) => (v <= le * 1000 ? n + c : n), 0));
      return stat;
    })
    .sort((a, b) => (a.step < b.step ? -1 : a.step > b.step ? 1 : a.direction < b.direction ? -1 : 1));
  return { machine, total, byStatus, byState, steps: stepStats, timeline: [...buckets.values()].sort((a, b) => a.at.getTime() - b.at.getTime()) };
}

/** PERCENTILE_CONT over sorted (value, how many) pairs: linear between the two closest ranks. */
function percentile(values: Array<[number, number]>, count: number, percent: number): number {
  const lo = Math.floor((percent * (count - 1)) / 100);
  const hi = Math.ceil((percent * (count - 1)) / 100);
  const at = (rank: number): number => {
    let seen = 0;
    for (const [v, c] of values) if ((seen += c) > rank) return v;
    return values.at(-1)?.[0] ?? 0;
  };
  const a = at(lo);
  return a + (at(hi) - a) * ((percent * (count - 1)) / 100 - lo);
}
