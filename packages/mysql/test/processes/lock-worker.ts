/**
 * A process of the cross-process lock tests, on its own MysqlStore locker. Prints JSON lines.
 * - `hold`: on each `acquire` line from stdin takes the key and prints `held` once its lease is
 *   announced; on each `release` line ends it and prints `released` with the time it did.
 * - `race`: `cycles` times takes the key (waiting), checks nobody else is inside with a probe
 *   row, ends the lease by a fenced commit as a drive's last does; prints `done`.
 */
import { createInterface } from 'node:readline';
import type { RowDataPacket } from 'mysql2/promise';
import type { Lease } from '@fsmkit/runtime';
import { createMysqlStore } from '../../src/index.js';
import { instanceRecord, nextRecord } from '../support/records.js';
import { announcementName, RACE_MACHINE, type LockWorkerConfig } from './lock-config.js';

const config = JSON.parse(process.argv[2]!) as LockWorkerConfig;
const print = (line: Record<string, unknown>) => console.log(JSON.stringify({ ...line, pid: process.pid }));
const store = createMysqlStore({ url: config.url, tablePrefix: config.prefix, poolSize: 4 });
const locker = store.locker({ pollMs: config.pollMs, maxPollMs: config.pollMs });
const acquireOptions = { instanceId: `p${process.pid}`, leaseMs: config.leaseMs, mode: 'wait' as const, timeoutMs: 60_000 };

async function announced(): Promise<void> {
  const name = announcementName(config.url, config.prefix, config.key);
  for (;;) {
    const [rows] = await store.pool.query<RowDataPacket[]>('SELECT IS_USED_LOCK(?) AS holder', [name]);
    if (rows[0]!['holder'] !== null) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function hold(): Promise<void> {
  let lease: Lease | null = null;
  print({ event: 'ready' });
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'acquire') {
      lease = await locker.acquire(config.key, `holder:${process.pid}`, acquireOptions);
      await announced();
      print({ event: 'held', token: lease!.token });
    } else if (line === 'release') {
      await locker.release(lease!);
      print({ event: 'released', at: performance.timeOrigin + performance.now() });
    } else if (line === 'exit') {
      break;
    }
  }
}

async function race(): Promise<void> {
  const probe = config.probe!;
  let record = instanceRecord(RACE_MACHINE, { userId: config.key });
  await store.insert(record, []);
  let overlaps = 0;
  const tokens: number[] = [];
  print({ event: 'ready' });
  // Both racers start together, on the test's word.
  for await (const line of createInterface({ input: process.stdin })) if (line === 'go') break;
  for (let i = 0; i < config.cycles!; i++) {
    const lease = (await locker.acquire(config.key, `racer:${process.pid}`, acquireOptions))!;
    tokens.push(lease.token);
    await store.pool.query(`UPDATE \`${probe}\` SET inside = inside + 1 WHERE id = 1`);
    const [rows] = await store.pool.query<RowDataPacket[]>(`SELECT inside FROM \`${probe}\` WHERE id = 1`);
    if (Number(rows[0]!['inside']) !== 1) overlaps++;
    await store.pool.query(`UPDATE \`${probe}\` SET inside = inside - 1 WHERE id = 1`);
    // Ends the lease by release, or every other time inside a fenced commit, as a drive's last does.
    if (i % 2 === 0) await locker.release(lease);
    else {
      const next = nextRecord(record);
      await store.commit({ record: next, expectedVersion: record.version, history: [], events: [], fence: [{ key: config.key, token: lease.token }], releaseLocks: true });
      record = next;
    }
  }
  print({ event: 'done', overlaps, tokens });
}

try {
  await (config.mode === 'hold' ? hold() : race());
} finally {
  await store.close();
  // An open stdin would keep the process alive.
  process.stdin.destroy();
}
