/**
 * The join check of a commit that stores a step's children: children this commit stored anew
 * have not ended, so an ended child of an earlier visit does not make the parent due; children
 * that existed already (the step run again after a crash) are counted as before.
 */
import { CHILDREN_WAIT, QUEUED_CHILD, type InstanceRecord } from '@fsmkit/runtime';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childId } from '../../runtime/src/engine/children.js';
import { createMysqlStore, type MysqlStore } from '../src/index.js';
import { dropTablesWithPrefix, mysqlUnavailable, rawConnection, uniquePrefix } from './support/db.js';
import { instanceRecord, nextRecord } from './support/records.js';

const unavailable = await mysqlUnavailable();
const PARENT = 'fan';
const KID = 'kid';

describe.skipIf(unavailable !== null)('MysqlStore: the join check of a commit that stores children', () => {
  const prefix = uniquePrefix();
  let raw: Connection;
  let store: MysqlStore;

  beforeAll(async () => {
    raw = await rawConnection();
    store = createMysqlStore({ tablePrefix: prefix, poolSize: 2 });
    await store.ensureSchema([{ name: PARENT }, { name: KID }]);
  });
  afterAll(async () => {
    await store?.close();
    await raw?.end();
    await dropTablesWithPrefix(prefix);
  });

  const kid = (parent: InstanceRecord, visit: string, i: number, status: InstanceRecord['status']) =>
    instanceRecord(KID, {
      id: childId(parent.id, visit, i, 2),
      parentMachine: PARENT,
      parentId: parent.id,
      status,
      ...(status === 'waiting' ? { waitingFor: QUEUED_CHILD } : {}),
    });

  /** The parent's commit that stores `children` of `visit` and begins waiting for them. */
  async function spawnAndWait(parent: InstanceRecord, visit: string, children: InstanceRecord[]): Promise<void> {
    await store.commit({
      record: nextRecord(parent, { status: 'waiting', waitingFor: `${CHILDREN_WAIT}${visit}`, nextRunAt: null }),
      previous: parent,
      expectedVersion: parent.version,
      history: [],
      events: [],
      spawn: children.map((record) => ({ record, events: [] })),
      joinCheck: { machines: [KID], ended: 0 },
    });
  }

  async function nextRunAt(id: string): Promise<unknown> {
    const [rows] = await raw.query<RowDataPacket[]>(`SELECT next_run_at FROM \`${prefix}${PARENT}\` WHERE id = ?`, [id]);
    return rows[0]!['next_run_at'];
  }

  it('an ended child of an earlier visit does not make the parent due when its next visit stores new children', async () => {
    const parent = instanceRecord(PARENT, { status: 'running' });
    await store.insert(parent, []);
    await store.insert(kid(parent, 'v1', 0, 'done'), []);
    await spawnAndWait(parent, 'v2', [kid(parent, 'v2', 0, 'ready'), kid(parent, 'v2', 1, 'ready'), kid(parent, 'v2', 2, 'waiting')]);
    expect(await nextRunAt(parent.id)).toBeNull();
  });

  it('children stored before (a step run again) are counted: one that ended makes the parent due', async () => {
    const parent = instanceRecord(PARENT, { status: 'running' });
    await store.insert(parent, []);
    const children = [kid(parent, 'v1', 0, 'ready'), kid(parent, 'v1', 1, 'ready')];
    await store.insert({ ...children[0]!, status: 'done' }, []);
    await store.insert(children[1]!, []);
    await spawnAndWait(parent, 'v1', children);
    expect(await nextRunAt(parent.id)).not.toBeNull();
  });
});
