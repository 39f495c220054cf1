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

/** The percentiles `stats` reports, in percent. */
const PERCENTS = [50, 95, 99] as const;

/**
 * The four statements of `stats`, each an aggregate over an index or a scan, never rows brought
 * back one by one: counts by status and state, finished instances by time bucket, per step the
 * durations' count, failures, sum and histogram (one GROUP BY), and the few rows around each
 * percentile (one window pass). PERCENTILE_CONT, MariaDB's window function, sorted the rows once
 * per percentile and per window: 17 times slower over a million rows (bench/stats.ts).
 */
export function statsQueries(tables: TableNames, options: StatsOptions): { counts: StatsQuery; timeline: StatsQuery; steps: StatsQuery; percentiles: StatsQuery } {
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
  const durations =
    `(SELECT \`step\`, \`direction\`, \`error\` IS NOT NULL AS \`failed\`, ` +
    `TIMESTAMPDIFF(MICROSECOND, \`started_at\`, \`finished_at\`) / 1000 AS \`ms\` FROM ${quoteId(tables.history)}${started.sql}) AS \`d\``;
  const buckets = (options.buckets ?? []).map((le, i) => `, SUM(\`ms\` <= ${Number(le) * 1000}) AS \`h${i}\``).join('');
  const steps = {
    sql:
      `SELECT \`step\`, \`direction\`, COUNT(*) AS \`n\`, SUM(\`failed\`) AS \`failures\`, AVG(\`ms\`) AS \`avg\`, SUM(\`ms\`) AS \`sum\`${buckets} ` +
      `FROM ${durations} GROUP BY \`step\`, \`direction\``,
    params: started.params,
  };
  // The two ranks each percentile lies between (PERCENTILE_CONT's linear interpolation, done by
  // the caller), in exact integer arithmetic so that SQL and the caller agree on them: one sort
  // of the durations per step, and only those rows come back.
  const ranks = PERCENTS.flatMap((p) => [`FLOOR(${p} * (\`n\` - 1) / 100) + 1`, `CEIL(${p} * (\`n\` - 1) / 100) + 1`]);
  const w = 'PARTITION BY `step`, `direction`';
  const percentiles = {
    sql:
      `SELECT \`step\`, \`direction\`, \`rn\`, \`ms\` FROM (SELECT \`step\`, \`direction\`, \`ms\`, ` +
      `ROW_NUMBER() OVER (${w} ORDER BY \`ms\`) AS \`rn\`, COUNT(*) OVER (${w}) AS \`n\` FROM ${durations}) AS \`r\` ` +
      `WHERE \`rn\` IN (${ranks.join(', ')})`,
    params: started.params,
  };
  return { counts, timeline, steps, percentiles };
}

/** The answer of `stats`, from the rows of the three statements. */
export function statsFromRows(
  machine: string,
  options: StatsOptions,
  rows: { counts: RowDataPacket[]; timeline: RowDataPacket[]; steps: RowDataPacket[]; percentiles: RowDataPacket[] },
): MachineStats {
  const { counts, timeline, steps } = rows;
  const byStatus: MachineStats['byStatus'] = {};
  const byState: Record<string, number> = {};
  let total = 0;
  for (const row of counts) {
    const n = Number(row['n']);
    total += n;
    const status = row['status'] as InstanceStatus;
    byStatus[status] = (byStatus[status] ?? 0) + n;
    byState[row['state'] as string] = (byState[row['state'] as string] ?? 0) + n;
  }
  const bucketMs = Math.max(1, Math.floor(options.bucketSeconds ?? 3600)) * 1000;
  const buckets = new Map<number, StatsBucket>();
  for (const row of timeline) {
    const at = Number(row['b']) * bucketMs;
    let b = buckets.get(at);
    if (!b) buckets.set(at, (b = { at: new Date(at), done: 0, failed: 0, compensated: 0 }));
    b[row['status'] as 'done' | 'failed' | 'compensated'] += Number(row['n']);
  }
  const ranked = new Map<string, Map<number, number>>();
  for (const row of rows.percentiles) {
    const key = `${String(row['step'])}\u0000${String(row['direction'])}`;
    let m = ranked.get(key);
    if (!m) ranked.set(key, (m = new Map()));
    m.set(Number(row['rn']), Number(row['ms']));
  }
  const stepStats: StepStats[] = steps
    .map((row) => {
      const n = Number(row['n']);
      const at = ranked.get(`${String(row['step'])}\u0000${String(row['direction'])}`) ?? new Map<number, number>();
      const pct = (p: number): number => {
        const lo = Math.floor((p * (n - 1)) / 100);
        const hi = Math.ceil((p * (n - 1)) / 100);
        const a = at.get(lo + 1) ?? 0;
        return a + ((at.get(hi + 1) ?? a) - a) * ((p * (n - 1)) / 100 - lo);
      };
      const stat: StepStats = {
        step: row['step'] as string,
        direction: row['direction'] as Direction,
        count: n,
        failures: Number(row['failures']),
        avgMs: Number(row['avg']),
        p50Ms: pct(50),
        p95Ms: pct(95),
        p99Ms: pct(99),
        sumMs: Number(row['sum']),
      };
      if (options.buckets) stat.histogram = options.buckets.map((_, i) => Number(row[`h${i}`]));
      return stat;
    })
    .sort((a, b) => (a.step < b.step ? -1 : a.step > b.step ? 1 : a.direction < b.direction ? -1 : 1));
  return { machine, total, byStatus, byState, steps: stepStats, timeline: [...buckets.values()].sort((a, b) => a.at.getTime() - b.at.getTime()) };
}
