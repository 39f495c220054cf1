/**
 * On its own pool the store sends a commit as text, with the values inlined: they must arrive
 * exactly as they were, whatever they hold. A caller's pool takes the statement-by-statement
 * path; both are checked.
 */
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlStore, createPool, type MysqlStore } from '../src/index.js';
import { dropTablesWithPrefix, mysqlUnavailable, rawConnection, tablesWithPrefix, uniquePrefix } from './support/db.js';
import { event, historyRecord, instanceRecord, nextRecord } from './support/records.js';

const unavailable = await mysqlUnavailable();

const HOSTILE = [
  `{"json":{"q":"it's","sql":"'; DROP TABLE x; --"}}`,
  '{"json":{"b":"back\\\\slash \\\\\' \\" \\n"}}',
  `{"json":{"nul":"a\u0000b","z":"\u001a","emoji":"😀 ü ß 中"}}`,
  '\\',
  "'",
  '?',
];

describe.skipIf(unavailable !== null)('MysqlStore commits sent as text', () => {
  const prefix = uniquePrefix();
  const M = 'order';
  let own: MysqlStore;
  let theirs: MysqlStore;
  let raw: Connection;

  beforeAll(async () => {
    own = createMysqlStore({ tablePrefix: prefix, poolSize: 2 });
    // A caller's pool, without multiple statements: the store sends statement by statement.
    theirs = createMysqlStore({ tablePrefix: prefix, pool: createPool({ poolSize: 2 }) });
    await own.ensureSchema([{ name: M }]);
    raw = await rawConnection();
  });
  afterAll(async () => {
    await own?.close();
    await theirs?.pool.end();
    await raw?.end();
    await dropTablesWithPrefix(prefix);
  });

  for (const which of ['own', 'theirs'] as const) {
    it(`keeps every byte of hostile data, history and events (${which} pool)`, async () => {
      const store = which === 'own' ? own : theirs;
      for (const text of HOSTILE) {
        const rec = instanceRecord(M);
        await store.insert(rec, []);
        const next = nextRecord(rec, { serializedState: text, pauseReason: text, lastError: { name: 'E', message: text } });
        const h = historyRecord(rec, 1, { dataBefore: text, dataAfter: text, metadata: { text } });
        const e = event(rec, 1, { data: { text } });
        await store.commit({ record: next, expectedVersion: 1, history: [h], events: [e] });
        expect(await store.get(M, rec.id)).toMatchObject({ version: 2, serializedState: text, pauseReason: text, lastError: { message: text } });
        expect(await store.history(M, rec.id)).toMatchObject([{ dataBefore: text, dataAfter: text, metadata: { text }, startedAt: h.startedAt }]);
        const [rows] = await raw.query<RowDataPacket[]>(`SELECT payload FROM \`${prefix}outbox\` WHERE event_id = ?`, [e.eventId]);
        expect(JSON.parse(rows[0]!['payload'] as string)).toMatchObject({ data: { text } });
      }
      expect(await tablesWithPrefix(prefix)).toContain(`${prefix}${M}`);
    });
  }

  it('a commit too large for one packet goes statement by statement', async () => {
    const rec = instanceRecord(M);
    await own.insert(rec, []);
    const big = `{"json":"${'x'.repeat(1_200_000)}"}`;
    await own.commit({ record: nextRecord(rec, { serializedState: big }), expectedVersion: 1, history: [historyRecord(rec, 1, { dataAfter: big })], events: [] });
    expect((await own.get(M, rec.id))!.serializedState).toBe(big);
    expect((await own.history(M, rec.id))[0]!.dataAfter).toBe(big);
  });
});
