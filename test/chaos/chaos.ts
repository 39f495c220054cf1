/**
 * The chaos run: worker and relay processes on MariaDB and the real Kafka broker, while
 * processes are SIGKILLed, store connections killed and the broker stopped; then every promise
 * is checked from the database, the probe and a kafkajs consumer.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRunner } from '../../packages/runtime/src/index.js';
import { createMysqlStore, createPool, outboxFailedTable, sharedTables, machineTables } from '../../packages/mysql/src/index.js';
import { BROKERS, broker, brokerIsManaged, createTopics, deleteTopics, readAll } from '../../packages/kafka/test/support/kafka.js';
import { eventCounts, stepCounts } from './verdict.js';
import { alive, expectedTrail, MACHINE, orderMachine, probeDdl, probeTables, type OrderData, type Pool, type RelayConfig, type WorkerConfig } from './machine.js';

export interface ChaosOptions {
  instances: number;
  users: number;
  workers: number;
  relays: number;
  /** Worker concurrency (drives at once per process). */
  concurrency: number;
  stepMs: number;
  /** Instance, lock and claim leases of the workers; a killed worker's instances wait this long. */
  leaseMs: number;
  /** Instances are created over this long, while the chaos runs. */
  createOverMs: number;
  /** How long the chaos lasts at most (it ends earlier once every instance is final and the broker was stopped). */
  chaosMs: number;
  /** A random worker or relay is SIGKILLed (and replaced) this often. */
  processKillEveryMs: number;
  /** A random store connection of a worker or relay is killed this often. */
  connectionKillEveryMs: number;
  /** When the broker is stopped, after the start, and for how long (0: never). */
  brokerStopAtMs: number;
  brokerStopMs: number;
  /** After the chaos, how long everything may take to finish and be sent. */
  settleMs: number;
  url?: string;
  log?: (line: string) => void;
}

export interface ChaosResult {
  instances: number;
  lost: number;
  duplicateSteps: number;
  maxConcurrentPerUser: number;
  eventsMissing: number;
  eventsOutOfOrder: number;
  stuck: number;
  /** Two events of one instance with the same sequence but different ids, or an event no commit wrote. */
  eventsForeign: number;
  details: Record<string, unknown>;
}

export const FULL: ChaosOptions = {
  instances: 500,
  users: 25,
  workers: 4,
  relays: 2,
  concurrency: 8,
  stepMs: 150,
  leaseMs: 3000,
  createOverMs: 30_000,
  chaosMs: 120_000,
  processKillEveryMs: 4000,
  connectionKillEveryMs: 1000,
  brokerStopAtMs: 15_000,
  brokerStopMs: 15_000,
  settleMs: 120_000,
};

/** Nothing left of the run: the counts a passing run must show. */
export function passed(r: ChaosResult): boolean {
  return (
    r.lost === 0 &&
    r.duplicateSteps === 0 &&
    r.maxConcurrentPerUser === 1 &&
    r.eventsMissing === 0 &&
    r.eventsOutOfOrder === 0 &&
    r.stuck === 0 &&
    r.eventsForeign === 0
  );
}

/**
 * What an interrupted run must undo at once: its processes, and the shared broker when it is
 * stopped. Synchronous, for signal handlers (see run.ts).
 */
const undo = new Set<() => void>();
export function abortChaos(): void {
  for (const f of undo) f();
  undo.clear();
}

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
// tsx as a loader in the child's own process (its CLI would run the script in a grandchild, out of reach of SIGKILL).
const tsx = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist', 'loader.mjs')).href;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Line = Record<string, unknown> & { event: string; pid: number };
type Kind = 'worker' | 'relay';

interface Child {
  kind: Kind;
  child: ChildProcess;
  pid: number;
  lines: Line[];
  stderr: string[];
  ready: Promise<void>;
  isReady: boolean;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function spawnChild(kind: Kind, config: WorkerConfig | RelayConfig): Child {
  const child = spawn(process.execPath, ['--conditions=source', '--import', tsx, join(here, `${kind}.ts`), JSON.stringify(config)], {
    cwd: repo,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: Line[] = [];
  const stderr: string[] = [];
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      const line = JSON.parse(text) as Line;
      lines.push(line);
      if (line.event === 'ready') onReady();
    } catch {
      stderr.push(text);
    }
  });
  createInterface({ input: child.stderr! }).on('line', (text) => stderr.length < 200 && stderr.push(text));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const c: Child = { kind, child, pid: child.pid!, lines, stderr, ready, isReady: false, exited };
  void ready.then(() => (c.isReady = true));
  return c;
}

/** Local ports of the process's established TCP connections to the MySQL port. */
function mysqlPorts(pid: number, mysqlPort: number): Set<number> {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]!);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    return new Set();
  }
  const ports = new Set<number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const row of text.split('\n').slice(1)) {
      const f = row.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '01' || !inodes.has(f[9]!)) continue;
      const remotePort = parseInt(f[2]!.split(':')[1]!, 16);
      if (remotePort === mysqlPort) ports.add(parseInt(f[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const o = options;
  const log = o.log ?? ((line: string) => console.error(`${new Date().toISOString().slice(11, 23)} ${line}`));
  const url = o.url ?? (process.env['FSM_MYSQL_URL'] || 'mysql://root@127.0.0.1:3306/test');
  const parsed = new URL(url);
  const database = parsed.pathname.replace(/^\//, '') || 'test';
  const probeUrl = `${parsed.protocol}//${parsed.username}${parsed.password ? `:${parsed.password}` : ''}@${parsed.host}/`;
  const mysqlPort = Number(parsed.port || 3306);
  const prefix = `chaos${randomBytes(3).toString('hex')}_`;
  const topic = `fsmkit-chaos-${randomBytes(4).toString('hex')}`;
  // The chaos clock starts once the first processes are ready.
  let started = Date.now();
  const elapsed = () => Date.now() - started;

  if (o.brokerStopMs > 0 && !(await brokerIsManaged())) {
    throw new Error(
      `the broker at ${BROKERS.join(',')} was not started by scripts/kafka.sh (set FSM_KAFKA_CACHE to its cache folder), so the chaos run cannot stop it`,
    );
  }
  const admin: Pool = createPool({ url, poolSize: 3 });
  const store = createMysqlStore({ url, tablePrefix: prefix, poolSize: 4 });
  const workerConfig: WorkerConfig = { url, probeUrl, database, prefix, topic, stepMs: o.stepMs, concurrency: o.concurrency, leaseMs: o.leaseMs, pollMs: 50 };
  const relayConfig: RelayConfig = { url, prefix, brokers: BROKERS, batchSize: 50, leaseMs: o.leaseMs, pollMs: 50 };
  const children: Child[] = [];
  const everyone: Child[] = [];
  let brokerStopped = false;
  const counts = { processKills: 0, workerKills: 0, relayKills: 0, connectionKills: 0, brokerStops: 0, brokerDownMs: 0 };
  const start = (kind: Kind) => {
    const c = spawnChild(kind, kind === 'worker' ? workerConfig : relayConfig);
    children.push(c);
    everyone.push(c);
    return c;
  };
  const emergency = () => {
    for (const c of everyone) c.child.kill('SIGKILL');
    if (brokerStopped) execFileSync('bash', [join(repo, 'scripts', 'kafka.sh'), 'start'], { stdio: 'inherit', timeout: 180_000 });
  };
  undo.add(emergency);
  const query = async <T = Record<string, unknown>>(sql: string, params: unknown[] = []) => (await admin.query(sql, params))[0] as unknown as T[];
  const t = { instances: machineTables(MACHINE, { tablePrefix: prefix }), shared: sharedTables({ tablePrefix: prefix }), probe: probeTables({ prefix, database }) };

  try {
    await store.ensureSchema([{ name: MACHINE }]);
    for (const ddl of probeDdl({ prefix, database })) await admin.query(ddl);
    await createTopics([topic], 4);
    for (let i = 0; i < o.workers; i++) start('worker');
    for (let i = 0; i < o.relays; i++) start('relay');
    await Promise.all(children.map((c) => Promise.race([c.ready, c.exited.then(() => Promise.reject(new Error(`${c.kind} ${c.pid} exited before it was ready:\n${c.stderr.join('\n')}`)))])));
    started = Date.now();
    log(`chaos: ${o.instances} instances over ${o.users} users, ${o.workers} workers, ${o.relays} relays; tables ${prefix}*, topic ${topic}`);

    // The test's own runner only creates instances (their instance.created events go through the outbox too).
    const creator = createRunner(orderMachine({ prefix, database, stepMs: o.stepMs }), { store, topic });
    const ids: string[] = [];
    const creating = (async () => {
      for (let n = 0; n < o.instances; n++) {
        const data: OrderData = { n, reviews: 0, trail: [] };
        ids.push((await creator.create(data, { userId: `user-${n % o.users}` })).id);
        const due = (o.createOverMs * (n + 1)) / o.instances;
        if (elapsed() < due) await sleep(due - elapsed());
      }
    })();

    const finalCount = async () => {
      const [row] = await query<{ n: number }>(`SELECT COUNT(*) AS n FROM \`${t.instances.instances}\` WHERE status IN ('done', 'failed', 'compensated')`);
      return Number(row!.n);
    };
    let chaosOver = false;
    const chaosEnd = started + o.chaosMs;
    const brokerDone = o.brokerStopMs === 0 ? Promise.resolve() : (async () => {
      await sleep(Math.max(0, o.brokerStopAtMs - elapsed()));
      if (chaosOver) return;
      log(`chaos: stopping the broker for ${o.brokerStopMs} ms at ${elapsed()} ms`);
      const stoppedAt = Date.now();
      brokerStopped = true;
      counts.brokerStops++;
      try {
        await broker('stop');
        await sleep(Math.max(0, o.brokerStopMs - (Date.now() - stoppedAt)));
      } finally {
        await broker('start');
        brokerStopped = false;
        counts.brokerDownMs = Date.now() - stoppedAt;
        log(`chaos: broker back after ${counts.brokerDownMs} ms`);
      }
    })();
    const killProcesses = (async () => {
      while (!chaosOver) {
        await sleep(o.processKillEveryMs * (0.5 + Math.random()));
        if (chaosOver) break;
        // Among the processes that are up (a replacement takes seconds to start on a loaded machine).
        const up = children.filter((c) => c.isReady);
        const victim = up[Math.floor(Math.random() * up.length)];
        if (!victim) continue;
        victim.child.kill('SIGKILL');
        await victim.exited;
        children.splice(children.indexOf(victim), 1);
        counts.processKills++;
        counts[victim.kind === 'worker' ? 'workerKills' : 'relayKills']++;
        start(victim.kind);
      }
    })();
    const killConnections = (async () => {
      while (!chaosOver) {
        await sleep(o.connectionKillEveryMs * (0.5 + Math.random()));
        if (chaosOver) break;
        const victim = children[Math.floor(Math.random() * children.length)]!;
        const ports = mysqlPorts(victim.pid, mysqlPort);
        if (ports.size === 0) continue;
        // Only the store's connections (default database set); the probe's have none and stay.
        const rows = await query<{ id: number; host: string }>(
          'SELECT ID AS id, HOST AS host FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()',
          [database],
        );
        const theirs = rows.filter((r) => ports.has(Number(String(r.host).split(':').pop())));
        const target = theirs[Math.floor(Math.random() * theirs.length)];
        if (!target) continue;
        try {
          await admin.query(`KILL CONNECTION ${Number(target.id)}`);
          counts.connectionKills++;
        } catch {
          // gone meanwhile
        }
      }
    })();

    await creating;
    log(`chaos: ${ids.length} instances created at ${elapsed()} ms`);
    // The chaos lasts until its time is up, or until everything is final and the broker was stopped.
    for (;;) {
      await sleep(500);
      if (Date.now() >= chaosEnd) break;
      if (!brokerStopped && counts.brokerStops >= (o.brokerStopMs > 0 ? 1 : 0) && (await finalCount()) === o.instances) break;
    }
    chaosOver = true;
    await Promise.all([killProcesses, killConnections, brokerDone]);
    const chaosMs = elapsed();
    log(`chaos: chaos over at ${chaosMs} ms (${counts.processKills} processes and ${counts.connectionKills} connections killed); settling`);

    // Settle: every instance final and every event sent, within a bound.
    const settleEnd = Date.now() + o.settleMs;
    const unsentCount = async () => Number((await query<{ n: number }>(`SELECT COUNT(*) AS n FROM \`${t.shared.outbox}\` WHERE sent_at IS NULL`))[0]!.n);
    while (Date.now() < settleEnd) {
      if ((await finalCount()) === o.instances && (await unsentCount()) === 0) break;
      await sleep(500);
    }
    const settledMs = elapsed();
    await Promise.all(
      children.map(async (c) => {
        c.child.kill('SIGTERM');
        const exit = await Promise.race([c.exited, sleep(30_000).then(() => null)]);
        if (exit === null) c.child.kill('SIGKILL');
      }),
    );
    const unclean = (await Promise.all(children.map(async (c) => ({ c, exit: await c.exited })))).filter(({ exit }) => exit.code !== 0);
    log(`chaos: settled at ${settledMs} ms; processes stopped`);
    return await check({ o, ids, query, t, topic, counts, everyone, unclean: unclean.length, chaosMs, settledMs, prefix });
  } finally {
    undo.delete(emergency);
    for (const c of everyone) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    if (brokerStopped) await broker('start').catch((e: unknown) => log(`chaos: starting the broker again failed: ${String(e)}`));
    await store.close().catch(() => undefined);
    if (process.env['FSM_CHAOS_KEEP'] !== '1') {
      const tables = (await query<{ name: string }>(
        'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND LEFT(TABLE_NAME, ?) = ?',
        [database, prefix.length, prefix],
      ).catch(() => [])) as Array<{ name: string }>;
      if (tables.length > 0) await admin.query(`DROP TABLE IF EXISTS ${tables.map((r) => `\`${database}\`.\`${r.name}\``).join(', ')}`);
      await deleteTopics([topic]).catch(() => undefined);
    } else {
      log(`chaos: kept tables ${prefix}* and topic ${topic}`);
    }
    await admin.end();
  }
}

interface CheckInput {
  o: ChaosOptions;
  ids: string[];
  query: <T = Record<string, unknown>>(sql: string, params?: unknown[]) => Promise<T[]>;
  t: { instances: ReturnType<typeof machineTables>; shared: ReturnType<typeof sharedTables>; probe: ReturnType<typeof probeTables> };
  topic: string;
  counts: Record<string, number>;
  everyone: Child[];
  unclean: number;
  chaosMs: number;
  settledMs: number;
  prefix: string;
}

async function check(input: CheckInput): Promise<ChaosResult> {
  const { o, ids, query, t, topic } = input;
  const index = new Map(ids.map((id, n) => [id, n]));

  // Instances: each ended done, with the data trail its branch and loop call for.
  const instances = await query<{ id: string; status: string; last_error: string | null; serialized_state: string; lease_owner: string | null; live: number; takeovers: number }>(
    `SELECT id, status, last_error, serialized_state, lease_owner, lease_expires_at > UTC_TIMESTAMP(3) AS live, takeovers FROM \`${t.instances.instances}\``,
  );
  const byId = new Map(instances.map((r) => [r.id, r]));
  const notDone: Array<{ id: string; status: string; error: string | null }> = [];
  let lost = 0;
  for (const [id, n] of index) {
    const row = byId.get(id);
    if (!row || row.status !== 'done') {
      lost++;
      notDone.push({ id, status: row?.status ?? 'missing', error: row?.last_error?.slice(0, 300) ?? null });
      continue;
    }
    const trail = (JSON.parse(row.serialized_state) as { json?: OrderData } & Partial<OrderData>);
    const data = (trail.json ?? trail) as OrderData;
    if (JSON.stringify(data.trail) !== JSON.stringify(expectedTrail(n))) {
      lost++;
      notDone.push({ id, status: `done with trail ${data.trail.join(',')}`, error: null });
    }
  }

  // History: each handler committed exactly as often as the path calls for, in order.
  const history = await query<{ instance_id: string; seq: number; handler: string; error: string | null }>(
    `SELECT instance_id, seq, handler, error FROM \`${t.instances.history}\` ORDER BY instance_id, seq`,
  );
  const committed = new Map<string, string[]>();
  let failedAttempts = 0;
  for (const h of history) {
    if (h.error !== null) {
      failedAttempts++;
      continue;
    }
    let list = committed.get(h.instance_id);
    if (!list) committed.set(h.instance_id, (list = []));
    list.push(h.handler);
  }
  let duplicateSteps = 0;
  let historyMismatches = 0;
  for (const [id, n] of index) {
    const expected = expectedTrail(n);
    const actual = committed.get(id) ?? [];
    const { duplicates, missing } = stepCounts(expected, actual);
    duplicateSteps += duplicates;
    if (actual.join(',') === expected.join(',')) continue;
    historyMismatches++;
    // A step its data shows done but history lacks is lost too (unless the instance already counts).
    if (missing && !notDone.some((x) => x.id === id)) {
      lost++;
      notDone.push({ id, status: `history ${actual.join(',')}`, error: null });
    }
  }

  // The probe: no two handlers of one user overlapped.
  const overlaps = await query<Record<string, unknown>>(`SELECT * FROM ${t.probe.overlaps} ORDER BY n`);
  const [runsRow] = await query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${t.probe.runs}`);
  const handlerRuns = Number(runsRow!.n);
  const maxConcurrentPerUser = handlerRuns === 0 ? 0 : overlaps.length > 0 ? 2 : 1;
  const probeLeft = (await query<{ pid: number }>(`SELECT pid FROM ${t.probe.probe}`)).filter((r) => alive(Number(r.pid))).length;

  // Events: every outbox row reached a consumer; per instance, first deliveries in sequence order.
  const outbox = await query<{ event_id: string; instance_id: string; sequence: number; sent_at: Date | null; claimed_by: string | null }>(
    `SELECT event_id, instance_id, \`sequence\`, sent_at, claimed_by FROM \`${t.shared.outbox}\` ORDER BY id`,
  );
  const consumed = await readAll(topic, 120_000);
  // readAll returns each partition in offset order; one instance lives on one partition.
  const events = eventCounts(
    outbox.map((r) => ({ eventId: r.event_id, instanceId: r.instance_id, sequence: Number(r.sequence) })),
    consumed.map((m) => ({ eventId: m.eventId, instanceId: m.instanceId, sequence: m.sequence, key: m.key })),
  );
  const { outOfOrder: eventsOutOfOrder, foreign: eventsForeign, duplicates: duplicateMessages } = events;
  let eventsMissing = events.missing;
  // And the outbox itself holds every event of every instance: sequences 1..k, as many as its path makes.
  const perInstance = new Map<string, number[]>();
  for (const r of outbox) {
    let list = perInstance.get(r.instance_id);
    if (!list) perInstance.set(r.instance_id, (list = []));
    list.push(r.sequence);
  }
  let outboxGaps = 0;
  for (const [id, n] of index) {
    const seqs = (perInstance.get(id) ?? []).sort((a, b) => a - b);
    // instance.created, one step.completed per committed handler, instance.done.
    const expected = expectedTrail(n).length + 2;
    if (seqs.length !== expected || seqs.some((s, i) => s !== i + 1)) outboxGaps++;
  }
  eventsMissing += outboxGaps;

  // Nothing left behind: unsent or claimed outbox rows, refused events, leases, locks.
  const unsent = outbox.filter((r) => r.sent_at === null).length;
  const claimed = outbox.filter((r) => r.sent_at === null && r.claimed_by !== null).length;
  const refused = Number(
    (await query<{ n: number }>(`SELECT COUNT(*) AS n FROM \`${outboxFailedTable({ tablePrefix: input.prefix })}\``).catch(() => [{ n: 0 }]))[0]!.n,
  );
  const leases = instances.filter((r) => r.lease_owner !== null || Number(r.live) === 1).length;
  const locks = Number(
    (
      await query<{ n: number }>(
        `SELECT (SELECT COUNT(*) FROM \`${t.shared.globalLock}\` WHERE owner IS NOT NULL OR expires_at > UTC_TIMESTAMP(3)) + (SELECT COUNT(*) FROM \`${t.shared.localLock}\` WHERE owner IS NOT NULL OR expires_at > UTC_TIMESTAMP(3)) AS n`,
      )
    )[0]!.n,
  );
  const notFinal = instances.filter((r) => !['done', 'failed', 'compensated'].includes(r.status)).length;
  const stuck = unsent + refused + leases + locks + notFinal + probeLeft;

  // What the processes logged, by kind, level and code, with one message of each.
  const logs = new Map<string, { count: number; sample: string }>();
  for (const c of input.everyone) {
    for (const l of c.lines) {
      if (l.event === 'ready' || l.event === 'stopped') continue;
      const key = `${c.kind} ${l.event} ${String(l['code'] ?? '-')}`;
      const entry = logs.get(key) ?? { count: 0, sample: `${String(l['message'] ?? '')} ${String(l['detail'] ?? '')}`.slice(0, 240) };
      entry.count++;
      logs.set(key, entry);
    }
  }
  const takeovers = instances.reduce((n, r) => n + Number(r.takeovers), 0);
  return {
    instances: ids.length,
    lost,
    duplicateSteps,
    maxConcurrentPerUser,
    eventsMissing,
    eventsOutOfOrder,
    stuck,
    eventsForeign,
    details: {
      config: { ...o, log: undefined },
      ...input.counts,
      chaosMs: input.chaosMs,
      settledMs: input.settledMs,
      handlerRuns,
      committedHandlers: history.length - failedAttempts,
      failedAttempts,
      takeovers,
      historyMismatches,
      overlaps: overlaps.slice(0, 5),
      notDone: notDone.slice(0, 5),
      outboxRows: outbox.length,
      messagesRead: consumed.length,
      duplicateMessages,
      outboxGaps,
      stuckParts: { unsent, claimed, refused, leases, locks, notFinal, probeLeft },
      uncleanExits: input.unclean,
      processLog: Object.fromEntries(logs),
    },
  };
}
