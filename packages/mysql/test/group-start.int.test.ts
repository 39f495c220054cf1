/**
 * The ends of a map's children that share a transaction start their queued siblings with one
 * UPDATE (and read them back with one SELECT). A child whose sibling did not start ends its
 * chain: the group then goes back and each child's own statements run, so that the last chain
 * to end, and only it, wakes the parent.
 */
import { CHILDREN_WAIT, QUEUED_CHILD, type CommitResult, type InstanceRecord } from '@fsmkit/runtime';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childId, siblingsPrefix, successorOf } from '../../runtime/src/engine/children.js';
import { createMysqlStore, type MysqlStore } from '../src/index.js';
import { dropTablesWithPrefix, mysqlUnavailable, rawConnection, uniquePrefix } from './support/db.js';
import { historyRecord, instanceRecord, nextRecord } from './support/records.js';

const unavailable = await mysqlUnavailable();
const PARENT = 'fan';
const KID = 'kid';

describe.skipIf(unavailable !== null)('MysqlStore group commit: siblings started together', () => {
  const prefix = uniquePrefix();
  let raw: Connection;
  /** One lane, one connection: concurrent commits queue into one group, and its session counters see every statement. */
  let store: MysqlStore;

  beforeAll(async () => {
    raw = await rawConnection();
    store = createMysqlStore({ tablePrefix: prefix, poolSize: 1, groupCommit: { lanes: 1 } });
    await store.ensureSchema([{ name: PARENT }, { name: KID }]);
  });
  afterAll(async () => {
    await store?.close();
    await raw?.end();
    await dropTablesWithPrefix(prefix);
  });

  /** A parent waiting for a map of `stored` children (indices), `running` of them running, the rest queued. */
  async function map(stride: number, stored: number[], running: number) {
    const parent = instanceRecord(PARENT, { status: 'waiting', waitingFor: `${CHILDREN_WAIT}m` });
    await store.insert(parent, []);
    const visit = `v${stride}`;
    const kids = new Map<number, InstanceRecord>();
    for (const i of stored) {
      const kid = instanceRecord(KID, {
        id: childId(parent.id, visit, i, stride),
        parentMachine: PARENT,
        parentId: parent.id,
        ...(i < running ? { status: 'running' as const } : { status: 'waiting' as const, waitingFor: QUEUED_CHILD }),
      });
      await store.insert(kid, []);
      kids.set(i, kid);
    }
    return { parent, kids };
  }

  /** `kid`'s last step, as a worker commits it: it ends, and starts its successor leased to `owner`. */
  function end(parent: InstanceRecord, kid: InstanceRecord, status: 'done' | 'failed' = 'done', owner = 'w1'): Promise<CommitResult> {
    return store.commit({
      record: nextRecord(kid, { status, waitingFor: null }),
      previous: kid,
      expectedVersion: kid.version,
      history: [historyRecord(kid, kid.historySeq + 1)],
      events: [],
      childEnded: {
        parentMachine: PARENT,
        parentId: parent.id,
        next: successorOf(kid.id),
        wake: status !== 'done',
        siblings: siblingsPrefix(kid.id)!,
        lease: { owner, leaseMs: 60_000 },
      },
    });
  }

  async function statements(kind: 'update'): Promise<number> {
    const [rows] = await store.pool.query<RowDataPacket[]>(`SHOW SESSION STATUS LIKE 'Com_${kind}'`);
    return Number(rows[0]!['Value']);
  }

  async function row(machine: string, id: string): Promise<RowDataPacket> {
    const [rows] = await raw.query<RowDataPacket[]>(`SELECT * FROM \`${prefix}${machine}\` WHERE id = ?`, [id]);
    return rows[0]!;
  }

  it('starts every sibling of a group in one UPDATE, each returned to its own child, and wakes no parent', async () => {
    const stride = 12;
    const { parent, kids } = await map(stride, Array.from({ length: 2 * stride }, (_, i) => i), stride);
    const updates = await statements('update');
    const results = await Promise.all(Array.from({ length: stride }, (_, i) => end(parent, kids.get(i)!)));
    const updated = await statements('update');

    expect(store.groupCommits.largest).toBeGreaterThan(1);
    // Child by child, each end would take at least three: the start, the parent's lock and its wake.
    expect(updated - updates).toBeLessThan(stride);
    results.forEach((r, i) =>
      expect(r.started, `child ${i}`).toMatchObject({ id: kids.get(i + stride)!.id, status: 'running', leaseOwner: 'w1', waitingFor: null, version: 2 }),
    );
    for (let i = 0; i < 2 * stride; i++) expect((await row(KID, kids.get(i)!.id))['status']).toBe(i < stride ? 'done' : 'running');
    expect((await row(PARENT, parent.id))['next_run_at']).toBeNull();
  });

  it('a sibling that does not start: its child ends its chain, the others still start theirs, and only the last end wakes the parent', async () => {
    const stride = 6;
    // Index 11 is not stored: the child at 5 is the last of its chain, the others have a successor.
    const { parent, kids } = await map(stride, Array.from({ length: 2 * stride - 1 }, (_, i) => i), stride);
    const first = await Promise.all(Array.from({ length: stride }, (_, i) => end(parent, kids.get(i)!)));
    expect(store.groupCommits.largest).toBeGreaterThan(1);
    first.forEach((r, i) => {
      if (i === stride - 1) expect(r.started, `child ${i}`).toBeUndefined();
      else expect(r.started, `child ${i}`).toMatchObject({ id: kids.get(i + stride)!.id, status: 'running' });
    });
    for (let i = 0; i < stride; i++) expect((await row(KID, kids.get(i)!.id))['status']).toBe('done');
    // A chain ended, but children of the map are left: the parent sleeps on.
    expect((await row(PARENT, parent.id))['next_run_at']).toBeNull();

    // The rest end together, every one the last of its chain: the parent is woken, by the last.
    const started = first.slice(0, stride - 1).map((r) => r.started!);
    const rest = await Promise.all(started.map((s) => end(parent, s)));
    for (const r of rest) expect(r.started).toBeUndefined();
    for (const s of started) expect((await row(KID, s.id))['status']).toBe('done');
    expect((await row(PARENT, parent.id))['next_run_at']).not.toBeNull();
  });

  it('a child that failed in a group wakes its parent at once; its siblings in the group start theirs', async () => {
    const stride = 8;
    const { parent, kids } = await map(stride, Array.from({ length: 2 * stride }, (_, i) => i), stride);
    const results = await Promise.all(Array.from({ length: stride }, (_, i) => end(parent, kids.get(i)!, i === 3 ? 'failed' : 'done')));
    results.forEach((r, i) => expect(r.started, `child ${i}`).toMatchObject({ id: kids.get(i + stride)!.id, status: 'running' }));
    expect((await row(KID, kids.get(3)!.id))['status']).toBe('failed');
    expect((await row(PARENT, parent.id))['next_run_at']).not.toBeNull();
  });

  it('siblings leased to different owners start together and each is leased to its own', async () => {
    const stride = 6;
    const { parent, kids } = await map(stride, Array.from({ length: 2 * stride }, (_, i) => i), stride);
    const results = await Promise.all(Array.from({ length: stride }, (_, i) => end(parent, kids.get(i)!, 'done', `w${i % 2}`)));
    results.forEach((r, i) => expect(r.started, `child ${i}`).toMatchObject({ id: kids.get(i + stride)!.id, leaseOwner: `w${i % 2}` }));
    expect((await row(PARENT, parent.id))['next_run_at']).toBeNull();
  });
});
