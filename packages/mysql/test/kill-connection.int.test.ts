/**
 * The database connection dies under a running workload: every connection of the store is
 * killed (KILL CONNECTION) again and again while 100 instances run. Afterwards every instance
 * completes, and history holds each step exactly once: none lost, none duplicated.
 */
import { randomBytes } from 'node:crypto';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, createRunner, isFsmError, MemoryLocker, type MachineDefinition } from '@fsmkit/runtime';
import { createMysqlStore, type MysqlStore } from '../src/index.js';
import { dropTablesWithPrefix, MYSQL_URL, mysqlUnavailable, rawConnection, uniquePrefix } from './support/db.js';

const unavailable = await mysqlUnavailable();
const STEPS = ['reserve', 'charge', 'pack', 'ship', 'notify'];
const INSTANCES = 100;

const definition: MachineDefinition<{ n: number; done: string[] }> = {
  model: buildModel({
    className: 'Flow',
    options: { name: 'killflow' },
    steps: STEPS.map((method, i) => ({ order: i + 1, method })),
  }),
  create: () =>
    Object.fromEntries(
      STEPS.map((s) => [
        s,
        async (ctx: { data: { done: string[] } }) => {
          await new Promise((r) => setTimeout(r, 1 + Math.floor(Math.random() * 3)));
          ctx.data.done.push(s);
        },
      ]),
    ),
};

describe.skipIf(unavailable !== null)('connections killed while 100 instances run', () => {
  const prefix = uniquePrefix();
  // Its own database user, so the killer can pick out exactly this store's connections.
  const user = `fsmkill_${randomBytes(3).toString('hex')}`;
  let store: MysqlStore;

  beforeAll(async () => {
    const admin = await rawConnection();
    await admin.query(`CREATE USER '${user}'@'%' IDENTIFIED BY ''`);
    await admin.query(`CREATE USER '${user}'@'localhost' IDENTIFIED BY ''`);
    const db = new URL(MYSQL_URL).pathname.slice(1) || 'test';
    await admin.query(`GRANT ALL ON \`${db}\`.* TO '${user}'@'%'`);
    await admin.query(`GRANT ALL ON \`${db}\`.* TO '${user}'@'localhost'`);
    await admin.end();
    const url = new URL(MYSQL_URL);
    url.username = user;
    url.password = '';
    store = createMysqlStore({ url: url.toString(), tablePrefix: prefix, poolSize: 16 });
    await store.ensureSchema([definition.model]);
  });

  afterAll(async () => {
    await store?.close();
    await dropTablesWithPrefix(prefix);
    const admin = await rawConnection();
    await admin.query(`DROP USER IF EXISTS '${user}'@'%'`);
    await admin.query(`DROP USER IF EXISTS '${user}'@'localhost'`);
    await admin.end();
  });

  it('completes every instance with each step committed exactly once', async () => {
    const runner = createRunner(definition, { store, locker: new MemoryLocker() });
    const ids: string[] = [];
    for (let i = 0; i < INSTANCES; i++) ids.push((await runner.create({ n: i, done: [] })).id);

    const admin = await rawConnection();
    let kills = 0;
    let killing = true;
    const killer = (async () => {
      while (killing) {
        const [rows] = await admin.query<Array<{ ID: number } & RowDataPacket>>(
          'SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?',
          [user],
        );
        for (const row of rows) {
          await admin.query(`KILL CONNECTION ${Number(row.ID)}`).catch(() => {});
          kills++;
        }
        await new Promise((r) => setTimeout(r, 15));
      }
    })();

    // Like a service would: an infrastructure error leaves the instance at its last committed
    // step; running it again continues from there.
    const errors = new Set<string>();
    let interrupted = 0;
    const drive = async (id: string) => {
      const deadline = Date.now() + 60_000;
      let last: unknown = null;
      while (Date.now() < deadline) {
        try {
          const result = await runner.run(id);
          if (result.status === 'done') return;
          last = `status ${result.status}`;
        } catch (error) {
          if (!isFsmError(error)) throw error;
          interrupted++;
          last = error;
          // A commit can succeed on the server while its reply dies with the connection: the
          // instance may be done already, and running it again rightly says so.
          const now = await runner.find(id).catch(() => undefined);
          if (now?.status === 'done') return;
          errors.add(error.code);
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      throw new Error(`instance ${id} never finished; last: ${String(last)}`, { cause: last });
    };
    const runs = Promise.all(ids.map(drive));
    // Kill for 400 ms at least, and on until a kill has cut a drive (commits in a group go
    // quickly, on few connections: some rounds of kills find only idle ones).
    const started = Date.now();
    while (Date.now() - started < 400 || (interrupted === 0 && Date.now() - started < 20_000)) await new Promise((r) => setTimeout(r, 20));
    killing = false;
    await killer;
    await runs;
    await admin.end();

    // The kills really cut commits mid-run (not just idle connections).
    expect(kills).toBeGreaterThan(0);
    expect(interrupted).toBeGreaterThan(0);
    expect([...errors].every((code) => code === 'FSM_STORE' || code === 'FSM_STALE_VERSION')).toBe(true);
    for (const id of ids) {
      const done = await runner.get(id);
      expect(done.status).toBe('done');
      expect(done.data.done).toEqual(STEPS);
      const history = await runner.history(id);
      expect(history.map((h) => [h.seq, h.handler])).toEqual(STEPS.map((s, i) => [i + 1, s]));
    }
  });
});
