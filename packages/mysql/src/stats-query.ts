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
 * The three statements of `stats`, each one aggregate over an index or a scan, never rows
 * brought back one by one: counts by status and state, finished instances by time bucket, and
 * per step the durations' count, average and percentiles (MariaDB's PERCENTILE_CONT window
 * function, so one sort per step runs on the server).
 */
export function statsQueries(tables: TableNames, options: StatsOptions): { counts: StatsQuery; timeline: StatsQuery; steps: StatsQuery } {
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
  const w = 'OVER (PARTITION BY `step`, `direction`)';
  const pct = (p: number, name: string) => `PERCENTILE_CONT(${p}) WITHIN GROUP (ORDER BY \`ms\`) ${w} AS \`${name}\``;
  const buckets = (options.buckets ?? []).map((le, i) => `SUM(\`ms\` <= ${Number(le) * 1000}) ${w} AS \`h${i}\``);
  const steps = {
    sql:
      `SELECT DISTINCT \`step\`, \`direction\`, COUNT(*) ${w} AS \`n\`, SUM(\`failed\`) ${w} AS \`failures\`, ` +
      `AVG(\`ms\`) ${w} AS \`avg\`, SUM(\`ms\`) ${w} AS \`sum\`, ${pct(0.5, 'p50')}, ${pct(0.95, 'p95')}, ${pct(0.99, 'p99')}` +
      buckets.map((b) => `, ${b}`).join('') +
      ` FROM (SELECT \`step\`, \`direction\`, \`error\` IS NOT NULL AS \`failed\`, ` +
      `TIMESTAMPDIFF(MICROSECOND, \`started_at\`, \`finished_at\`) / 1000 AS \`ms\` FROM ${quoteId(tables.history)}${started.sql}) AS \`d\``,
    params: started.params,
  };
  return { counts, timeline, steps };
}

/** The answer of `stats`, from the rows of the three statements. */
export function statsFromRows(machine: string, options: StatsOptions, counts: RowDataPacket[], timeline: RowDataPacket[], steps: RowDataPacket[]): MachineStats {
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
  const stepStats: StepStats[] = steps
    .map((row) => {
      const stat: StepStats = {
        step: row['step'] as string,
        direction: row['direction'] as Direction,
        count: Number(row['n']),
        failures: Number(row['failures']),
        avgMs: Number(row['avg']),
        p50Ms: Number(row['p50']),
        p95Ms: Number(row['p95']),
        p99Ms: Number(row['p99']),
        sumMs: Number(row['sum']),
      };
      if (options.buckets) stat.histogram = options.buckets.map((_, i) => Number(row[`h${i}`]));
      return stat;
    })
    .sort((a, b) => (a.step < b.step ? -1 : a.step > b.step ? 1 : a.direction < b.direction ? -1 : 1));
  return { machine, total, byStatus, byState, steps: stepStats, timeline: [...buckets.values()].sort((a, b) => a.at.getTime() - b.at.getTime()) };
}
