import type { Connection, RowDataPacket } from 'mysql2/promise';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlStore, type MysqlStore } from '../src/index.js';
import { dropTablesWithPrefix, MYSQL_URL, mysqlUnavailable, rawConnection, uniquePrefix } from './support/db.js';
import { event, historyRecord, instanceRecord, nextRecord } from './support/records.js';

const unavailable = await mysqlUnavailable();
const PACKET = 1_048_576;

/**
 * Each row fits the server's max_allowed_packet, all of a commit's rows together do not: the
 * store splits its INSERTs (and its one-round-trip batches) to fit, on its pool or a caller's.
 */
describe.skipIf(unavailable !== null)('commits larger than max_allowed_packet', () => {
  const prefix = uniquePrefix();
  const M = 'order';
  let raw: Connection;
  let saved: number;
  const stores: Array<{ label: string; store: MysqlStore }> = [];

  beforeAll(async () => {
    raw = await rawConnection();
    const [rows] = await raw.query<RowDataPacket[]>('SELECT @@GLOBAL.max_allowed_packet AS p');
    saved = Number(rows[0]!['p']);
    // New connections take the global value: open every pooled connection now, then restore it at once.
    await raw.query('SET GLOBAL max_allowed_packet = ?', [PACKET]);
    try {
      const caller = mysql.createPool({ uri: MYSQL_URL, timezone: 'Z', connectionLimit: 2 });
      stores.push({ label: 'own pool', store: createMysqlStore({ tablePrefix: prefix, poolSize: 2 }) });
      stores.push({ label: "caller's pool", store: createMysqlStore({ tablePrefix: prefix, pool: caller }) });
      const conns = await Promise.all(stores.flatMap(({ store }) => [store.pool.getConnection(), store.pool.getConnection()]));
      for (const c of conns) c.release();
    } finally {
      await raw.query('SET GLOBAL max_allowed_packet = ?', [saved]);
    }
    await stores[0]!.store.ensureSchema([{ name: M }]);
  });
  afterAll(async () => {
    for (const { store } of stores) await store.close();
    await stores[1]?.store.pool.end();
    await raw?.end();
    await dropTablesWithPrefix(prefix);
  });

  it('runs its pools with the small limit', async () => {
    for (const { store } of stores) {
      const [rows] = await store.pool.query<RowDataPacket[]>('SELECT @@max_allowed_packet AS p');
      expect(Number(rows[0]!['p'])).toBe(PACKET);
    }
  });

  it('splits history rows that together outgrow the packet (the full path)', async () => {
    for (const { label, store } of stores) {
      const rec = instanceRecord(M);
      await store.insert(rec, []);
      const big = (n: number) => JSON.stringify({ json: { n, pad: 'x'.repeat(200_000) } });
      const history = [1, 2, 3].map((seq) => historyRecord(rec, seq, { dataBefore: big(seq), dataAfter: big(seq + 1), attempt: seq }));
      await store.commit({ record: nextRecord(rec, { historySeq: 3 }), expectedVersion: 1, history, events: [] });
      const stored = await store.history(M, rec.id);
      expect(stored.map((h) => h.seq), label).toEqual([1, 2, 3]);
      expect(stored.map((h) => h.dataAfter)).toEqual([big(2), big(3), big(4)]);
    }
  });

  it('sends a one-round-trip commit statement by statement when its bytes outgrow the packet', async () => {
    // Under a million characters, so the batch is tried, but two bytes each.
    const wide = (n: number) => JSON.stringify({ json: { n, pad: 'é'.repeat(140_000) } });
    for (const { label, store } of stores) {
      const rec = instanceRecord(M);
      await store.insert(rec, []);
      const history = [1, 2].map((seq) => historyRecord(rec, seq, { dataBefore: wide(seq), dataAfter: wide(seq + 1) }));
      await store.commit({ record: nextRecord(rec, { historySeq: 2 }), previous: rec, expectedVersion: 1, history, events: [event(rec, 1)] });
      expect((await store.history(M, rec.id)).map((h) => h.dataBefore), label).toEqual([wide(1), wide(2)]);
    }
  });

  it('reads the limit on a transaction\'s own connection: a pool of one does not wait for itself', async () => {
    const single = createMysqlStore({ tablePrefix: prefix, poolSize: 1, queryTimeoutMs: 3000 });
    try {
      // The first call of a new store, so the limit is not known yet.
      const rec = instanceRecord(M);
      await single.insert(rec, [event(rec, 1)]);
      await single.commit({ record: nextRecord(rec), expectedVersion: 1, history: [historyRecord(rec, 1)], events: [event(rec, 2)] });
      expect((await single.get(M, rec.id))?.version).toBe(2);
    } finally {
      await single.close();
    }
  });

  it('splits outbox rows that together outgrow the packet', async () => {
    for (const { label, store } of stores) {
      const rec = instanceRecord(M);
      const events = [1, 2, 3, 4, 5, 6].map((n) => event(rec, n, { data: { pad: 'y'.repeat(200_000), n } }));
      await store.insert(rec, events);
      const [rows] = await raw.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${prefix}outbox\` WHERE instance_id = ?`, [rec.id]);
      expect(Number(rows[0]!['n']), label).toBe(6);
    }
  });
});
