/**
 * locks: lock, step and unlock cycles per second at concurrency 32, each of the 32 loops on its
 * own user (a lock key of its own) and its own instance.
 * - ours: what a runner does for a one-step drive: MysqlLocker.acquire (wait mode), then
 *   MysqlStore.commit of the step (instance row with ~1 KB of state, one history row) fenced by
 *   the lease's token and ending the lease in the same transaction (`releaseLocks`);
 * - baseline: SELECT GET_LOCK on a connection held for the cycle, the same MysqlStore.commit
 *   (without a fence: GET_LOCK has no token to check), SELECT RELEASE_LOCK.
 * Both run in the same process against the same server, in alternating rounds; the ratio is the
 * median of the per-round ratios, which shared, noisy machines disturb least. Then the contended
 * case: the same 32 loops all on one user, for ours and for GET_LOCK.
 * Last line: the JSON result (DESIGN.md section 10).
 */
import { randomBytes } from 'node:crypto';
import type { InstanceRecord, Lease } from '@fsmkit/runtime';
import { createMysqlStore, createPool } from '@fsmkit/mysql';
import type { RowDataPacket } from 'mysql2/promise';
import { benchHistory, benchRecord } from './support/records.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 1);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const CONCURRENCY = 32;
const prefix = `b${randomBytes(4).toString('hex')}_`;
const state = JSON.stringify({ json: { orderId: 'o-1', items: Array.from({ length: 20 }, (_, i) => ({ sku: `sku-${i}`, qty: i })), note: 'x'.repeat(200) } });
const owner = `bench:${process.pid}`;

const store = createMysqlStore({ tablePrefix: prefix, poolSize: CONCURRENCY });
await store.ensureSchema([{ name: 'ours' }, { name: 'raw' }]);
const locker = store.locker();
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

async function ours(r: InstanceRecord): Promise<void> {
  const lease = await locker.acquire(`user:${r.userId}`, owner, { instanceId: r.id, machine: r.machine, leaseMs: 30_000, mode: 'wait', timeoutMs: 60_000 });
  let released = false;
  try {
    released = await step(r, lease!);
  } finally {
    if (!released) await locker.release(lease!);
  }
}

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

/** Runs CONCURRENCY loops of `cycle` for SECONDS, each on its own instance; returns cycles per second. */
async function measure(cycle: (r: InstanceRecord) => Promise<void>, machine: string, contended: boolean): Promise<number> {
  const records = Array.from({ length: CONCURRENCY }, (_, i) => benchRecord(machine, state, { userId: contended ? 'hot' : `u${i}`, isLocalLock: true }));
  for (const r of records) await store.insert(r, []);
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
  return cycles / ((performance.now() - t0) / 1000);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (xs: number[]) => xs.map((v) => v.toFixed(0)).join(', ');

async function alternate(contended: boolean, rounds: number) {
  await measure(ours, 'ours', contended); // warm-up: connections, prepared statements
  await measure(raw, 'raw', contended);
  const oursRuns: number[] = [];
  const rawRuns: number[] = [];
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // Alternate (and swap who goes first) so that machine noise hits both sides alike.
    const rawFirst = round % 2 === 0;
    const a = rawFirst ? await measure(raw, 'raw', contended) : await measure(ours, 'ours', contended);
    const b = rawFirst ? await measure(ours, 'ours', contended) : await measure(raw, 'raw', contended);
    const [r, o] = rawFirst ? [a, b] : [b, a];
    rawRuns.push(r);
    oursRuns.push(o);
    ratios.push(o / r);
  }
  console.log(
    `${contended ? 'contended (one user)' : 'distinct users'}, concurrency ${CONCURRENCY}: ours ${fmt(oursRuns)} cycles/s; GET_LOCK ${fmt(rawRuns)} cycles/s; median ratio ${median(ratios).toFixed(3)}`,
  );
  return { ours: median(oursRuns), raw: median(rawRuns), ratio: median(ratios) };
}

let distinct: { ours: number; raw: number; ratio: number };
let contended: { ours: number; raw: number; ratio: number };
try {
  distinct = await alternate(false, ROUNDS);
  contended = await alternate(true, Math.max(2, Math.floor(ROUNDS / 2)));
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
  }),
);
