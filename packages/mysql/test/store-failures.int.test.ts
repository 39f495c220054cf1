import { FsmError, type InstanceRecord } from '@fsmkit/runtime';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlStore, type MysqlStore } from '../src/index.js';
import { dropTablesWithPrefix, mysqlUnavailable, rawConnection, tablesWithPrefix, uniquePrefix } from './support/db.js';
import { event, historyRecord, instanceRecord, nextRecord } from './support/records.js';

const unavailable = await mysqlUnavailable();

describe.skipIf(unavailable !== null)('MysqlStore under bad input and failures', () => {
  const prefix = uniquePrefix();
  const M = 'order';
  const stores: MysqlStore[] = [];
  let store: MysqlStore;
  let raw: Connection;
  const open = (options: Parameters<typeof createMysqlStore>[0] = {}) => {
    const s = createMysqlStore({ tablePrefix: prefix, ...options });
    stores.push(s);
    return s;
  };

  beforeAll(async () => {
    raw = await rawConnection();
  });
  afterAll(async () => {
    for (const s of stores) await s.close();
    await raw?.end();
    await dropTablesWithPrefix(prefix);
  });

  const count = async (table: string, id: string): Promise<number> => {
    const column = table === 'outbox' ? 'instance_id' : table.endsWith('_history') ? 'instance_id' : 'id';
    const [rows] = await raw.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${prefix}${table}\` WHERE ${column} = ?`, [id]);
    return Number(rows[0]!['n']);
  };

  /** Asserts the row, its history and its outbox rows are exactly as `expected` left them. */
  const expectUntouched = async (expected: InstanceRecord, history: number, outbox: number) => {
    expect(await store.get(M, expected.id)).toEqual(expected);
    expect(await count(`${M}_history`, expected.id)).toBe(history);
    expect(await count('outbox', expected.id)).toBe(outbox);
  };

  it('refuses hostile machine names before any SQL runs', async () => {
    const hostile = ['x; DROP TABLE y', 'a`b', '`; DROP TABLE `t`; --', 'Order', '', 'a'.repeat(49), 'x'.repeat(47)];
    // A pool to a port nothing listens on: reaching the server would be FSM_STORE, not a name error.
    const offline = createMysqlStore({ url: 'mysql://root@127.0.0.1:1/test', tablePrefix: prefix, connectTimeoutMs: 500 });
    try {
      for (const name of hostile) {
        const rec = instanceRecord(name);
        const calls: Array<() => Promise<unknown>> = [
          () => offline.ensureSchema([{ name: 'fine' }, { name }]),
          () => offline.insert(rec, []),
          () => offline.commit({ record: rec, expectedVersion: 0, history: [], events: [] }),
          () => offline.get(name, rec.id),
          () => offline.list(name, {}),
          () => offline.history(name, rec.id),
          () => offline.requestPause(name, rec.id, null),
          () => offline.currentStates(name, [rec.id]),
        ];
        for (const call of calls) {
          const error = await call().catch((e: unknown) => e);
          expect(error, `${name}: ${call.toString()}`).toBeInstanceOf(FsmError);
          expect(error).toMatchObject({ code: 'FSM_INVALID_MODEL', context: { machine: name } });
        }
      }
      expect(await offline.get('fine', 'x').catch((e: unknown) => e)).toMatchObject({ code: 'FSM_STORE' });
    } finally {
      await offline.close();
    }
    const online = open();
    await expect(online.ensureSchema([{ name: 'fine' }, { name: 'x; DROP TABLE y' }])).rejects.toMatchObject({ code: 'FSM_INVALID_MODEL' });
    expect(await tablesWithPrefix(prefix)).toEqual([]);
    expect(() => createMysqlStore({ tablePrefix: 'x`; DROP' })).toThrow(expect.objectContaining({ code: 'FSM_INVALID_MODEL' }));
  });

  describe('with tables', () => {
    beforeAll(async () => {
      store = open({ maxStateBytes: 4096 });
      await store.ensureSchema([{ name: M }]);
    });

    it('refuses data over maxStateBytes (counted in UTF-8 bytes) with FSM_DATA_TOO_LARGE; nothing changes', async () => {
      const big = instanceRecord(M, { serializedState: 'é'.repeat(2100) }); // 2 100 characters, 4 200 bytes
      await expect(store.insert(big, [event(big, 1)])).rejects.toMatchObject({
        code: 'FSM_DATA_TOO_LARGE',
        context: { field: 'serialized_state', bytes: 4200, limit: 4096, machine: M, id: big.id },
      });
      expect(await store.get(M, big.id)).toBeUndefined();
      expect(await count('outbox', big.id)).toBe(0);

      const rec = instanceRecord(M);
      await store.insert(rec, []);
      const tooBig = nextRecord(rec, { serializedState: 'x'.repeat(4097) });
      await expect(store.commit({ record: tooBig, expectedVersion: 1, history: [historyRecord(rec, 1)], events: [event(rec, 1)] })).rejects.toMatchObject({
        code: 'FSM_DATA_TOO_LARGE',
      });
      await expectUntouched(rec, 0, 0);

      const bigHistory = historyRecord(rec, 1, { dataAfter: 'y'.repeat(5000) });
      await expect(store.commit({ record: nextRecord(rec), expectedVersion: 1, history: [bigHistory], events: [] })).rejects.toMatchObject({
        code: 'FSM_DATA_TOO_LARGE',
        context: { field: 'history 1 data_after' },
      });
      const bigMeta = historyRecord(rec, 1, { metadata: { blob: 'z'.repeat(70_000) } });
      await expect(store.commit({ record: nextRecord(rec), expectedVersion: 1, history: [bigMeta], events: [] })).rejects.toMatchObject({
        code: 'FSM_DATA_TOO_LARGE',
        context: { field: 'history 1 metadata' },
      });
      await expect(store.requestPause(M, rec.id, 'r'.repeat(1025))).rejects.toMatchObject({ code: 'FSM_DATA_TOO_LARGE' });
      await expectUntouched(rec, 0, 0);
    });

    it('refuses data over the MEDIUMTEXT column with FSM_DATA_TOO_LARGE', async () => {
      const unlimited = open();
      const rec = instanceRecord(M);
      await unlimited.insert(rec, []);
      const huge = nextRecord(rec, { serializedState: 'x'.repeat(16_777_216) });
      await expect(unlimited.commit({ record: huge, expectedVersion: 1, history: [], events: [] })).rejects.toMatchObject({
        code: 'FSM_DATA_TOO_LARGE',
        context: { field: 'serialized_state', limit: 16_777_215 },
      });
      await expectUntouched(rec, 0, 0);
    });

    it('maps a value the server finds too long for its column to FSM_DATA_TOO_LARGE, rolling back', async () => {
      const rec = instanceRecord(M);
      await store.insert(rec, []);
      const longUser = nextRecord(rec, { userId: 'u'.repeat(300) });
      const error = await store.commit({ record: longUser, expectedVersion: 1, history: [historyRecord(rec, 1)], events: [event(rec, 1)] }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'FSM_DATA_TOO_LARGE', context: { operation: 'commit', machine: M, id: rec.id } });
      expect((error as Error).cause).toMatchObject({ code: 'ER_DATA_TOO_LONG' });
      await expectUntouched(rec, 0, 0);
    });

    it('cuts a huge error description down to fit its column rather than refusing the commit', async () => {
      const rec = instanceRecord(M);
      await store.insert(rec, []);
      const lastError = { name: 'Error', message: 'm'.repeat(200_000), stack: 's'.repeat(200_000) };
      await store.commit({ record: nextRecord(rec, { status: 'failed', lastError }), expectedVersion: 1, history: [historyRecord(rec, 1, { error: lastError })], events: [] });
      const stored = (await store.get(M, rec.id))!;
      expect(stored.lastError!.message).toBe('m'.repeat(8000) + '…');
      expect(stored.lastError!.stack).toBeUndefined();
      expect((await store.history(M, rec.id))[0]!.error!.message).toHaveLength(8001);
    });

    it('still returns a row whose serialized_state and last_error are corrupt', async () => {
      const rec = instanceRecord(M, { userId: 'corrupt-user' });
      await store.insert(rec, []);
      await raw.query(`UPDATE \`${prefix}${M}\` SET serialized_state = '{not json', last_error = 'garbage{' WHERE id = ?`, [rec.id]);
      const got = (await store.get(M, rec.id))!;
      expect(got.serializedState).toBe('{not json');
      expect(got.lastError).toEqual({ name: 'UnreadableError', message: 'garbage{' });
      const listed = await store.list(M, { userId: 'corrupt-user' });
      expect(listed.map((r) => [r.id, r.serializedState])).toEqual([[rec.id, '{not json']]);
    });

    it('ids that cannot exist (non-ASCII) read as absent rather than failing', async () => {
      expect(await store.get(M, 'ünïcode-😀')).toBeUndefined();
      expect((await store.currentStates(M, ['ünïcode-😀'])).size).toBe(0);
      expect(await store.requestPause(M, 'ünïcode-😀', null)).toBe(false);
    });
  });

  describe('lost connections', () => {
    let single: MysqlStore;
    beforeAll(async () => {
      single = open({ poolSize: 1 });
      await single.ensureSchema([{ name: M }]);
      store = single;
    });

    const connectionIdOf = async (s: MysqlStore): Promise<number> => {
      const [rows] = await s.pool.query<RowDataPacket[]>('SELECT CONNECTION_ID() AS id');
      return Number(rows[0]!['id']);
    };

    /** Holds the instance row locked from another session, so the store's UPDATE waits inside its transaction. */
    const lockRow = async (id: string): Promise<Connection> => {
      const blocker = await rawConnection();
      await blocker.query('START TRANSACTION');
      await blocker.query(`SELECT id FROM \`${prefix}${M}\` WHERE id = ? FOR UPDATE`, [id]);
      return blocker;
    };

    const waitingUpdate = async (): Promise<number> => {
      for (let i = 0; i < 200; i++) {
        const [rows] = await raw.query<RowDataPacket[]>(
          "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND INFO LIKE 'UPDATE %' AND INFO LIKE ?",
          [`%${prefix}${M}%`],
        );
        if (rows[0]) return Number(rows[0]['id']);
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error('the store never got to its UPDATE');
    };

    it('after KILL CONNECTION of an idle pooled connection, the next operation reconnects or fails with FSM_STORE', async () => {
      const rec = instanceRecord(M);
      await single.insert(rec, []);
      const before = await connectionIdOf(single);
      await raw.query(`KILL CONNECTION ${before}`);

      const next = nextRecord(rec);
      const outcome = await single.commit({ record: next, expectedVersion: 1, history: [historyRecord(rec, 1)], events: [] }).then(
        () => 'committed',
        (e: unknown) => {
          expect(e).toMatchObject({ code: 'FSM_STORE' });
          return 'failed';
        },
      );
      expect(await connectionIdOf(single)).not.toBe(before);
      const stored = (await single.get(M, rec.id))!;
      if (outcome === 'committed') {
        expect(stored).toEqual({ ...next, version: 2 });
        expect(await count(`${M}_history`, rec.id)).toBe(1);
      } else {
        expect(stored).toEqual(rec);
        expect(await count(`${M}_history`, rec.id)).toBe(0);
      }
    });

    it('a connection killed mid-commit rolls the whole transaction back; the pool then recovers', async () => {
      const rec = instanceRecord(M);
      await single.insert(rec, []);
      const blocker = await lockRow(rec.id);
      const pending = single.commit({ record: nextRecord(rec), expectedVersion: 1, history: [historyRecord(rec, 1)], events: [event(rec, 1)] });
      const failed = pending.catch((e: unknown) => e);
      await raw.query(`KILL CONNECTION ${await waitingUpdate()}`);
      const error = await failed;
      await blocker.query('ROLLBACK');
      await blocker.end();

      expect(error).toMatchObject({ code: 'FSM_STORE', context: { operation: 'commit', machine: M, id: rec.id } });
      expect((error as Error).message).toContain(rec.id);
      expect((error as Error).message).toMatch(/connection/i);
      await expectUntouched(rec, 0, 0);

      const retried = nextRecord(rec);
      await single.commit({ record: retried, expectedVersion: 1, history: [historyRecord(rec, 1)], events: [event(rec, 1)] });
      await expectUntouched({ ...retried, version: 2 }, 1, 1);
    });

    it('a statement over queryTimeoutMs fails with FSM_STORE and leaves the last committed state', async () => {
      const impatient = open({ poolSize: 1, queryTimeoutMs: 300 });
      const rec = instanceRecord(M);
      await impatient.insert(rec, []);
      const blocker = await lockRow(rec.id);
      const started = Date.now();
      const error = await impatient.commit({ record: nextRecord(rec), expectedVersion: 1, history: [historyRecord(rec, 1)], events: [] }).catch((e: unknown) => e);
      const waited = Date.now() - started;
      await blocker.query('ROLLBACK');
      await blocker.end();
      expect(error).toMatchObject({ code: 'FSM_STORE' });
      expect((error as Error).cause).toMatchObject({ code: 'QUERY_TIMEOUT' });
      expect((error as Error).message).toContain('queryTimeoutMs (300 ms)');
      expect(waited).toBeLessThan(5000);
      await expectUntouched(rec, 0, 0);
      const retried = nextRecord(rec);
      await impatient.commit({ record: retried, expectedVersion: 1, history: [], events: [] });
      expect((await impatient.get(M, rec.id))!.version).toBe(2);
    });
  });
});
