/**
 * Waiters and holders in different processes: a release wakes the waiter through the lease's
 * announcement (not by polling), a holder killed frees the lock only when its lease runs out,
 * and two processes racing for one key never hold it at once.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlStore, type MysqlStore } from '../src/index.js';
import { announcementName, RACE_MACHINE, type LockWorkerConfig } from './processes/lock-config.js';
import { dropTablesWithPrefix, MYSQL_URL, mysqlUnavailable, uniquePrefix } from './support/db.js';
import { killTestProcesses, startTestProcess } from './support/process.js';

const unavailable = await mysqlUnavailable();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const preciseNow = () => performance.timeOrigin + performance.now();

type Line = { event: string; pid: number; token?: number; at?: number; overlaps?: number; tokens?: number[] };

afterEach(killTestProcesses);
const startWorker = (config: LockWorkerConfig) => startTestProcess<Line>('lock-worker.ts', config);

describe.skipIf(unavailable !== null)('locks across processes', () => {
  const prefix = uniquePrefix();
  let store: MysqlStore;

  beforeAll(async () => {
    store = createMysqlStore({ tablePrefix: prefix, poolSize: 4 });
    await store.ensureSchema([{ name: RACE_MACHINE }]);
  });
  afterAll(async () => {
    await store?.close();
    await dropTablesWithPrefix(prefix);
  });

  /** Resolves once a session blocks on the announcement of `key` (state "User lock"). */
  async function blockedOn(key: string): Promise<void> {
    const name = announcementName(MYSQL_URL, prefix, key);
    for (;;) {
      const [rows] = await store.pool.query<RowDataPacket[]>(
        "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE STATE = 'User lock' AND INFO LIKE ?",
        [`%${name}%`],
      );
      if (Number(rows[0]!['n']) > 0) return;
      await sleep(5);
    }
  }

  it('a release in another process wakes the waiter, which polls too seldom to have seen it (five times)', async () => {
    const key = 'user:wake';
    const holder = startWorker({ url: MYSQL_URL, prefix, key, mode: 'hold', leaseMs: 60_000, pollMs: 5 });
    // Its first pause would be a minute or more: only the release's announcement can wake it in time.
    const waiter = store.locker({ pollMs: 120_000, maxPollMs: 120_000 });
    const latencies: number[] = [];
    const tokens: number[] = [];
    for (let round = 1; round <= 5; round++) {
      holder.send('acquire');
      const held = await holder.waitFor('held', round);
      const acquiring = waiter.acquire(key, 'waiter', { instanceId: 'w', leaseMs: 60_000, mode: 'wait', timeoutMs: 60_000 });
      await blockedOn(key);
      holder.send('release');
      const lease = (await acquiring)!;
      const acquiredAt = preciseNow();
      const released = await holder.waitFor('released', round);
      latencies.push(acquiredAt - released.at!);
      expect(lease.token).toBeGreaterThan(held.token!);
      tokens.push(held.token!, lease.token);
      await waiter.release(lease);
    }
    holder.send('exit');
    await holder.exited;
    expect([...tokens].sort((a, b) => a - b)).toEqual(tokens);
    // A minute's pause did not pass: each waiter was woken by the release.
    for (const ms of latencies) expect(ms).toBeLessThan(10_000);
    expect([...latencies].sort((a, b) => a - b)[2]).toBeLessThan(100);
  });

  it("a waiter on another store's locker is woken by the release, whatever the key's text", async () => {
    const key = "user:o'brien\\' OR 1=1 -- ü";
    const other = createMysqlStore({ tablePrefix: prefix, poolSize: 2 });
    try {
      const holder = store.locker();
      const waiter = other.locker({ pollMs: 120_000, maxPollMs: 120_000 });
      const held = (await holder.acquire(key, 'holder', { instanceId: 'h', leaseMs: 60_000, mode: 'fail', timeoutMs: 0 }))!;
      const name = announcementName(MYSQL_URL, prefix, key);
      while ((await store.pool.query<RowDataPacket[]>('SELECT IS_USED_LOCK(?) AS h', [name]))[0][0]!['h'] === null) await sleep(5);
      const acquiring = waiter.acquire(key, 'waiter', { instanceId: 'w', leaseMs: 60_000, mode: 'wait', timeoutMs: 60_000 });
      await blockedOn(key);
      await holder.release(held);
      const lease = (await acquiring)!;
      expect(lease.token).toBeGreaterThan(held.token);
      await waiter.release(lease);
    } finally {
      await other.close();
    }
  });

  it('a holder killed takes its announcement with it; the waiter gets the lock once the lease ran out, not before', async () => {
    const key = 'user:killed';
    const holder = startWorker({ url: MYSQL_URL, prefix, key, mode: 'hold', leaseMs: 1500, pollMs: 5 });
    holder.send('acquire');
    const held = await holder.waitFor('held');
    const waiter = store.locker();
    const before = (await waiter.holder(key))!;
    expect(before).toMatchObject({ token: held.token, live: true });
    const acquiring = waiter.acquire(key, 'waiter', { instanceId: 'w', leaseMs: 60_000, mode: 'wait', timeoutMs: 60_000 });
    await blockedOn(key);
    holder.child.kill('SIGKILL');
    await holder.exited;
    const lease = (await acquiring)!;
    const after = (await waiter.holder(key))!;
    expect(lease.token).toBeGreaterThan(held.token!);
    expect(after).toMatchObject({ token: lease.token, owner: 'waiter', live: true });
    // Taken over by the database clock only when the killed holder's lease had ended.
    expect(after.lockedAt.getTime()).toBeGreaterThanOrEqual(before.expiresAt.getTime());
    await waiter.release(lease);
  });

  it.each([1, 2, 3])('two processes racing for one key never hold it at once (run %i)', async (run) => {
    const key = `user:race-${run}`;
    const probe = `${prefix}probe_${run}`;
    await store.pool.query(`CREATE TABLE \`${probe}\` (id INT PRIMARY KEY, inside INT NOT NULL)`);
    await store.pool.query(`INSERT INTO \`${probe}\` VALUES (1, 0)`);
    const config: LockWorkerConfig = { url: MYSQL_URL, prefix, key, mode: 'race', leaseMs: 30_000, pollMs: 5, cycles: 40, probe };
    const racers = [startWorker(config), startWorker(config)];
    await Promise.all(racers.map((r) => r.waitFor('ready')));
    for (const r of racers) r.send('go');
    const done = await Promise.all(racers.map((r) => r.waitFor('done', 1, 120_000)));
    await Promise.all(racers.map((r) => r.exited));
    expect(done.map((d) => d.overlaps)).toEqual([0, 0]);
    const tokens = done.flatMap((d) => d.tokens!);
    expect(new Set(tokens).size).toBe(80);
  });
});
