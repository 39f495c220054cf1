/**
 * stats: how long `MysqlStore.stats()` takes over a machine with a million history rows (and
 * 100,000 instances), against the floor: one `SELECT step, COUNT(*), AVG(duration) ... GROUP BY`
 * over the same rows, which any answer must at least read. Rows are made on the server
 * (MariaDB's sequence engine), not sent. Rounds alternate; figures are medians.
 *
 * BENCH_HISTORY_ROWS (default 1,000,000). Last line: the JSON result; ratio = floor / stats time.
 */
import { randomBytes } from 'node:crypto';
import { createMysqlStore } from '@fsmkit/mysql';

const ROWS = Number(process.env.BENCH_HISTORY_ROWS ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const prefix = `b${randomBytes(4).toString('hex')}_`;
const store = createMysqlStore({ tablePrefix: prefix, poolSize: 4, queryTimeoutMs: 600_000 });
await store.ensureSchema([{ name: 'stat' }]);
const hist = `\`${prefix}stat_history\``;
const inst = `\`${prefix}stat\``;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const timed = async (fn: () => Promise<unknown>) => {
  const t = performance.now();
  await fn();
  return performance.now() - t;
};

try {
  const t0 = performance.now();
  // Ten history rows per instance, five steps, durations 1..~500 ms, 1% failures, over 30 days.
  await store.pool.query(
    `INSERT INTO ${hist} (id, instance_id, seq, handler, step, direction, state_before, state_after, data_before, data_after, error, attempt, started_at, finished_at)
     SELECT UUID(), LPAD(FLOOR((seq - 1) / 10), 36, '0'), (seq - 1) % 10 + 1, CONCAT('s', seq % 5), CONCAT('s', seq % 5), IF(seq % 17 = 0, 'backward', 'forward'),
            's1', 's2', '{}', '{}', IF(seq % 100 = 0, '{"name":"Error","message":"x"}', NULL), 1,
            TIMESTAMPADD(SECOND, seq * 2.592, '2026-10-01'), TIMESTAMPADD(MICROSECOND, ((seq * 7919) % 500 + 1) * 1000, TIMESTAMPADD(SECOND, seq * 2.592, '2026-10-01'))
     FROM seq_1_to_${ROWS}`,
  );
  await store.pool.query(
    `INSERT INTO ${inst} (id, name, user_id, current_state, serialized_state, created_at, updated_at, status, version, definition_hash)
     SELECT LPAD(seq - 1, 36, '0'), 'stat', CONCAT('u', seq % 1000), CONCAT('s', seq % 5), '{}', TIMESTAMPADD(SECOND, seq * 25.92, '2026-10-01'),
            TIMESTAMPADD(SECOND, seq * 25.92 + 60, '2026-10-01'), ELT(1 + seq % 4, 'done', 'failed', 'waiting', 'compensated'), 1, '0123456789abcdef'
     FROM seq_1_to_${Math.ceil(ROWS / 10)}`,
  );
  await store.pool.query(`ANALYZE TABLE ${hist}, ${inst}`);
  console.log(`made ${ROWS} history rows and ${Math.ceil(ROWS / 10)} instances in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const floorSql = `SELECT step, direction, COUNT(*), AVG(TIMESTAMPDIFF(MICROSECOND, started_at, finished_at)) FROM ${hist} GROUP BY step, direction`;
  const day = { from: new Date('2026-10-10T00:00:00Z'), to: new Date('2026-10-11T00:00:00Z') };
  const runs = { stats: [] as number[], floor: [] as number[], day: [] as number[] };
  for (let r = 0; r < ROUNDS; r++) {
    runs.floor.push(await timed(() => store.pool.query(floorSql)));
    runs.stats.push(await timed(() => store.stats('stat')));
    runs.day.push(await timed(() => store.stats('stat', day)));
    console.log(`round ${r + 1}: stats ${runs.stats.at(-1)!.toFixed(0)} ms, one day ${runs.day.at(-1)!.toFixed(0)} ms, floor ${runs.floor.at(-1)!.toFixed(0)} ms`);
  }
  const s = await store.stats('stat');
  console.log(`total ${s.total}, steps ${s.steps.map((x) => `${x.step}/${x.direction} ${x.count} p95 ${x.p95Ms.toFixed(0)} ms`).join(', ')}`);
  console.log(
    JSON.stringify({
      bench: 'stats',
      metric: 'stats_ms',
      value: Math.round(median(runs.stats)),
      baseline: `one GROUP BY step of count and average over the same ${ROWS} history rows`,
      baselineValue: Math.round(median(runs.floor)),
      ratio: Number((median(runs.floor) / median(runs.stats)).toFixed(3)),
      unit: 'ms',
      oneDayMs: Math.round(median(runs.day)),
      historyRows: ROWS,
    }),
  );
} finally {
  await store.pool.query(`DROP TABLE IF EXISTS ${['stat', 'stat_history', 'global_lock', 'local_lock', 'outbox', 'migrations'].map((t) => `\`${prefix}${t}\``).join(', ')}`);
  await store.close();
}
