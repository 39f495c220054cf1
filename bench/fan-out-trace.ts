/**
 * fan-out-trace: where a `fan-out` map round's time goes. The same parent and child machines
 * as `fan-out`, map side only, with the store's calls timed: the parent's spawn commit, the
 * children's first claim, each chain's end, the parent's wakes (claims, join reads, commits),
 * the last child's end and the parent's final commit; plus group-commit counts, commits that
 * took the full path, time the group-commit lanes were busy, client CPU per child, and the
 * server's deadlock, row-lock-wait and statement counters per round. It wraps private methods
 * of the store (a diagnostic, not a bench). `BENCH_ITEMS`, `BENCH_ROUNDS` (default 3),
 * `BENCH_POLL_MS`, `BENCH_GROUP_LANES` as `fan-out`; `BENCH_DIRECT=1` runs a round of direct
 * starts after each map round; `TRACE_DEADLOCK=1` prints the server's last deadlock.
 */
import { createRunner, type Commit } from '@fsmkit/runtime';
import { child, CONCURRENCY, fanOutStore, ITEMS, parent, POLL_MS } from './support/fan-out.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const { store, dropTables } = await fanOutStore();

// ---- instrumentation: every store call of interest, timed from the round's start ----
let t0 = 0;
const now = () => performance.now() - t0;
type Mark = { at: number; what: string; ms?: number; n?: number };
let marks: Mark[] = [];
let kidEnds: Array<{ at: number; index: number }> = [];
let fullPath = 0;
const raw = store as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
const wrap = (name: string, on: (args: unknown[], result: unknown, started: number) => void) => {
  const original = raw[name]!.bind(store);
  raw[name] = async (...args: unknown[]) => {
    const started = now();
    const result = await original(...args);
    on(args, result, started);
    return result;
  };
};
wrap('commit', (args, _result, started) => {
  const c = args[0] as Commit;
  const ms = now() - started;
  if (c.record.machine === 'fan') {
    const what = c.spawn ? 'parent commit (spawn, wait)' : c.record.status === 'done' ? 'parent commit (done)' : `parent commit (${c.record.status}, join check)`;
    marks.push({ at: now(), what, ms });
  } else if (c.record.status === 'done') {
    kidEnds.push({ at: now(), index: parseInt(c.record.id.replace(/-/g, '').slice(26), 16) });
  }
});
wrap('spawn', (_args, _result, started) => marks.push({ at: now(), what: '  spawn INSERTs', ms: now() - started }));
wrap('countEnded', (_args, _result, started) => marks.push({ at: now(), what: '  countEnded', ms: now() - started }));
wrap('claim', (args, result, started) => {
  const ids = result as string[];
  if (ids.length > 0) marks.push({ at: now(), what: `claim ${String(args[0])}`, ms: now() - started, n: ids.length });
});
wrap('children', (_args, result, started) => marks.push({ at: now(), what: 'join read (children)', ms: now() - started, n: (result as unknown[]).length }));
wrap('list', (_args, result, started) => marks.push({ at: now(), what: 'join results (list)', ms: now() - started, n: (result as unknown[]).length }));
const fullPaths = new Map<string, number>();
wrap('transaction', (args) => {
  fullPath++;
  const op = (args[0] as { operation: string; machine?: string }).operation + ' ' + String((args[0] as { machine?: string }).machine);
  fullPaths.set(op, (fullPaths.get(op) ?? 0) + 1);
});

/** Server counters' growth per item, for the statement-level ones. */
function perItem(a: Record<string, number>, b: Record<string, number>): string {
  return Object.keys(a)
    .filter((k) => !k.startsWith('Innodb_row_lock') && k !== 'Innodb_deadlocks')
    .map((k) => `${k} ${((b[k]! - a[k]!) / ITEMS).toFixed(2)}`)
    .join(', ');
}

/** Time in group-commit transactions, summed over groups (both lanes), since the last reset. */
const lanes = { busyMs: 0, groups: 0, commits: 0 };
{
  const grouper = (store as unknown as { grouper: Record<string, (group: unknown[], ...rest: unknown[]) => Promise<void>> }).grouper;
  const flush = grouper['flush']!.bind(grouper);
  // Every argument passed on: without the packet limit, no commit would go in one packet.
  grouper['flush'] = async (group: unknown[], ...rest: unknown[]) => {
    const t = performance.now();
    await flush(group, ...rest);
    lanes.busyMs += performance.now() - t;
    lanes.groups++;
    lanes.commits += group.length;
  };
}
const laneReport = () => {
  const text = `lanes busy ${lanes.busyMs.toFixed(0)} ms over ${lanes.groups} groups (${(lanes.busyMs / Math.max(1, lanes.groups)).toFixed(1)} ms each, ${(lanes.busyMs / Math.max(1, lanes.commits)).toFixed(2)} ms per commit)`;
  Object.assign(lanes, { busyMs: 0, groups: 0, commits: 0 });
  return text;
};

async function serverCounters(): Promise<Record<string, number>> {
  const [rows] = await store.pool.query("SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_deadlocks', 'Innodb_row_lock_waits', 'Innodb_row_lock_time', 'Questions', 'Com_select', 'Com_update', 'Com_insert', 'Com_set_option', 'Com_commit', 'Com_begin', 'Innodb_rows_read', 'Innodb_rows_updated', 'Innodb_rows_inserted', 'Handler_read_next', 'Handler_read_key')");
  return Object.fromEntries((rows as Array<{ Variable_name: string; Value: string }>).map((r) => [r.Variable_name, Number(r.Value)]));
}

const logger = {
  debug() {},
  info() {},
  warn(message: string, fields?: Record<string, unknown>) {
    marks.push({ at: now(), what: `WARN ${message} ${String((fields?.['error'] as Error | undefined)?.message ?? '')}` });
  },
  error(message: string, fields?: Record<string, unknown>) {
    marks.push({ at: now(), what: `ERROR ${message}: ${String((fields?.['error'] as Error | undefined)?.message ?? '')}` });
  },
};
const kids = createRunner(child, { store, logger });
const fans = createRunner(parent, { store, machines: [kids], logger });
const workers = [kids.work({ concurrency: CONCURRENCY, pollMs: POLL_MS }), fans.work({ concurrency: 1, pollMs: POLL_MS })];
const items = Array.from({ length: ITEMS }, (_, i) => i);

async function round(r: number): Promise<void> {
  marks = [];
  kidEnds = [];
  fullPath = 0;
  fullPaths.clear();
  const before = { ...store.groupCommits };
  laneReport();
  const cpu = process.cpuUsage();
  const server = await serverCounters();
  t0 = performance.now();
  const started = await fans.start({ items });
  marks.push({ at: now(), what: 'start returned' });
  for (;;) {
    const got = await fans.get(started.id);
    if (got.status === 'done') break;
    if (got.status !== 'waiting' && got.status !== 'running') throw new Error(`parent ended ${got.status}`);
    await new Promise((res) => setTimeout(res, 5));
  }
  const total = now();
  const after = store.groupCommits;
  const server2 = await serverCounters();
  kidEnds.sort((a, b) => a.at - b.at);
  // Each chain: the children index % CONCURRENCY; its end is its last child's end.
  const chainEnd = new Map<number, number>();
  for (const k of kidEnds) chainEnd.set(k.index % CONCURRENCY, Math.max(chainEnd.get(k.index % CONCURRENCY) ?? 0, k.at));
  const ends = [...chainEnd.values()].sort((a, b) => a - b);
  const counts = new Map<number, number>();
  for (const k of kidEnds) counts.set(k.index % CONCURRENCY, (counts.get(k.index % CONCURRENCY) ?? 0) + 1);
  console.log(`\nround ${r}: ${total.toFixed(0)} ms, ${(ITEMS / (total / 1000)).toFixed(0)} children/s`);
  const shown = marks.filter((m) => m.what !== 'claim kid' || m.at < (kidEnds[0]?.at ?? 0) + 50);
  for (const m of shown.sort((a, b) => a.at - b.at)) {
    console.log(`  ${m.at.toFixed(1).padStart(8)} ms  ${m.what}${m.n !== undefined ? ` x${m.n}` : ''}${m.ms !== undefined ? ` (took ${m.ms.toFixed(1)} ms)` : ''}`);
  }
  const kidClaims = marks.filter((m) => m.what === 'claim kid');
  console.log(`  kid claims: ${kidClaims.length} (${kidClaims.map((m) => `${m.at.toFixed(0)}:${m.n}`).join(' ')})`);
  console.log(`  first child end ${kidEnds[0]?.at.toFixed(1)} ms, last ${kidEnds.at(-1)?.at.toFixed(1)} ms; children ended ${kidEnds.length}`);
  console.log(`  chain ends (ms): first ${ends[0]?.toFixed(0)}, median ${ends[Math.floor(ends.length / 2)]?.toFixed(0)}, last ${ends.at(-1)?.toFixed(0)}; chain lengths ${Math.min(...counts.values())}-${Math.max(...counts.values())}`);
  const deciles = [0.1, 0.25, 0.5, 0.75, 0.9, 1].map((q) => kidEnds[Math.max(0, Math.ceil(q * kidEnds.length) - 1)]?.at.toFixed(0));
  console.log(`  children ended by time (10/25/50/75/90/100%): ${deciles.join(' / ')} ms`);
  const tx = after.transactions - before.transactions;
  const commits = after.commits - before.commits;
  console.log(`  group commit: ${tx} transactions holding ${commits} commits (${(commits / Math.max(1, tx)).toFixed(1)} each); full-path transactions ${fullPath} (${[...fullPaths].map(([k, v]) => `${k}: ${v}`).join(', ')})`);
  const used = process.cpuUsage(cpu);
  console.log(`  client CPU per child: ${((used.user + used.system) / ITEMS).toFixed(0)} µs`);
  console.log(`  server per child: ${perItem(server, server2)}`);
  console.log(`  ${laneReport()}`);
  console.log(`  server: deadlocks +${server2['Innodb_deadlocks']! - server['Innodb_deadlocks']!}, row lock waits +${server2['Innodb_row_lock_waits']! - server['Innodb_row_lock_waits']!}, row lock time +${server2['Innodb_row_lock_time']! - server['Innodb_row_lock_time']!} ms`);
}

/** As `fan-out`'s baseline: ITEMS single-step instances `start`ed from 32 loops, between map rounds (`BENCH_DIRECT=1`). */
async function direct(): Promise<void> {
  const server = await serverCounters();
  laneReport();
  const cpu = process.cpuUsage();
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < ITEMS) {
        next++;
        await kids.start({ n: next });
      }
    }),
  );
  const server2 = await serverCounters();
  console.log(`\ndirect: ${(ITEMS / ((performance.now() - t) / 1000)).toFixed(0)} instances/s`);
  const used = process.cpuUsage(cpu);
  console.log(`  client CPU per instance: ${((used.user + used.system) / ITEMS).toFixed(0)} µs`);
  console.log(`  server per instance: ${perItem(server, server2)}`);
  console.log(`  ${laneReport()}`);
}

try {
  for (let r = 0; r <= ROUNDS; r++) {
    await round(r);
    if (process.env.BENCH_DIRECT) await direct();
  }
  const [status] = await store.pool.query('SHOW ENGINE INNODB STATUS');
  const text = String((status as Array<{ Status: string }>)[0]?.Status ?? '');
  const at = text.indexOf('LATEST DETECTED DEADLOCK');
  if (process.env.TRACE_DEADLOCK && at >= 0) console.log(text.slice(at, text.indexOf('TRANSACTIONS\n', at)));
} finally {
  await Promise.all(workers.map((w) => w.stop()));
  await dropTables();
  await store.close();
}
