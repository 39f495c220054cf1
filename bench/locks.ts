/**
 * locks: lock, step and unlock cycles per second at concurrency 32, each of the 32 loops on its
 * own user (a lock key of its own) and its own instance.
 * - ours: what a runner does for a one-step drive: MysqlLocker.acquire (wait mode), then
 *   MysqlStore.commit of the step (instance row with ~1 KB of state, one history row) fenced by
 *   the lease's token and ending the lease in the same transaction (`releaseLocks`);
 * - baseline: SELECT GET_LOCK on a connection held for the cycle, the same MysqlStore.commit
 *   (without a fence: GET_LOCK has no token to check), SELECT RELEASE_LOCK.
 * - silent: ours with a locker that announces nothing and never blocks on an announcement
 *   (`announceSessions: 0, waitSessions: 0`): the code path before announcements, whose ratio
 *   tells what announcing leases costs.
 * All run in the same process against the same server, in alternating rounds; the ratio is the
 * median of the per-round ratios, which shared, noisy machines disturb least. Then the contended
 * case: the same 32 loops all on one user, for ours and for GET_LOCK. Then the wake latency: a
 * holder and a waiter on lockers of two stores (their own pools and sessions, as two processes
 * have), the waiter polling once a minute, so that only the release's announcement wakes it:
 * from the holder's release to the waiter's acquire, median and 99th percentile of WAKE_ROUNDS
 * (default 50), each after a step of 200 ms.
 * With each side's cycles: the CPU they cost, in this process and in the server threads of its
 * connections (see support/own-threads.ts), which other jobs on a shared machine disturb less.
 * Last line: the JSON result (DESIGN.md section 10).
 */
import { randomBytes } from 'node:crypto';
import type { InstanceRecord, Lease } from '@fsmkit/runtime';
import { createMysqlStore, createPool } from '@fsmkit/mysql';
import type { RowDataPacket } from 'mysql2/promise';
import { ownCpu } from './support/own-threads.js';
import { benchHistory, benchRecord } from './support/records.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 1);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const CONCURRENCY = 32;
const prefix = `b${randomBytes(4).toString('hex')}_`;
const state = JSON.stringify({ json: { orderId: 'o-1', items: Array.from({ length: 20 }, (_, i) => ({ sku: `sku-${i}`, qty: i })), note: 'x'.repeat(200) } });
const owner = `bench:${process.pid}`;

const store = createMysqlStore({ tablePrefix: prefix, poolSize: CONCURRENCY });
await store.ensureSchema([{ name: 'ours' }, { name: 'raw' }]);
const locker = process.env.BENCH_ANNOUNCE_EVERY_MS ? store.locker({ announceEveryMs: Number(process.env.BENCH_ANNOUNCE_EVERY_MS) }) : store.locker();
const silentLocker = store.locker({ announceSessions: 0, waitSessions: 0 });
const WAKE_ROUNDS = Number(process.env.BENCH_WAKE_ROUNDS ?? 50);
// GET_LOCK belongs to a session: each cycle holds one of these connections from lock to unlock.
const lockPool = createPool({ poolSize: CONCURRENCY });



/**
 * One step of `r` committed. With a lease, as the runtime's last commit of a drive does: fenced
 * by the token, and ending the lease in the same transaction; true when it did.
 */
async function step(r: InstanceRecord, lease?: Lease): Promise<boolean> {
  const seq = r.historySeq + 1;
  const next: InstanceRecord = { ...r, version: r.version + 1, historySeq: seq, currentState: `s${seq + 1}`, updatedAt: new Date() };
  const fenced = lease ? { fence: [{ key: lease.key, token: lease.token }], releaseLocks: true } : {};
  const result = await store.commit({ record: next, expectedVersion: r.version, history: [benchHistory(r, seq, '{"json":{"n":1}}', '{"json":{"n":2}}')], events: [], ...fenced });
  Object.assign(r, next);
  return result.locksReleased === true;
}

async function ours(r: InstanceRecord, by = locker): Promise<void> {
  const lease = await by.acquire(`user:${r.userId}`, owner, { instanceId: r.id, machine: r.machine, leaseMs: 30_000, mode: 'wait', timeoutMs: 60_000 });
  let released = false;
  try {
    released = await step(r, lease!);
  } finally {
    if (!released) await by.release(lease!);
  }
}

const silent = (r: InstanceRecord) => ours(r, silentLocker);

async function raw(r: InstanceRecord): Promise<void> {
  const name = `${prefix}user:${r.userId}`;
  const conn = await lockPool.getConnection();
  try {
    const [rows] = await conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, 60) AS ok', [name]);
    if (rows[0]?.['ok'] !== 1) throw new Error(`GET_LOCK(${name}) timed out`);
    try {
      await step(r);
    } finally {
      await conn.query('SELECT RELEASE_LOCK(?)', [name]);
    }
  } finally {
    conn.release();
  }
}

/** CPU microseconds spent by a side, summed over its measured rounds, to divide by its cycles. */
interface CpuAccount {
  cycles: number;
  client: number;
  server: number;
}

/**
 * Runs CONCURRENCY loops of `cycle` for SECONDS, each on its own instance; returns cycles per
 * second. With `account`, adds the cycles and the CPU they cost.
 */
async function measure(cycle: (r: InstanceRecord) => Promise<void>, machine: string, contended: boolean, account?: CpuAccount): Promise<number> {
  const records = Array.from({ length: CONCURRENCY }, (_, i) => benchRecord(machine, state, { userId: contended ? 'hot' : `u${i}`, isLocalLock: true }));
  for (const r of records) await store.insert(r, []);
  const cpu = account === undefined ? undefined : await ownCpu(store.pool);
  let cycles = 0;
  const t0 = performance.now();
  const deadline = t0 + SECONDS * 1000;
  await Promise.all(
    records.map(async (r) => {
      while (performance.now() < deadline) {
        await cycle(r);
        cycles++;
      }
    }),
  );
  const rate = cycles / ((performance.now() - t0) / 1000);
  if (account !== undefined) {
    const spent = await cpu!.stop();
    account.cycles += cycles;
    account.client += spent.client;
    account.server += spent.server;
  }
  return rate;
}

const cpuAccount = (): CpuAccount => ({ cycles: 0, client: 0, server: 0 });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (xs: number[]) => xs.map((v) => v.toFixed(0)).join(', ');

async function alternate(contended: boolean, rounds: number) {
  await measure(ours, 'ours', contended); // warm-up: connections, prepared statements
  await measure(silent, 'ours', contended);
  await measure(raw, 'raw', contended);
  const sides = { ours: [] as number[], silent: [] as number[], raw: [] as number[] };
  const ratios: number[] = [];
  const silentRatios: number[] = [];
  const cycles = { ours, silent, raw };
  const cpu = { ours: cpuAccount(), silent: cpuAccount(), raw: cpuAccount() };
  for (let round = 0; round < rounds; round++) {
    // Rotate who goes first so that machine noise hits every side alike.
    const order = (['raw', 'ours', 'silent'] as const).map((_, i, all) => all[(i + round) % 3]!);
    const got: Record<string, number> = {};
    for (const side of order) got[side] = await measure(cycles[side], side === 'raw' ? 'raw' : 'ours', contended, cpu[side]);
    for (const side of order) sides[side].push(got[side]!);
    ratios.push(got['ours']! / got['raw']!);
    silentRatios.push(got['silent']! / got['raw']!);
  }
  console.log(
    `${contended ? 'contended (one user)' : 'distinct users'}, concurrency ${CONCURRENCY}: ours ${fmt(sides.ours)} cycles/s; silent ${fmt(sides.silent)}; GET_LOCK ${fmt(sides.raw)} cycles/s; median ratio ${median(ratios).toFixed(3)} (silent ${median(silentRatios).toFixed(3)})`,
  );
  const perCycle = (side: keyof typeof cpu) => ({ client: Math.round(cpu[side].client / cpu[side].cycles), server: Math.round(cpu[side].server / cpu[side].cycles) });
  const usPerCycle = { ours: perCycle('ours'), silent: perCycle('silent'), raw: perCycle('raw') };
  console.log(
    `  CPU per cycle (this process + the server threads of its connections): ${(['ours', 'silent', 'raw'] as const).map((s) => `${s === 'raw' ? 'GET_LOCK' : s} ${usPerCycle[s].client} + ${usPerCycle[s].server} µs`).join('; ')}`,
  );
  return { ours: median(sides.ours), raw: median(sides.raw), ratio: median(ratios), silentRatio: median(silentRatios), usPerCycle };
}

/** Milliseconds from a release to the acquire of a waiter on another store's locker, WAKE_ROUNDS times. */
async function wakeLatency(): Promise<number[]> {
  const other = createMysqlStore({ tablePrefix: prefix, poolSize: 2 });
  const waiter = other.locker({ pollMs: 60_000, maxPollMs: 60_000 });
  const options = { instanceId: 'wake', leaseMs: 30_000, mode: 'wait' as const, timeoutMs: 60_000 };
  const latencies: number[] = [];
  try {
    for (let round = 0; round < WAKE_ROUNDS; round++) {
      const held = (await locker.acquire('user:wake', owner, options))!;
      // A step of 200 ms: the lease is announced by then (a waiter that found it not yet
      // announced would poll, here once a minute, and show as the maximum).
      await new Promise((r) => setTimeout(r, 200));
      const acquiring = waiter.acquire('user:wake', 'waiter', options);
      await new Promise((r) => setTimeout(r, 20));
      await locker.release(held);
      const releasedAt = performance.now();
      const lease = (await acquiring)!;
      latencies.push(performance.now() - releasedAt);
      await waiter.release(lease);
    }
  } finally {
    await other.close();
  }
  return latencies.sort((a, b) => a - b);
}

let distinct: Awaited<ReturnType<typeof alternate>>;
let contended: Awaited<ReturnType<typeof alternate>>;
let wake: number[];
try {
  distinct = await alternate(false, ROUNDS);
  contended = await alternate(true, Math.max(2, Math.floor(ROUNDS / 2)));
  wake = await wakeLatency();
  const pct = (p: number) => wake[Math.min(wake.length - 1, Math.floor(wake.length * p))]!.toFixed(1);
  console.log(`wake latency across lockers (release to acquire), ${wake.length} rounds: median ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${pct(1)} ms`);
  const [left] = await store.pool.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${prefix}local_lock\``);
  console.log(`lock rows left after the runs: ${left[0]!['n']}`);
} finally {
  await store.pool.query(
    `DROP TABLE IF EXISTS ${['ours', 'ours_history', 'raw', 'raw_history', 'global_lock', 'local_lock', 'outbox', 'migrations'].map((t) => `\`${prefix}${t}\``).join(', ')}`,
  );
  await store.close();
  await lockPool.end();
}

console.log(
  JSON.stringify({
    bench: 'locks',
    metric: 'cycles_per_s',
    value: Math.round(distinct.ours),
    baseline: 'GET_LOCK/RELEASE_LOCK + same transaction',
    baselineValue: Math.round(distinct.raw),
    ratio: Number(distinct.ratio.toFixed(3)),
    unit: 'cycles/s',
    contendedCyclesPerS: Math.round(contended.ours),
    contendedBaselineCyclesPerS: Math.round(contended.raw),
    silentRatio: Number(distinct.silentRatio.toFixed(3)),
    cpuPerCycleUs: distinct.usPerCycle,
    wakeMedianMs: Number(wake[Math.floor(wake.length / 2)]!.toFixed(1)),
    wakeP99Ms: Number(wake[Math.min(wake.length - 1, Math.floor(wake.length * 0.99))]!.toFixed(1)),
  }),
);
