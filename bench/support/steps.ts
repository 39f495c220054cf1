/**
 * The `mysql-steps` workload, shared by the benches that run it (mysql-steps, peer-dbos): instances
 * of 10 steps with ~1 KB of plain JSON data that every step changes, history kept; the fsmkit
 * machine that runs it; the raw mysql2 writes it amounts to; and the timed, concurrent loop that
 * measures a side, with the CPU it cost in Node and in the database server.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { buildModel, type MachineDefinition, type StepContext } from '@fsmkit/runtime';
import type { Pool } from 'mysql2/promise';
import { benchHistory, benchRecord } from './records.js';

export const STEPS = 10;

/** ~1 KB of plain JSON data, the same for every side. */
export const initialData = () => ({
  orderId: 'o-1',
  customer: { id: 'c-42', email: 'someone@example.com', tier: 'gold' },
  items: Array.from({ length: 16 }, (_, i) => ({ sku: `sku-${String(i).padStart(4, '0')}`, qty: i + 1, priceCents: 1999 })),
  note: 'x'.repeat(260),
});
export type BenchData = ReturnType<typeof initialData> & { step?: number };

/** The stored data after step `n` (0: as created): each step changes it, so every commit rewrites it. */
export const states = Array.from({ length: STEPS + 1 }, (_, n) => `{"json":${JSON.stringify({ ...initialData(), step: n })}}`);

export const stepNames = Array.from({ length: STEPS }, (_, i) => `s${i + 1}`);

/** The 10-step machine named `machine`, whose every handler changes the data. */
export function stepsDefinition(machine: string): MachineDefinition<BenchData> {
  return {
    model: buildModel({ className: 'Bench', options: { name: machine }, steps: stepNames.map((method, i) => ({ order: i + 1, method })) }),
    create: () => Object.fromEntries(stepNames.map((n, i) => [n, (ctx: StepContext<BenchData>) => void (ctx.data.step = i + 1)])),
  };
}

/**
 * The raw writes of one instance through mysql2 on `table` and `${table}_history` (tables made by
 * MysqlStore.ensureSchema): INSERT the instance row, then per step BEGIN; UPDATE the instance row
 * (state, ~1 KB data, time, counters); INSERT one history row (the same sizes); COMMIT, with
 * prepared statements. Returns the steps it persisted.
 */
export function rawMysqlInstance(pool: Pool, table: string): () => Promise<number> {
  const create = `INSERT INTO \`${table}\` (id, name, user_id, current_state, serialized_state, created_at, updated_at, status, version, definition_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
  const update = `UPDATE \`${table}\` SET current_state = ?, serialized_state = ?, updated_at = ?, history_seq = ?, version = version + 1 WHERE id = ? AND version = ?`;
  const insert = `INSERT INTO \`${table}_history\` (id, instance_id, seq, handler, step, direction, state_before, state_after, data_before, data_after, metadata, error, attempt, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
  return async () => {
    const r = benchRecord('raw', states[0]!);
    await pool.execute(create, [r.id, r.machine, r.userId, r.currentState, r.serializedState, r.createdAt, r.updatedAt, 'ready', 1, r.definitionHash]);
    for (let seq = 1; seq <= STEPS; seq++) {
      const h = benchHistory(r, seq, states[seq - 1]!, states[seq]!);
      const conn = await pool.getConnection();
      try {
        await conn.query('START TRANSACTION');
        await conn.execute(update, [`s${seq + 1}`, states[seq]!, new Date(), seq, r.id, r.version]);
        await conn.execute(insert, [h.id, h.instanceId, h.seq, h.handler, h.step, h.direction, h.stateBefore, h.stateAfter, h.dataBefore, h.dataAfter, '{}', null, 1, h.startedAt, h.finishedAt]);
        await conn.query('COMMIT');
      } finally {
        conn.release();
      }
      r.historySeq = seq;
      r.version += 1;
    }
    return STEPS;
  };
}

/** The pids of local processes named one of `names` (a server's processes), none when there is no /proc. */
function pidsOf(names: string[]): string[] {
  try {
    return readdirSync('/proc').filter((pid) => {
      if (!/^\d+$/.test(pid)) return false;
      try {
        return names.includes(readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
      } catch {
        return false; // ended while we looked
      }
    });
  } catch {
    return []; // no /proc: not Linux
  }
}

/**
 * CPU time in microseconds (user + system) of the local database server's processes named one of
 * `names`, or NaN when there are none: it shows where a side's cost goes (the client or the
 * server), which steps per second alone does not tell. Summed over every matching process, found
 * again at each call, because PostgreSQL runs one process per connection (and counts those that
 * ended, through their parent).
 */
export function serverCpu(names: string[]): number {
  const pids = pidsOf(names);
  if (pids.length === 0) return NaN;
  let ticks = 0;
  for (const pid of pids) {
    try {
      // Fields after the command's closing parenthesis, in clock ticks (100 Hz): utime and stime are the 12th and
      // 13th; cutime and cstime (14th, 15th) hold the children that ended, such as PostgreSQL's closed connections.
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    } catch {
      // ended between the listing and the read
    }
  }
  return ticks * 10_000;
}

export const MARIADB = ['mariadbd', 'mysqld'];
export const POSTGRES = ['postgres'];

/** CPU spent by a side, summed over its measured rounds, to divide by its steps. */
export interface CpuAccount {
  steps: number;
  client: number;
  server: number;
  /** The server threads serving the side's own connections only (see `poolThreads`); NaN when unknown. */
  own: number;
}
export const cpuAccount = (): CpuAccount => ({ steps: 0, client: 0, server: 0, own: 0 });

/**
 * CPU time in microseconds (user + system) of each local MariaDB thread serving one of `pool`'s
 * open connections, by thread: unlike `serverCpu`, other clients of a shared server do not count.
 * Empty when the server is not local or does not say which thread serves a connection
 * (`information_schema.PROCESSLIST.TID`, MariaDB). Reads mysql2's list of a pool's connections,
 * which it does not export.
 */
export async function poolThreads(pool: Pool, admin: Pool): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  const server = pidsOf(MARIADB)[0];
  const all = (pool as unknown as { pool?: { _allConnections?: { toArray(): Array<{ threadId: number | null }> } } }).pool?._allConnections;
  const ids = all?.toArray().map((c) => c.threadId).filter((id): id is number => typeof id === 'number') ?? [];
  if (server === undefined || ids.length === 0) return out;
  let rows: Array<{ tid: number | null }>;
  try {
    [rows] = (await admin.query(`SELECT TID AS tid FROM information_schema.PROCESSLIST WHERE ID IN (${ids.join(', ')})`)) as unknown as [Array<{ tid: number | null }>];
  } catch {
    return out; // not MariaDB
  }
  for (const { tid } of rows) {
    if (tid === null) continue;
    try {
      const fields = readFileSync(`/proc/${server}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      out.set(tid, (Number(fields[11]) + Number(fields[12])) * 10_000);
    } catch {
      // the connection ended meanwhile
    }
  }
  return out;
}

/**
 * Runs `workers` loops of `instance` (which returns the steps it persisted) for `seconds`, each
 * finishing the instance it is in; returns steps per second. With `account`, adds the steps and
 * the CPU they cost, in this process and in the server processes named `server`.
 */
export async function measure(
  workers: number,
  seconds: number,
  instance: () => Promise<number>,
  account?: { cpu: CpuAccount; server: string[]; threads?: () => Promise<Map<number, number>> },
): Promise<number> {
  const threads0 = account?.threads === undefined ? undefined : await account.threads();
  const client0 = process.cpuUsage();
  const server0 = account === undefined ? NaN : serverCpu(account.server);
  let steps = 0;
  const deadline = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < deadline) {
        const done = await instance(); // not `steps += await ...`, which would add to a stale total
        steps += done;
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  if (account !== undefined) {
    const client = process.cpuUsage(client0);
    account.cpu.steps += steps;
    account.cpu.client += client.user + client.system;
    account.cpu.server += serverCpu(account.server) - server0;
    if (threads0 === undefined || threads0.size === 0) account.cpu.own = NaN;
    else {
      // Threads that served a connection all along: one opened meanwhile may be a reused thread with another's CPU.
      for (const [tid, cpu] of await account.threads!()) if (threads0.has(tid)) account.cpu.own += cpu - threads0.get(tid)!;
    }
  }
  return steps / elapsed;
}
