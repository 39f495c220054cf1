/**
 * A commit chosen as a deadlock's victim is rolled back whole by the server, so the store runs
 * it again rather than failing the drive (whose instance would then wait for its lease to run
 * out). The deadlock is made on purpose: a parent's join check share-locks its ended children
 * in index order while another transaction, heavier so that the server picks the commit as the
 * victim, holds the second child and then asks for the first.
 */
import type { InstanceRecord } from '@fsmkit/runtime';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlStore, type MysqlStore } from '../src/index.js';
import { dropTablesWithPrefix, mysqlUnavailable, rawConnection, uniquePrefix } from './support/db.js';
import { instanceRecord, nextRecord } from './support/records.js';

const unavailable = await mysqlUnavailable();

describe.skipIf(unavailable !== null)('MysqlStore commit chosen as a deadlock victim', () => {
  const prefix = uniquePrefix();
  let store: MysqlStore;
  let other: Connection;

  beforeAll(async () => {
    store = createMysqlStore({ tablePrefix: prefix, poolSize: 4 });
    await store.ensureSchema([{ name: 'par' }, { name: 'kid' }]);
    other = await rawConnection();
  });
  afterAll(async () => {
    await store?.close();
    await other?.end();
    await dropTablesWithPrefix(prefix);
  });

  /** Until some transaction waits for a row lock (the commit, behind `other`). */
  async function lockWait(): Promise<void> {
    for (;;) {
      const [rows] = await other.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'");
      if (Number(rows[0]!["n"]) > 0) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it("runs a parent's join check again when it loses a deadlock, and it lands", async () => {
    const parent = instanceRecord('par', { status: 'running', currentState: 'fan' });
    await store.insert(parent, []);
    const kids: InstanceRecord[] = [];
    for (let i = 0; i < 2; i++) kids.push(instanceRecord('kid', { status: 'done', parentMachine: 'par', parentId: parent.id }));
    kids.sort((a, b) => (a.id < b.id ? -1 : 1));
    for (const k of kids) await store.insert(k, []);
    // Rows the other transaction writes first, to weigh more than the commit.
    for (let i = 0; i < 30; i++) await store.insert(instanceRecord('kid'), []);
    const kidTable = `${prefix}kid`;
    const deadlocks = async () => Number((await other.query<RowDataPacket[]>("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'"))[0][0]!['Value']);
    const before = await deadlocks();

    await other.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
    await other.query('START TRANSACTION');
    await other.query(`UPDATE \`${kidTable}\` SET \`attempts\` = \`attempts\` + 1 WHERE \`parent_id\` IS NULL`);
    await other.query(`UPDATE \`${kidTable}\` SET \`attempts\` = 1 WHERE \`id\` = ?`, [kids[1]!.id]);
    // The parent starts waiting for its children: its join check share-locks the first, then waits for the second.
    const waiting = nextRecord(parent, { status: 'waiting', currentState: 'fan', waitingFor: '{"kind":"children"}' });
    const commit = store.commit({ record: waiting, previous: parent, expectedVersion: parent.version, history: [], events: [], joinCheck: { machines: ['kid'], ended: 0 } });
    const outcome = commit.then(
      () => 'committed',
      (error: unknown) => error,
    );
    await lockWait();
    // Now the first child, share-locked by the commit: a deadlock, which the lighter commit loses.
    await other.query(`UPDATE \`${kidTable}\` SET \`attempts\` = 2 WHERE \`id\` = ?`, [kids[0]!.id]);
    await other.query('COMMIT');

    expect(await outcome).toBe('committed');
    expect(await deadlocks()).toBeGreaterThan(before);
    expect(await store.get('par', parent.id)).toMatchObject({ status: 'waiting', version: parent.version + 1 });
  });
});
