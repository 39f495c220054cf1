/**
 * Commits that can never succeed end the instance instead of running its step forever, and
 * retry times are set on the database clock, whatever this host's clock says.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createRunner, defineMachine, type StepContext } from '@fsmkit/runtime';
import { createMysqlStore, type MysqlStore } from '../src/index.js';
import { dropTablesWithPrefix, mysqlUnavailable, rawConnection, uniquePrefix } from './support/db.js';

const unavailable = await mysqlUnavailable();

describe.skipIf(unavailable !== null)('nothing stuck on MySQL', () => {
  const prefix = uniquePrefix();
  let store: MysqlStore;
  beforeAll(async () => {
    store = createMysqlStore({ tablePrefix: prefix, poolSize: 4, maxStateBytes: 4_000 });
    await store.ensureSchema([{ name: 'bloat' }, { name: 'clocked' }]);
  });
  afterAll(async () => {
    await store?.close();
    await dropTablesWithPrefix(prefix);
  });

  it('a step whose results can never be stored ends the instance failed, once, without the payload', async () => {
    let runs = 0;
    const def = defineMachine<{ note: string }>({
      name: 'bloat',
      steps: { grow: { order: 1 }, after: { order: 2 } },
      methods: {
        grow: (ctx: StepContext<{ note: string }>) => {
          runs++;
          ctx.data.note = 'x'.repeat(10_000);
        },
        after: () => undefined,
      },
    });
    const runner = createRunner(def, { store, instanceLeaseMs: 100 });
    const created = await runner.create({ note: 'small' });
    const failed = await runner.run(created.id);
    expect([failed.status, failed.state, failed.data.note]).toEqual(['failed', 'grow', 'small']);
    expect(failed.error).toMatchObject({ name: 'CommitRefused', code: 'FSM_DATA_TOO_LARGE' });
    expect(failed.error?.message).toMatch(/4000|4 000|bytes/);
    expect(await runner.get(created.id)).toEqual(failed);
    // Workers with a short lease find nothing to take over.
    const worker = runner.work({ pollMs: 10 });
    await new Promise((r) => setTimeout(r, 400));
    await worker.stop();
    expect(runs).toBe(1);
  });

  it('durable retry times follow the database clock when this host clock is an hour ahead', async () => {
    const def = defineMachine<{ tries: number }>({
      name: 'clocked',
      steps: { call: { order: 1, retry: { maxAttempts: 2, backoffMs: 3_000 } } },
      methods: {
        call: () => {
          throw new Error('busy');
        },
      },
    });
    const runner = createRunner(def, { store, durableTimers: true });
    const realNow = Date.now.bind(Date);
    const skew = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 3_600_000);
    let id: string;
    try {
      id = (await runner.start({ tries: 0 })).id;
    } finally {
      skew.mockRestore();
    }
    const raw = await rawConnection();
    try {
      const [rows] = await raw.query<RowDataPacket[]>(
        `SELECT status, TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(3), next_run_at) / 1000 AS dueInMs FROM \`${prefix}clocked\` WHERE id = ?`,
        [id],
      );
      expect(rows[0]!['status']).toBe('waiting');
      const dueInMs = Number(rows[0]!['dueInMs']);
      expect(dueInMs).toBeGreaterThan(1_000);
      expect(dueInMs).toBeLessThan(3_500);
    } finally {
      await raw.end();
    }
  });
});
