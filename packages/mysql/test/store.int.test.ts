import { FsmError, type InstanceRecord } from '@fsmkit/runtime';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlStore, createPool, type MysqlStore } from '../src/index.js';
import { dropTablesWithPrefix, mysqlUnavailable, rawConnection, tablesWithPrefix, uniquePrefix } from './support/db.js';
import { historyQuery } from '../src/history-query.js';
import { MachineSql } from '../src/machine-sql.js';
import { event, historyRecord, instanceRecord, nextRecord } from './support/records.js';
import { storeContract } from './support/store-contract.js';

const unavailable = await mysqlUnavailable();

describe.skipIf(unavailable !== null)('MysqlStore', () => {
  const prefix = uniquePrefix();
  const M = 'order';
  let store: MysqlStore;
  let raw: Connection;

  beforeAll(async () => {
    store = createMysqlStore({ tablePrefix: prefix, poolSize: 4 });
    await store.ensureSchema([{ name: M }, { name: 'other' }]);
    raw = await rawConnection();
  });
  afterAll(async () => {
    await store?.close();
    await raw?.end();
    await dropTablesWithPrefix(prefix);
  });

  const count = async (sql: string, params: unknown[]): Promise<number> => {
    const [rows] = await raw.query<RowDataPacket[]>(sql, params);
    return Number(rows[0]!['n']);
  };
  const historyRows = (id: string) => count(`SELECT COUNT(*) AS n FROM \`${prefix}${M}_history\` WHERE instance_id = ?`, [id]);
  const outboxRows = (id: string) => count(`SELECT COUNT(*) AS n FROM \`${prefix}outbox\` WHERE instance_id = ?`, [id]);

  it('ensureSchema creates the tables once and is idempotent', async () => {
    await store.ensureSchema([{ name: M }, { name: 'other' }]);
    expect(await tablesWithPrefix(prefix)).toEqual(
      ['global_lock', 'inbox', 'inbox_lock', 'local_lock', 'migrations', 'order', 'order_history', 'other', 'other_history', 'outbox'].map((t) => prefix + t),
    );
  });

  it('round-trips every field of an instance: dates to the millisecond, nulls, booleans, unicode', async () => {
    const full = instanceRecord(M, {
      userId: 'üser-😀',
      currentState: 'état',
      status: 'failed',
      direction: 'backward',
      resumeFromStep: 3,
      saveAfterStep: false,
      isGlobalLock: true,
      isLocalLock: false,
      pauseRequested: true,
      pauseReason: 'operator 😀',
      lastError: { name: 'TypeError', message: 'card declined', code: 'E_CARD', stack: 'TypeError: card declined\n    at x' },
      attempts: 2,
      nextRunAt: new Date('2030-01-02T03:04:05.678Z'),
      historySeq: 7,
      eventSeq: 9,
      version: 5,
      definitionVersion: 3,
      createdAt: new Date('2026-11-22T23:59:59.999Z'),
      updatedAt: new Date('2026-11-23T00:00:00.001Z'),
    });
    const empty = instanceRecord(M, {
      userId: null,
      kafkaEventTopic: null,
      resumeFromStep: null,
      saveAfterStep: true,
      isGlobalLock: false,
      isLocalLock: false,
      serializedState: '',
    });
    await store.insert(full, []);
    await store.insert(empty, []);
    // nextRunAt is stored against the database clock (workers compare it with that clock): the
    // same instant as far as this host's and the server's clocks agree, here within a second.
    const { nextRunAt, ...read } = (await store.get(M, full.id))!;
    const { nextRunAt: written, ...rest } = full;
    expect(read).toEqual(rest);
    expect(Math.abs(nextRunAt!.getTime() - written!.getTime())).toBeLessThan(1000);
    // Stored in UTC whatever the process time zone, so other clients read the same instant.
    const [stored] = await raw.query<RowDataPacket[]>(
      `SELECT DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s.%f') AS c, is_global_lock AS g, last_error AS e FROM \`${prefix}${M}\` WHERE id = ?`,
      [full.id],
    );
    expect(stored[0]).toMatchObject({ c: '2026-11-22 23:59:59.999000', g: 1 });
    expect(JSON.parse(stored[0]!['e'] as string)).toEqual(full.lastError);
    expect(await store.get(M, empty.id)).toEqual(empty);
    expect(await store.get(M, '01900000-0000-7000-8000-000000000000')).toBeUndefined();
    expect(await store.get('other', full.id)).toBeUndefined();
  });

  it('commit writes the instance, its history rows and its outbox rows in one transaction', async () => {
    const rec = instanceRecord(M);
    await store.insert(rec, [event(rec, 1, { type: 'instance.created', from: '', to: 'reserve' })]);
    const next = nextRecord(rec, { historySeq: 2, eventSeq: 3, lastError: { name: 'Error', message: 'retried' }, attempts: 1 });
    const h1 = historyRecord(rec, 1, { error: { name: 'Error', message: 'boom', code: 'E1' }, attempt: 1 });
    const h2 = historyRecord(rec, 2, { attempt: 2, metadata: { charged: 42, nested: { ok: true } } });
    const e2 = event(rec, 2);
    const e3 = event(rec, 3, { type: 'instance.waiting', step: null, data: { big: '9007199254740993' } });
    const result = await store.commit({ record: next, expectedVersion: rec.version, history: [h1, h2], events: [e2, e3] });
    expect(result).toEqual({ pauseRequested: false, pauseReason: null });

    expect(await store.get(M, rec.id)).toEqual({ ...next, version: rec.version + 1 });
    expect(await store.history(M, rec.id)).toEqual([h1, h2]);

    const [rows] = await raw.query<RowDataPacket[]>(
      `SELECT event_id, topic, message_key, machine, instance_id, sequence, event_type, payload, headers, created_at, sent_at
       FROM \`${prefix}outbox\` WHERE instance_id = ? ORDER BY sequence`,
      [rec.id],
    );
    expect(rows).toHaveLength(3);
    const [, r2, r3] = rows;
    expect(r2).toMatchObject({ event_id: e2.eventId, topic: 'orders.fsm', message_key: rec.id, machine: M, instance_id: rec.id, sequence: 2, event_type: 'step.completed', sent_at: null });
    expect(JSON.parse(r2!['payload'] as string)).toEqual(e2);
    expect(JSON.parse(r3!['payload'] as string)).toEqual(e3);
    expect(JSON.parse(r3!['headers'] as string)).toEqual({
      'fsm-event-type': 'instance.waiting',
      'fsm-schema-version': '1',
      'fsm-machine': M,
      'fsm-event-id': e3.eventId,
    });
    expect((r3!['created_at'] as Date).toISOString()).toBe(e3.time);
  });

  describe('a commit given the previous record writes only the fields that changed', () => {
    // A column changed behind the store's back (no new version) shows which columns a commit sent.
    const tamper = (id: string) => raw.query(`UPDATE \`${prefix}${M}\` SET user_id = 'tampered', kafka_event_topic = 'tampered' WHERE id = ?`, [id]);

    for (const withHistory of [false, true]) {
      it(`${withHistory ? 'with history rows' : 'alone'}: unchanged fields are left as stored, changed ones written`, async () => {
        const rec = instanceRecord(M);
        await store.insert(rec, []);
        await tamper(rec.id);
        const next = nextRecord(rec, { kafkaEventTopic: 'orders.v2', lastError: { name: 'Error', message: 'retried' }, attempts: 1 });
        const history = withHistory ? [historyRecord(rec, 1)] : [];
        await store.commit({ record: next, previous: rec, expectedVersion: rec.version, history, events: [] });
        // user_id was unchanged from `previous`, so not sent; the topic was changed, so written.
        expect(await store.get(M, rec.id)).toEqual({ ...next, userId: 'tampered' });

        // Without `previous`, every field is written.
        await tamper(rec.id);
        const last = nextRecord(next);
        await store.commit({ record: last, expectedVersion: next.version, history: [], events: [] });
        expect(await store.get(M, rec.id)).toEqual(last);
      });
    }

    it('dates equal to the millisecond count as unchanged, a new error object as changed', async () => {
      const rec = instanceRecord(M, { nextRunAt: new Date('2030-01-01T00:00:00.000Z'), lastError: { name: 'Error', message: 'first' } });
      await store.insert(rec, []);
      await raw.query(`UPDATE \`${prefix}${M}\` SET next_run_at = '2031-01-01 00:00:00.000', last_error = '{"name":"Error","message":"behind"}' WHERE id = ?`, [rec.id]);
      const next = nextRecord(rec, { nextRunAt: new Date(rec.nextRunAt!.getTime()), lastError: { name: 'Error', message: 'first' } });
      await store.commit({ record: next, previous: rec, expectedVersion: rec.version, history: [], events: [] });
      const stored = await store.get(M, rec.id);
      expect(stored?.nextRunAt).toEqual(new Date('2031-01-01T00:00:00.000Z'));
      expect(stored?.lastError).toEqual({ name: 'Error', message: 'first' });
    });
  });

  it('a stale version throws FSM_STALE_VERSION naming machine, id and version, and writes nothing', async () => {
    const rec = instanceRecord(M);
    await store.insert(rec, []);
    const first = nextRecord(rec);
    await store.commit({ record: first, expectedVersion: rec.version, history: [historyRecord(rec, 1)], events: [event(rec, 1)] });

    const stale = nextRecord(rec, { currentState: 'ship', historySeq: 5 });
    const error = await store
      .commit({ record: stale, expectedVersion: rec.version, history: [historyRecord(rec, 2)], events: [event(rec, 2)] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FsmError);
    expect(error).toMatchObject({ code: 'FSM_STALE_VERSION', context: { machine: M, id: rec.id, expected: 1, actual: 2 } });
    expect((error as Error).message).toContain(rec.id);
    expect((error as Error).message).toContain(M);
    expect(await store.get(M, rec.id)).toEqual({ ...first, version: 2 });
    expect(await historyRows(rec.id)).toBe(1);
    expect(await outboxRows(rec.id)).toBe(1);
  });

  it('of many writers racing from the same version, exactly one commits', async () => {
    const rec = instanceRecord(M);
    await store.insert(rec, []);
    const outcomes = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        store
          .commit({ record: nextRecord(rec, { currentState: `s${i}` }), expectedVersion: 1, history: [historyRecord(rec, 1)], events: [event(rec, 1)] })
          .then(() => 'ok', (e: unknown) => (e as FsmError).code),
      ),
    );
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'FSM_STALE_VERSION')).toHaveLength(7);
    const winner = outcomes.indexOf('ok');
    expect((await store.get(M, rec.id))!).toMatchObject({ version: 2, currentState: `s${winner}` });
    expect(await historyRows(rec.id)).toBe(1);
    expect(await outboxRows(rec.id)).toBe(1);
  });

  it('a commit of a missing row throws FSM_NOT_FOUND, not a stale version', async () => {
    const ghost = instanceRecord(M);
    const error = await store.commit({ record: nextRecord(ghost), expectedVersion: 1, history: [historyRecord(ghost, 1)], events: [] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'FSM_NOT_FOUND', context: { machine: M, id: ghost.id } });
    expect(await historyRows(ghost.id)).toBe(0);
  });

  it('requestPause sets the flag without bumping the version; commit keeps and reports it until cleared', async () => {
    const rec = instanceRecord(M);
    await store.insert(rec, []);
    expect(await store.requestPause(M, rec.id, 'operator')).toBe(true);
    expect(await store.requestPause(M, rec.id, 'operator')).toBe(true); // same values again still counts
    expect(await store.requestPause(M, '01900000-0000-7000-8000-000000000000', 'x')).toBe(false);
    const asked = (await store.get(M, rec.id))!;
    expect([asked.version, asked.pauseRequested, asked.pauseReason]).toEqual([1, true, 'operator']);

    // The writer read the row before the request: its record says no pause.
    const step = nextRecord(rec);
    expect(await store.commit({ record: step, expectedVersion: 1, history: [historyRecord(rec, 1)], events: [] })).toEqual({
      pauseRequested: true,
      pauseReason: 'operator',
    });
    const kept = (await store.get(M, rec.id))!;
    expect([kept.version, kept.pauseRequested, kept.pauseReason, kept.currentState]).toEqual([2, true, 'operator', 'charge']);
    expect(await historyRows(rec.id)).toBe(1);

    const paused = nextRecord(kept, { status: 'paused', pauseRequested: false, pauseReason: 'operator' });
    expect(await store.commit({ record: paused, expectedVersion: 2, history: [], events: [], clearPauseRequest: true })).toEqual({
      pauseRequested: false,
      pauseReason: 'operator',
    });
    const cleared = (await store.get(M, rec.id))!;
    expect([cleared.version, cleared.status, cleared.pauseRequested]).toEqual([3, 'paused', false]);

    // With the flag clear, the record's own flag is what gets stored.
    const selfPaused = nextRecord(cleared, { pauseRequested: true, pauseReason: 'ctx.pause' });
    expect(await store.commit({ record: selfPaused, expectedVersion: 3, history: [], events: [] })).toEqual({
      pauseRequested: true,
      pauseReason: 'ctx.pause',
    });
  });

  it('checks fencing tokens inside the commit and refuses a lost lease with FSM_LOCK_LOST', async () => {
    const rec = instanceRecord(M);
    await store.insert(rec, []);
    const key = `local:user:${rec.id}`;
    await raw.query(
      `INSERT INTO \`${prefix}local_lock\` (id, lock_key, state_machine_id, machine, owner, token, lock_timestamp, expires_at)
       VALUES (?, ?, ?, ?, 'w1', 7, NOW(3), NOW(3) + INTERVAL 1 MINUTE)`,
      [rec.id, key, rec.id, M],
    );
    const ok = nextRecord(rec);
    await store.commit({ record: ok, expectedVersion: 1, history: [], events: [], fence: [{ key, token: 7 }] });
    expect((await store.get(M, rec.id))!.version).toBe(2);

    for (const fence of [[{ key, token: 6 }], [{ key: 'global', token: 1 }]]) {
      const error = await store
        .commit({ record: nextRecord(ok), expectedVersion: 2, history: [historyRecord(rec, 1)], events: [event(rec, 1)], fence })
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'FSM_LOCK_LOST', context: { key: fence[0]!.key } });
    }
    expect((await store.get(M, rec.id))!.version).toBe(2);
    expect(await historyRows(rec.id)).toBe(0);
    expect(await outboxRows(rec.id)).toBe(0);
  });

  it('insert writes its events to the outbox; a duplicate id throws FSM_STORE and adds nothing', async () => {
    const rec = instanceRecord(M);
    await store.insert(rec, [event(rec, 1, { type: 'instance.created' })]);
    expect(await outboxRows(rec.id)).toBe(1);
    const error = await store.insert(rec, [event(rec, 2)]).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'FSM_STORE', context: { operation: 'insert', machine: M, id: rec.id } });
    expect((error as Error).cause).toMatchObject({ code: 'ER_DUP_ENTRY' });
    expect(await outboxRows(rec.id)).toBe(1);
  });

  it('runs its own connections in READ COMMITTED', async () => {
    const [rows] = await store.pool.query<RowDataPacket[]>('SELECT @@SESSION.tx_isolation AS level');
    expect(rows[0]!['level']).toBe('READ-COMMITTED');
  });

  it('works on a pool it is given, which it leaves open on close', async () => {
    const pool = createPool({ poolSize: 2 });
    try {
      const borrowed = createMysqlStore({ pool, tablePrefix: prefix });
      const rec = instanceRecord(M);
      await borrowed.insert(rec, []);
      const next = nextRecord(rec);
      expect(await borrowed.commit({ record: next, expectedVersion: 1, history: [historyRecord(rec, 1)], events: [event(rec, 1)] })).toEqual({
        pauseRequested: false,
        pauseReason: null,
      });
      await borrowed.close();
      expect(await store.get(M, rec.id)).toEqual({ ...next, version: 2 });
      const [rows] = await pool.query<RowDataPacket[]>('SELECT 1 AS one');
      expect(rows[0]!['one']).toBe(1);
    } finally {
      await pool.end();
    }
  });

  describe('list and currentStates', () => {
    const L = 'other';
    const recs: InstanceRecord[] = [];
    const base = Date.parse('2026-01-01T00:00:00.000Z');
    beforeAll(async () => {
      const statuses = ['ready', 'waiting', 'done', 'waiting', 'failed', 'ready'] as const;
      for (let i = 0; i < 6; i++) {
        const r = instanceRecord(L, {
          userId: i % 2 === 0 ? 'even' : 'odd',
          status: statuses[i]!,
          currentState: i < 3 ? 'a' : 'b',
          createdAt: new Date(base + i * 1000),
          // Updated in the reverse order of creation, with a tie.
          updatedAt: new Date(base + 100_000 - Math.min(i, 4) * 1000),
        });
        recs.push(r);
        await store.insert(r, []);
      }
    });
    const ids = (rs: InstanceRecord[]) => rs.map((r) => recs.indexOf(recs.find((x) => x.id === r.id)!));

    it('filters by user, one or many statuses and states, and date ranges', async () => {
      expect(ids(await store.list(L))).toEqual([0, 1, 2, 3, 4, 5]);
      expect(ids(await store.list(L, { userId: 'odd' }))).toEqual([1, 3, 5]);
      expect(ids(await store.list(L, { status: 'waiting' }))).toEqual([1, 3]);
      expect(ids(await store.list(L, { status: ['ready', 'failed'] }))).toEqual([0, 4, 5]);
      expect(ids(await store.list(L, { status: [] }))).toEqual([]);
      expect(ids(await store.list(L, { currentState: 'b', userId: 'even' }))).toEqual([4]);
      expect(ids(await store.list(L, { currentState: ['a', 'b'], status: 'ready' }))).toEqual([0, 5]);
      expect(ids(await store.list(L, { createdAfter: new Date(base + 2000), createdBefore: new Date(base + 4000) }))).toEqual([2, 3]);
      expect(ids(await store.list(L, { updatedAfter: new Date(base + 97_000), updatedBefore: new Date(base + 99_000) }))).toEqual([2, 3]);
      expect(ids(await store.list(L, { userId: "odd' OR '1'='1" }))).toEqual([]);
    });

    it('orders by id, createdAt or updatedAt (ties by id), both ways, with limit and offset', async () => {
      expect(ids(await store.list(L, { order: 'desc' }))).toEqual([5, 4, 3, 2, 1, 0]);
      expect(ids(await store.list(L, { orderBy: 'createdAt', order: 'desc', limit: 2 }))).toEqual([5, 4]);
      expect(ids(await store.list(L, { orderBy: 'updatedAt' }))).toEqual([4, 5, 3, 2, 1, 0]);
      expect(ids(await store.list(L, { orderBy: 'updatedAt', order: 'desc', limit: 3, offset: 1 }))).toEqual([1, 2, 3]);
      expect(ids(await store.list(L, { offset: 4 }))).toEqual([4, 5]);
      expect(ids(await store.list(L, { limit: 0 }))).toEqual([]);
      await expect(store.list(L, { limit: -1 })).rejects.toThrow(RangeError);
    });

    it('currentStates reads many ids in the caller order, unknown ones absent, across chunks', async () => {
      const many = [...Array.from({ length: 1200 }, (_, i) => `missing-${i}`), recs[5]!.id, recs[0]!.id];
      const states = await store.currentStates(L, many);
      expect([...states.entries()]).toEqual([
        [recs[5]!.id, 'b'],
        [recs[0]!.id, 'a'],
      ]);
      expect((await store.currentStates(L, [])).size).toBe(0);
    });
  });
});

describe.skipIf(unavailable !== null)('MysqlStore, the shared store contract', () => {
  const prefix = uniquePrefix();
  const machines = { paging: 'paging', prune: 'pruning', race: 'racing' };
  let store: MysqlStore;

  beforeAll(async () => {
    store = createMysqlStore({ tablePrefix: prefix, poolSize: 4 });
    await store.ensureSchema(Object.values(machines).map((name) => ({ name })));
  });
  afterAll(async () => {
    await store?.close();
    await dropTablesWithPrefix(prefix);
  });

  storeContract('mysql', () => ({ store, machines }));

  it('reads no data column for a history without data', () => {
    const o = { order: 'asc', withData: false } as const;
    const text = historyQuery(new MachineSql('paging', { tablePrefix: prefix }), 'x', o).sql;
    expect(text).toContain("'' AS `data_before`");
    expect(text.replace(/'' AS `data_(before|after)`/g, '')).not.toContain('data_');
  });
});
