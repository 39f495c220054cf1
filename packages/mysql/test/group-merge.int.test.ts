/**
 * A group of commits writes the history rows of all its commits for one table in one multi-row
 * INSERT, likewise its outbox rows, and the instance rows of its unfenced commits on one table
 * in one UPDATE. Every row must land exactly as if each commit had been its own transaction
 * (same values, same order), whatever the text and the server's sql_mode, and a commit that
 * fails must still fail alone, writing nothing.
 */
import { CHILDREN_WAIT, QUEUED_CHILD, type Commit, type InstanceRecord } from '@fsmkit/runtime';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlStore, type MysqlStore } from '../src/index.js';
import { HISTORY_COLUMNS, OUTBOX_COLUMNS } from '../src/rows.js';
import { dropTablesWithPrefix, mysqlUnavailable, rawConnection, uniquePrefix } from './support/db.js';
import { event, historyRecord, instanceRecord, nextRecord } from './support/records.js';

const unavailable = await mysqlUnavailable();
const MACHINES = ['order', 'ship'];
const COUNT = 24;
/** Small, so that a group of large commits meets it. */
const PACKET = 1_048_576;

describe.skipIf(unavailable !== null)('MysqlStore group commit: one statement per table', () => {
  const grouped = uniquePrefix();
  const single = uniquePrefix();
  const canary = `${grouped}c`;
  const drop = `DROP TABLE ${canary}`;
  const hostile = [`'; ${drop}; -- `, `\\'; ${drop}; -- `, `\\\\'; ${drop}; #`, `x\0'\x1a"; ${drop}; -- `, 'é😀\\n'];
  let raw: Connection;
  /** Commits grouped: one lane, one connection (so its session counters see every statement). */
  let store: MysqlStore;
  /** Every commit its own transaction. */
  let alone: MysqlStore;
  /** Grouped, on a server whose max_allowed_packet is PACKET. */
  let small: MysqlStore;

  beforeAll(async () => {
    raw = await rawConnection();
    await raw.query(`CREATE TABLE ${canary} (n INT NOT NULL)`);
    await raw.query(`INSERT INTO ${canary} VALUES (1)`);
    const [rows] = await raw.query<RowDataPacket[]>('SELECT @@GLOBAL.sql_mode AS m, @@GLOBAL.max_allowed_packet AS p');
    const saved = { mode: rows[0]!['m'] as string, packet: Number(rows[0]!['p']) };
    // New connections take the global settings: every pool opens its connections before they are restored.
    await raw.query("SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',NO_BACKSLASH_ESCAPES')");
    try {
      store = createMysqlStore({ tablePrefix: grouped, poolSize: 1, groupCommit: { lanes: 1 } });
      alone = createMysqlStore({ tablePrefix: single, poolSize: 2, groupCommit: false });
      const conns = await Promise.all([store.pool.getConnection(), alone.pool.getConnection(), alone.pool.getConnection()]);
      for (const c of conns) c.release();
      await raw.query('SET GLOBAL max_allowed_packet = ?', [PACKET]);
      small = createMysqlStore({ tablePrefix: grouped, poolSize: 1, groupCommit: { lanes: 1 } });
      (await small.pool.getConnection()).release();
    } finally {
      await raw.query('SET GLOBAL sql_mode = ?, GLOBAL max_allowed_packet = ?', [saved.mode, saved.packet]);
    }
    await store.ensureSchema(MACHINES.map((name) => ({ name })));
    await alone.ensureSchema(MACHINES.map((name) => ({ name })));
  });
  afterAll(async () => {
    await store?.close();
    await alone?.close();
    await small?.close();
    await raw?.query(`DROP TABLE IF EXISTS ${canary}`);
    await raw?.end();
    await dropTablesWithPrefix(grouped);
    await dropTablesWithPrefix(single);
  });

  const text = (i: number, field: string) => `${hostile[i % hostile.length]}${field}${i}`;

  /** Instances of both machines, stored by both stores under the same ids. */
  async function instances(count: number, on: MysqlStore[]): Promise<InstanceRecord[]> {
    const records = Array.from({ length: count }, (_, i) => instanceRecord(MACHINES[i % 2]!, { userId: text(i, 'u') }));
    for (const s of on) for (const r of records) await s.insert(r, []);
    return records;
  }

  /** One step of `r`: two history rows and two events, hostile text in every text field. */
  function stepOf(r: InstanceRecord, i: number, expectedVersion = r.version): Commit {
    const t = (field: string) => text(i, field);
    const history = [1, 2].map((seq) =>
      historyRecord(r, seq, {
        handler: t('h').slice(0, 64),
        step: t('s').slice(0, 64),
        stateBefore: t('b').slice(0, 64),
        stateAfter: t('a').slice(0, 64),
        dataBefore: JSON.stringify({ json: t('db') }),
        dataAfter: t('da'),
        metadata: { note: t('m') },
        error: { name: t('en'), message: t('em') },
        transition: t('t').slice(0, 64),
        actor: t('ac'),
        result: t('r'),
        attempt: seq,
      }),
    );
    const events = [1, 2].map((sequence) => event(r, sequence, { topic: t('topic'), userId: t('key'), step: t('s'), from: t('f'), to: t('to'), data: { note: t('d') } }));
    return { record: nextRecord(r, { historySeq: 2, eventSeq: 2 }), previous: r, expectedVersion, history, events };
  }

  async function historyRows(prefix: string, ids: string[]): Promise<unknown[]> {
    const out: unknown[] = [];
    for (const m of MACHINES) {
      const [rows] = await raw.query<RowDataPacket[]>(`SELECT ${HISTORY_COLUMNS.map((c) => `\`${c}\``).join(', ')} FROM \`${prefix}${m}_history\` WHERE instance_id IN (?) ORDER BY instance_id, seq`, [ids]);
      out.push(...rows.map((r) => ({ ...r })));
    }
    return out;
  }

  /** Outbox rows in the order they were written (their auto-increment id). */
  async function outboxRows(prefix: string, ids: string[]): Promise<unknown[]> {
    const [rows] = await raw.query<RowDataPacket[]>(`SELECT ${OUTBOX_COLUMNS.map((c) => `\`${c}\``).join(', ')} FROM \`${prefix}outbox\` WHERE instance_id IN (?) ORDER BY id`, [ids]);
    return rows.map((r) => ({ ...r }));
  }

  /** Statements of a kind the grouped store's one connection ran so far. */
  async function statements(kind: 'insert' | 'update'): Promise<number> {
    const [rows] = await store.pool.query<RowDataPacket[]>(`SHOW SESSION STATUS LIKE 'Com_${kind}'`);
    return Number(rows[0]!['Value']);
  }

  /** Instance rows, every column. */
  async function instanceRows(prefix: string, ids: string[]): Promise<unknown[]> {
    const out: unknown[] = [];
    for (const m of MACHINES) {
      const [rows] = await raw.query<RowDataPacket[]>(`SELECT * FROM \`${prefix}${m}\` WHERE id IN (?) ORDER BY id`, [ids]);
      out.push(...rows.map((r) => ({ ...r })));
    }
    return out;
  }

  const canaryStands = async () => {
    const [rows] = await raw.query<RowDataPacket[]>(`SELECT n FROM ${canary}`);
    expect(rows.map((r) => r['n'])).toEqual([1]);
  };

  it('writes the rows of a group as one commit at a time would, in one INSERT per table and group', async () => {
    const records = await instances(COUNT, [store, alone]);
    const before = { ...store.groupCommits };
    const [inserts, updates] = [await statements('insert'), await statements('update')];
    const commits = records.map((r, i) => stepOf(r, i));
    await Promise.all(commits.map((c) => store.commit(c)));
    const [sent, updated] = [await statements('insert'), await statements('update')];
    for (const c of commits) await alone.commit(c);
    await canaryStands();

    const transactions = store.groupCommits.transactions - before.transactions;
    expect(store.groupCommits.commits - before.commits).toBe(COUNT);
    expect(transactions).toBeLessThan(COUNT / 2);
    // At most three targets per transaction (two history tables and the outbox), where one per commit and table would be 3 * COUNT.
    expect(sent - inserts).toBeLessThanOrEqual(3 * transactions);
    // One UPDATE per machine table and transaction.
    expect(updated - updates).toBeLessThanOrEqual(2 * transactions);
    expect(await instanceRows(grouped, records.map((r) => r.id))).toEqual(await instanceRows(single, records.map((r) => r.id)));

    const ids = records.map((r) => r.id);
    const history = await historyRows(grouped, ids);
    expect(history).toHaveLength(2 * COUNT);
    expect(history).toEqual(await historyRows(single, ids));
    const outbox = await outboxRows(grouped, ids);
    expect(outbox).toHaveLength(2 * COUNT);
    // Same rows in the same order: commit by commit, each commit's events in its order.
    expect(outbox).toEqual(await outboxRows(single, ids));
    expect(outbox.map((o) => (o as { instance_id: string }).instance_id)).toEqual(records.flatMap((r) => [r.id, r.id]));
    expect(await store.history(MACHINES[0]!, records[0]!.id)).toEqual(await alone.history(MACHINES[0]!, records[0]!.id));
  });

  it('writes the instance rows of a group as one commit at a time would: other columns, a pause cleared, a pause pending', async () => {
    const records = await instances(16, [store, alone]);
    for (const s of [store, alone]) for (const [i, r] of records.entries()) if (i % 4 >= 2) await s.requestPause(r.machine, r.id, text(i, 'p'));
    const commits: Commit[] = records.map((r, i) => {
      const c = stepOf(r, i);
      if (i % 4 === 1) return { ...c, record: { ...c.record, lastError: { name: text(i, 'n'), message: text(i, 'e') }, attempts: 3, priority: i, userId: text(i, 'v') } };
      // Clears the pause its caller saw; the next commit does not know of it: the full path keeps it.
      if (i % 4 === 2) return { ...c, record: { ...c.record, pauseReason: text(i, 'q') }, clearPauseRequest: true };
      return c;
    });
    const before = { ...store.groupCommits };
    const together = await Promise.all(commits.map((c) => store.commit(c)));
    expect(store.groupCommits.largest).toBeGreaterThan(1);
    expect(store.groupCommits.transactions - before.transactions).toBeLessThan(commits.length);
    const oneByOne: unknown[] = [];
    for (const c of commits) oneByOne.push(await alone.commit(c));
    expect(together).toEqual(oneByOne);
    expect(together.filter((g) => g.pauseRequested).length).toBe(4);
    const ids = records.map((r) => r.id);
    expect(await instanceRows(grouped, ids)).toEqual(await instanceRows(single, ids));
    // Once more without the pending pauses: every UPDATE of the group matches, merged.
    const next = commits.flatMap((c, i) => {
      if (i % 4 === 3) return [];
      const again = stepOf(c.record, i);
      return [{ ...again, history: again.history.map((h) => ({ ...h, seq: h.seq + 2 })), clearPauseRequest: i % 4 === 2 }];
    });
    const updates = await statements('update');
    await Promise.all(next.map((c) => store.commit(c)));
    expect(await statements('update')).toBeLessThan(updates + next.length);
    for (const c of next) await alone.commit(c);
    expect(await instanceRows(grouped, ids)).toEqual(await instanceRows(single, ids));
    await canaryStands();
  });

  it('a stale commit in a group writes none of its rows; the others write all of theirs, in order', async () => {
    const records = await instances(COUNT, [store]);
    const stale = 7;
    const results = await Promise.allSettled(records.map((r, i) => store.commit(stepOf(r, i, i === stale ? 5 : r.version))));
    expect(results.flatMap((res, i) => (res.status === 'rejected' ? [[i, (res.reason as { code?: string }).code]] : []))).toEqual([[stale, 'FSM_STALE_VERSION']]);
    const written = records.filter((_, i) => i !== stale);
    expect(await historyRows(grouped, [records[stale]!.id])).toEqual([]);
    expect(await outboxRows(grouped, [records[stale]!.id])).toEqual([]);
    expect(await historyRows(grouped, written.map((r) => r.id))).toHaveLength(2 * written.length);
    const outbox = await outboxRows(grouped, records.map((r) => r.id));
    expect(outbox.map((o) => (o as { instance_id: string }).instance_id)).toEqual(written.flatMap((r) => [r.id, r.id]));
  });

  it('a row the server refuses fails only its own commit: a duplicate history row, a duplicate event id', async () => {
    const records = await instances(COUNT, [store]);
    const [badHistory, badEvent] = [4, 13];
    const commits = records.map((r, i) => stepOf(r, i));
    // A history row of the same seq stored before; an event id another instance already wrote.
    await raw.query(
      `INSERT INTO \`${grouped}${records[badHistory]!.machine}_history\` (id, instance_id, seq, handler, step, direction, state_before, state_after, data_before, data_after, started_at, finished_at)
       VALUES (UUID(), ?, 2, 'x', 'x', 'forward', 'x', 'x', '', '', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))`,
      [records[badHistory]!.id],
    );
    const other = (await instances(1, [store]))[0]!;
    await store.commit({ record: nextRecord(other), previous: other, expectedVersion: 1, history: [], events: [{ ...commits[badEvent]!.events[1]!, instanceId: other.id }] });

    const results = await Promise.allSettled(commits.map((c) => store.commit(c)));
    expect(results.flatMap((res, i) => (res.status === 'rejected' ? [i] : []))).toEqual([badHistory, badEvent]);
    const version = async (r: InstanceRecord) => (await store.get(r.machine, r.id))!.version;
    for (const [i, r] of records.entries()) expect(await version(r)).toBe(i === badHistory || i === badEvent ? 1 : 2);
    expect(await historyRows(grouped, [records[badHistory]!.id])).toHaveLength(1);
    expect(await historyRows(grouped, [records[badEvent]!.id])).toEqual([]);
    expect(await outboxRows(grouped, [records[badHistory]!.id, records[badEvent]!.id])).toEqual([]);
    const written = records.filter((_, i) => i !== badHistory && i !== badEvent);
    expect(await historyRows(grouped, written.map((r) => r.id))).toHaveLength(2 * written.length);
    expect((await outboxRows(grouped, written.map((r) => r.id))).length).toBe(2 * written.length);
  });

  it('keeps each child end\'s statements and result its own: every one gets the sibling it started', async () => {
    const machine = MACHINES[0]!;
    const parents = Array.from({ length: COUNT }, () => instanceRecord(machine, { status: 'waiting', waitingFor: `${CHILDREN_WAIT}}` }));
    const children = parents.map((p) => instanceRecord(machine, { status: 'running', parentMachine: machine, parentId: p.id }));
    const siblings = parents.map((p) => instanceRecord(machine, { status: 'waiting', waitingFor: QUEUED_CHILD, parentMachine: machine, parentId: p.id }));
    for (const r of [...parents, ...children, ...siblings]) await store.insert(r, []);
    const before = { ...store.groupCommits };
    const results = await Promise.all(
      children.map((c, i) =>
        store.commit({
          ...stepOf(c, i),
          record: nextRecord(c, { status: 'done', historySeq: 2, eventSeq: 2 }),
          childEnded: { parentMachine: machine, parentId: parents[i]!.id, next: siblings[i]!.id, wake: false, lease: { owner: `w${i}`, leaseMs: 60_000 } },
        }),
      ),
    );
    expect(store.groupCommits.largest).toBeGreaterThan(1);
    expect(store.groupCommits.transactions - before.transactions).toBeLessThan(COUNT);
    results.forEach((res, i) => expect(res.started, `child ${i}`).toMatchObject({ id: siblings[i]!.id, status: 'running', leaseOwner: `w${i}` }));
    expect(await historyRows(grouped, children.map((c) => c.id))).toHaveLength(2 * COUNT);
  });

  it('without group commit, concurrent commits each go alone', async () => {
    const records = await instances(8, [alone]);
    const before = { ...alone.groupCommits };
    await Promise.all(records.map((r, i) => alone.commit(stepOf(r, i))));
    expect(alone.groupCommits.transactions - before.transactions).toBe(records.length);
    expect(alone.groupCommits.largest).toBe(1);
    expect(await historyRows(single, records.map((r) => r.id))).toHaveLength(2 * records.length);
  });

  it('keeps a group of large commits within max_allowed_packet', async () => {
    const records = Array.from({ length: 12 }, (_, i) => instanceRecord(MACHINES[i % 2]!));
    for (const r of records) await small.insert(r, []);
    // Each commit's rows about 240 KB (3 bytes a character): four of them nearly fill the packet, five outgrow it.
    const big = (i: number, seq: number) => JSON.stringify({ json: { i, seq, pad: `'${'€'.repeat(20_000)}` } });
    const before = { ...small.groupCommits };
    const commits = records.map((r, i) => {
      const c = stepOf(r, i);
      return { ...c, history: c.history.map((h) => ({ ...h, dataBefore: big(i, h.seq), dataAfter: big(i, h.seq + 10) })) };
    });
    await Promise.all(commits.map((c) => small.commit(c)));
    expect(small.groupCommits.commits - before.commits).toBe(records.length);
    expect(small.groupCommits.largest).toBeGreaterThan(1);
    for (const [i, r] of records.entries()) {
      expect((await small.history(r.machine, r.id)).map((h) => [h.dataBefore, h.dataAfter])).toEqual([1, 2].map((seq) => [big(i, seq), big(i, seq + 10)]));
    }
    await canaryStands();
  });

  it('keeps a group of commits with large instance data, merged into one UPDATE, within max_allowed_packet', async () => {
    const records = Array.from({ length: 12 }, () => instanceRecord(MACHINES[0]!));
    for (const r of records) await small.insert(r, []);
    // Each UPDATE about 240 KB: four of them in one statement nearly fill the packet.
    const data = (i: number) => JSON.stringify({ json: { i, pad: `'${'€'.repeat(80_000)}` } });
    const before = { ...small.groupCommits };
    await Promise.all(records.map((r, i) => small.commit({ ...stepOf(r, i), record: nextRecord(r, { serializedState: data(i), historySeq: 2, eventSeq: 2 }) })));
    expect(small.groupCommits.commits - before.commits).toBe(records.length);
    expect(small.groupCommits.largest).toBeGreaterThan(1);
    for (const [i, r] of records.entries()) expect((await small.get(r.machine, r.id))?.serializedState).toBe(data(i));
  });
});
