/**
 * The message races, each between two processes on MariaDB and repeated: a message and its
 * timeout at once (one wins, the loser leaves no trace), the same message twice (one effect),
 * a message arriving as the wait begins (never lost).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunner, type MachineRunner } from '@fsmkit/runtime';
import { createMysqlStore, type MysqlStore } from '../src/index.js';
import { payMachine, twoWaitsMachine, type PayData } from './processes/wait-machine.js';
import { dropTablesWithPrefix, MYSQL_URL, mysqlUnavailable, rawConnection, uniquePrefix } from './support/db.js';

const unavailable = await mysqlUnavailable();
const here = dirname(fileURLToPath(import.meta.url));
const tsx = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist', 'loader.mjs')).href;
const script = join(here, 'processes', 'waits.ts');
const ROUNDS = 25;

type Reply = { n: number; result?: Record<string, unknown>; code?: string; detail?: string };

/** A process that runs commands; `send` resolves with its reply. */
class Peer {
  private n = 0;
  private readonly pending = new Map<number, (reply: Reply) => void>();
  readonly ready: Promise<void>;
  private stderr = '';

  constructor(readonly child: ChildProcess) {
    let ready!: () => void;
    this.ready = new Promise((r) => (ready = r));
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    createInterface({ input: child.stdout! }).on('line', (text) => {
      let line: Reply & { event?: string };
      try {
        line = JSON.parse(text) as Reply & { event?: string };
      } catch {
        return;
      }
      if (line.event === 'ready') ready();
      const resolve = this.pending.get(line.n);
      if (resolve) {
        this.pending.delete(line.n);
        resolve(line);
      }
    });
    child.once('exit', (code) => {
      for (const resolve of this.pending.values()) resolve({ n: -1, code: `EXITED ${code}: ${this.stderr}` });
    });
  }

  send(command: Record<string, unknown>): Promise<Reply> {
    const n = ++this.n;
    return new Promise((resolve) => {
      this.pending.set(n, resolve);
      this.child.stdin!.write(JSON.stringify({ ...command, n }) + '\n');
    });
  }
}

describe.skipIf(unavailable !== null)('message races between two processes on MariaDB', () => {
  const prefix = uniquePrefix();
  const machine = 'pay_race';
  let store: MysqlStore;
  let runner: MachineRunner<PayData>;
  let twoWaits: MachineRunner<PayData>;
  let peers: Peer[] = [];
  const children: ChildProcess[] = [];
  let query: (sql: string, params?: unknown[]) => Promise<RowDataPacket[]>;
  let closeRaw: () => Promise<void>;

  beforeAll(async () => {
    store = createMysqlStore({ tablePrefix: prefix, poolSize: 4 });
    await store.ensureSchema([{ name: machine }, { name: `${machine}_two` }]);
    runner = createRunner(payMachine(machine), { store });
    twoWaits = createRunner(twoWaitsMachine(`${machine}_two`), { store });
    const raw = await rawConnection();
    query = async (sql, params = []) => (await raw.query<RowDataPacket[]>(sql.replaceAll('$', prefix), params))[0];
    closeRaw = () => raw.end();
    peers = [0, 1].map(() => {
      const child = spawn(process.execPath, ['--conditions=source', '--import', tsx, script, JSON.stringify({ url: MYSQL_URL, prefix, machine })], {
        cwd: join(here, '..'),
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      children.push(child);
      return new Peer(child);
    });
    await Promise.all(peers.map((p) => p.ready));
  }, 60_000);

  afterAll(async () => {
    for (const child of children) child.stdin?.end();
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
    await store?.close();
    await closeRaw?.();
    await dropTablesWithPrefix(prefix);
  });

  const steps = async (id: string) => (await query('SELECT step FROM `$pay_race_history` WHERE instance_id = ? ORDER BY seq', [id])).map((r) => r['step'] as string);
  const eventSteps = async (id: string) =>
    (await query("SELECT payload FROM `$outbox` WHERE instance_id = ? AND event_type = 'step.completed' ORDER BY sequence", [id])).map(
      (r) => (JSON.parse(r['payload'] as string) as { step: string }).step,
    );
  const untaken = async (key: string) => Number((await query('SELECT COUNT(*) AS n FROM `$inbox` WHERE wait_key = ? AND taken_by IS NULL', [key]))[0]!['n']);
  const settled = async (id: string) => {
    for (let i = 0; i < 300; i++) {
      const i1 = await runner.get(id);
      if (i1.status === 'done' || i1.status === 'failed') return i1;
      await new Promise((r) => setTimeout(r, 20));
    }
    return runner.get(id);
  };
  /** What a losing drive may throw: someone else holds or moved the instance. */
  const LOST = ['FSM_INVALID_STATE', 'FSM_INSTANCE_BUSY', 'FSM_STALE_VERSION'];

  it(`a message and its timeout at the same moment: exactly one wins and the loser leaves no history row and no event (${ROUNDS} rounds)`, async () => {
    const wins = { message: 0, timeout: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const key = `mt-${round}`;
      const waiting = await runner.start({ orderId: key, timeoutMs: 1, log: [] });
      expect(waiting.status).toBe('waiting');
      // Due already: a run is the timeout, racing the message.
      while ((await runner.get(waiting.id)).nextRunAt!.getTime() > Date.now()) await new Promise((r) => setTimeout(r, 1));
      const [timeout, message] = await Promise.all([peers[0]!.send({ op: 'run', id: waiting.id }), peers[1]!.send({ op: 'deliver', key, payload: { amount: round } })]);
      const done = await settled(waiting.id);
      expect(done.status).toBe('done');
      if (timeout.code !== undefined) expect(LOST, timeout.detail).toContain(timeout.code);
      expect(message.code).toBeUndefined();
      if (message.result!['outcome'] === 'delivered') {
        wins.message++;
        expect(done.data.log).toEqual(['reserve', 'charge', 'ship']);
        expect(done.data.paid).toEqual({ amount: round });
        expect(await steps(waiting.id)).toEqual(['reserve', 'charge', 'ship']);
        expect(await eventSteps(waiting.id)).toEqual(['reserve', 'charge', 'ship']);
        expect(await untaken(key)).toBe(0);
      } else {
        wins.timeout++;
        expect(message.result).toEqual({ outcome: 'inboxed' });
        expect(done.data.log).toEqual(['reserve', 'cancel']);
        expect(await steps(waiting.id)).toEqual(['reserve', 'cancel']);
        expect(await eventSteps(waiting.id)).toEqual(['reserve', 'cancel']);
        expect(await untaken(key)).toBe(1);
      }
    }
    expect(wins.message + wins.timeout).toBe(ROUNDS);
    console.log(`message vs timeout: ${JSON.stringify(wins)}`);
  }, 240_000);

  it(`the same message delivered twice at once has one effect: with a messageId the second is a duplicate, without one it goes to the inbox (${ROUNDS} rounds)`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      for (const withId of [true, false]) {
        const key = `dup-${withId}-${round}`;
        const waiting = await runner.start({ orderId: key, timeoutMs: null, log: [] });
        const command = { op: 'deliver', key, payload: { amount: 1 }, ...(withId ? { messageId: `mid-${key}` } : {}) };
        const replies = await Promise.all(peers.map((p) => p.send(command)));
        for (const r of replies) expect(r.code, r.detail).toBeUndefined();
        const outcomes = replies.map((r) => r.result!['outcome']).sort();
        expect(outcomes).toEqual(withId ? ['delivered', 'duplicate'] : ['delivered', 'inboxed']);
        if (withId) expect(replies.find((r) => r.result!['outcome'] === 'duplicate')!.result!['instanceId']).toBe(waiting.id);
        const done = await settled(waiting.id);
        expect(done.data.log).toEqual(['reserve', 'charge', 'ship']);
        expect(await steps(waiting.id)).toEqual(['reserve', 'charge', 'ship']);
        expect(await untaken(key)).toBe(withId ? 0 : 1);
      }
    }
  }, 240_000);

  it(`a message arriving as the wait begins is never lost: taken by the wait, or delivered to it (${ROUNDS} rounds)`, async () => {
    const ways = { inbox: 0, direct: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const key = `early-${round}`;
      const [started, delivered] = await Promise.all([
        peers[0]!.send({ op: 'start', data: { orderId: key, timeoutMs: null, log: [] } }),
        peers[1]!.send({ op: 'deliver', key, payload: { amount: round }, messageId: `early-${round}` }),
      ]);
      expect(started.code).toBeUndefined();
      expect(delivered.code).toBeUndefined();
      const id = started.result!['id'] as string;
      const done = await settled(id);
      expect(done.status).toBe('done');
      expect(done.data.paid).toEqual({ amount: round });
      expect(await steps(id)).toEqual(['reserve', 'charge', 'ship']);
      expect(await untaken(key)).toBe(0);
      if (delivered.result!['outcome'] === 'delivered') ways.direct++;
      else ways.inbox++;
    }
    console.log(`message as the wait begins: ${JSON.stringify(ways)}`);
  }, 240_000);

  it('deliveries arriving together share transactions, and each message is taken once (with and without ids, sent twice)', async () => {
    const COUNT = 40;
    const keys = Array.from({ length: COUNT }, (_, i) => `many-${i}`);
    const waiting = await Promise.all(keys.map((key) => runner.start({ orderId: key, timeoutMs: null, log: [] })));
    const before = { ...store.groupCommits };
    // Every key twice at once; even keys carry a message id (the second is a duplicate), odd ones none (the second is inboxed).
    const outcomes = await Promise.all(
      keys.flatMap((key, i) => [0, 1].map(() => runner.deliver('payment', key, { amount: i }, i % 2 === 0 ? { messageId: `many-id-${i}` } : {}))),
    );
    // Two step commits per instance, plus the takes: those go through the group committer too.
    const grouped = { commits: store.groupCommits.commits - before.commits, transactions: store.groupCommits.transactions - before.transactions };
    expect(grouped.commits).toBeGreaterThan(2 * COUNT);
    expect(grouped.transactions).toBeLessThan(grouped.commits);
    for (const [i, key] of keys.entries()) {
      const pair = [outcomes[2 * i]!.outcome, outcomes[2 * i + 1]!.outcome].sort();
      expect(pair).toEqual(i % 2 === 0 ? ['delivered', 'duplicate'] : ['delivered', 'inboxed']);
      const done = await settled(waiting[i]!.id);
      expect(done.data.paid).toEqual({ amount: i });
      expect(await steps(waiting[i]!.id)).toEqual(['reserve', 'charge', 'ship']);
      expect(await untaken(key)).toBe(i % 2 === 0 ? 0 : 1);
    }
  }, 120_000);

  it(`two waits of one instance with the same key: each message goes to its own step, whichever arrives first (${ROUNDS} rounds)`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const key = `two-${round}`;
      const waiting = await twoWaits.start({ orderId: key, timeoutMs: null, log: [] });
      expect(waiting.state).toBe('approved');
      const replies = await Promise.all([
        peers[0]!.send({ op: 'deliver', two: true, message: 'payment', key, payload: 1 }),
        peers[1]!.send({ op: 'deliver', two: true, message: 'approval', key, payload: 2 }),
      ]);
      for (const r of replies) expect(r.code, r.detail).toBeUndefined();
      expect(replies[1]!.result!['outcome']).toBe('delivered');
      let done = await twoWaits.get(waiting.id);
      for (let i = 0; i < 300 && done.status !== 'done'; i++) {
        await new Promise((r) => setTimeout(r, 20));
        done = await twoWaits.get(waiting.id);
      }
      expect(done.data.log).toEqual(['open', 'approved:approval', 'paid:payment']);
      expect(Number((await query('SELECT COUNT(*) AS n FROM `$inbox` WHERE wait_key = ? AND taken_by IS NULL', [key]))[0]!['n'])).toBe(0);
    }
  }, 240_000);
});
