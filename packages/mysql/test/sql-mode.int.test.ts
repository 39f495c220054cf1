import { createRunner, FsmError, type Store } from '@fsmkit/runtime';
import mysql, { type Connection, type Pool, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { machine } from '../../runtime/test/support/machines.js';
import { createMysqlStore, type MysqlStore } from '../src/index.js';
import { sqlLiteral } from '../src/inline-values.js';
import { dropTablesWithPrefix, MYSQL_URL, mysqlUnavailable, rawConnection, uniquePrefix } from './support/db.js';
import { event, historyRecord, instanceRecord, nextRecord } from './support/records.js';

const unavailable = await mysqlUnavailable();

/**
 * Hostile text in every field that reaches SQL, with the server's global sql_mode switched to
 * NO_BACKSLASH_ESCAPES (restored afterwards): a backslash then no longer escapes a quote, so
 * text escaped the usual way ends its literal early and the rest runs as a statement.
 */
describe.skipIf(unavailable !== null)('SQL in every sql_mode', () => {
  const prefix = uniquePrefix();
  // Short, so that a hostile id naming it still fits CHAR(36).
  const canary = `${prefix}c`;
  const drop = `DROP TABLE ${canary}`;
  const hostile = [`'; ${drop}; -- `, `\\'; ${drop}; -- `, `\\\\'; ${drop}; #`, `x\0'\x1a"; ${drop}; -- `];
  const M = 'order';
  let raw: Connection;
  let savedMode: string;
  let callerPool: Pool;
  const stores: Array<{ label: string; store: MysqlStore }> = [];

  beforeAll(async () => {
    raw = await rawConnection();
    const [rows] = await raw.query<RowDataPacket[]>('SELECT @@GLOBAL.sql_mode AS m');
    savedMode = rows[0]!['m'] as string;
    await raw.query(`CREATE TABLE ${canary} (n INT NOT NULL)`);
    await raw.query(`INSERT INTO ${canary} VALUES (1)`);
    // New connections take the global mode: every pool below is made after this.
    await raw.query("SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',NO_BACKSLASH_ESCAPES')");
    try {
      // A caller's pool keeps the server's mode, and allows multiple statements.
      callerPool = mysql.createPool({ uri: MYSQL_URL, timezone: 'Z', connectionLimit: 4, multipleStatements: true });
      stores.push({ label: 'own pool', store: createMysqlStore({ tablePrefix: prefix, poolSize: 4 }) });
      stores.push({ label: "caller's pool", store: createMysqlStore({ tablePrefix: prefix, pool: callerPool }) });
      await stores[0]!.store.ensureSchema([{ name: M }]);
    } finally {
      // Pools open their connections lazily: keep the global mode until each has one.
      await Promise.all(stores.map(({ store }) => Promise.all([1, 2, 3, 4].map(() => store.pool.getConnection()))))
        .then((conns) => conns.flat().forEach((c) => c.release()))
        .finally(() => raw.query('SET GLOBAL sql_mode = ?', [savedMode]));
    }
  });
  afterAll(async () => {
    if (savedMode !== undefined) await raw.query('SET GLOBAL sql_mode = ?', [savedMode]);
    for (const { store } of stores) await store.close();
    await callerPool?.end();
    await raw.query(`DROP TABLE IF EXISTS ${canary}`);
    await raw.end();
    await dropTablesWithPrefix(prefix);
  });

  const canaryStands = async () => {
    const [rows] = await raw.query<RowDataPacket[]>(`SELECT n FROM ${canary}`);
    expect(rows.map((r) => r['n'])).toEqual([1]);
  };

  it('runs the pools under NO_BACKSLASH_ESCAPES: the caller pool keeps it, ours drops it per session', async () => {
    const modes = await Promise.all(
      stores.map(async ({ store }) => {
        const [rows] = await store.pool.query<RowDataPacket[]>('SELECT @@SESSION.sql_mode AS m');
        return String(rows[0]!['m']).includes('NO_BACKSLASH_ESCAPES');
      }),
    );
    expect(modes).toEqual([false, true]);
  });

  it('writes literals that read back the same with and without NO_BACKSLASH_ESCAPES', async () => {
    const all = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join('');
    const values = [...hostile, all, "''", '\\', '\\\\\'', 'é😀\\n', ''];
    for (const mode of ['NO_BACKSLASH_ESCAPES', '']) {
      await raw.query(`SET SESSION sql_mode = '${mode}'`);
      const [rows] = await raw.query<RowDataPacket[]>(`SELECT ${values.map((v, i) => `${sqlLiteral(v)} AS v${i}`).join(', ')}`);
      expect(values.map((_, i) => rows[0]![`v${i}`])).toEqual(values);
    }
    await raw.query("SET SESSION sql_mode = 'STRICT_TRANS_TABLES'");
  });

  for (const [n, payload] of hostile.entries()) {
    it(`stores hostile text #${n} in data, user id, pause reason, topic, history and events, and finds it by filter`, async () => {
      for (const { label, store } of stores) {
        // The two stores share their tables: a text of their own keeps the filters apart.
        const text = `${payload}${label}`;
        const rec = instanceRecord(M, {
          userId: text,
          kafkaEventTopic: text,
          serializedState: JSON.stringify({ json: { note: text } }),
        });
        await store.insert(rec, [event(rec, 1, { topic: text, userId: text })]);
        const lease = await store.locker().acquire(`user:${text}`, text, { instanceId: rec.id, machine: M, leaseMs: 10_000, mode: 'fail', timeoutMs: 0 });
        expect(lease, label).not.toBeNull();
        const next = nextRecord(rec, {
          serializedState: JSON.stringify({ json: { note: text, more: [text] } }),
          pauseRequested: true,
          pauseReason: text,
          lastError: { name: text, message: text, code: text },
          leaseOwner: text,
          currentState: text.slice(0, 64),
        });
        const h = historyRecord(rec, 1, { dataBefore: text, dataAfter: text, metadata: { text }, error: { name: text, message: text }, actor: text });
        await store.commit({ record: next, expectedVersion: 1, history: [h], events: [event(rec, 2, { topic: text })], fence: [{ key: `user:${text}`, token: lease!.token }] });
        await canaryStands();

        const stored = await store.get(M, rec.id);
        expect(stored, label).toMatchObject({ userId: text, kafkaEventTopic: text, pauseReason: text, currentState: text.slice(0, 64) });
        expect(stored!.serializedState).toBe(next.serializedState);
        expect((await store.history(M, rec.id))[0], label).toMatchObject({ dataBefore: text, dataAfter: text, metadata: { text }, actor: text });

        expect((await store.list(M, { userId: text })).map((r) => r.id), label).toEqual([rec.id]);
        expect(await store.list(M, { userId: text, status: ['running', 'ready'], currentState: [text.slice(0, 64), `${text}2`] }), label).toHaveLength(1);
        expect(await store.list(M, { currentState: text })).toHaveLength(text.length <= 64 ? 1 : 0);
        await canaryStands();

        expect(await store.requestPause(M, rec.id, text)).toBe(true);
        expect(await store.currentStates(M, [rec.id, text])).toEqual(new Map([[rec.id, text.slice(0, 64)]]));
        await store.locker().release(lease!);
        await canaryStands();
      }
    });
  }

  it('keeps hostile ids, owners and lock keys out of claims, leases and commits', async () => {
    // CHAR columns drop trailing spaces: a `#` comment instead of `-- `.
    const text = `\\'; ${drop}; #`;
    expect(text.length).toBeLessThanOrEqual(36);
    for (const { label, store } of stores) {
      const rec = instanceRecord(M, { id: label === 'own pool' ? text : text.replace('\\', '/'), userId: text, status: 'running' });
      await store.insert(rec, []);
      const owner = `${text}owner`;
      const claimed = await store.claim!(M, { owner, limit: 100, leaseMs: 10_000, lock: { scope: 'local', by: 'user' } });
      expect(claimed, label).toContain(rec.id);
      expect(await store.renewLease!(M, rec.id, { owner, version: 1, leaseMs: 10_000 })).toBe(true);
      await store.commit({ record: nextRecord(rec), expectedVersion: 1, history: [], events: [] });
      await store.unclaim!(M, [rec.id], owner);
      expect((await store.get(M, rec.id))?.version).toBe(2);
      await canaryStands();
    }
  });

  it('refuses a hostile table prefix before any SQL', () => {
    expect(() => createMysqlStore({ tablePrefix: `x\`; ${drop}; -- ` })).toThrow(FsmError);
    expect(() => createMysqlStore({ tablePrefix: "x'" })).toThrow(/table prefix/);
  });

  it('runs a machine with a per-user lock on hostile user ids, data and pause reasons', async () => {
    const text = `'; ${drop}; -- `;
    const def = machine<{ note: string; log: string[] }>(
      { name: M, lock: { scope: 'local', by: 'user' } },
      { first: { order: 1 }, second: { order: 2 } },
      {
        first: (ctx) => {
          ctx.data.log.push(ctx.data.note);
          ctx.pause(text);
        },
        second: (ctx) => void ctx.data.log.push(`${ctx.data.note}\\`),
      },
    );
    for (const { label, store } of stores) {
      const runner = createRunner(def, { store: store as Store });
      const started = await runner.start({ note: text, log: [] }, { userId: text });
      expect(started.status, label).toBe('paused');
      expect(started.pauseReason).toBe(text);
      const done = await runner.resume(started.id, { note: `${text}\\` });
      expect(done.status, label).toBe('done');
      expect(done.data.log).toEqual([text, `${text}\\\\`]);
      await canaryStands();
    }
  });
});
