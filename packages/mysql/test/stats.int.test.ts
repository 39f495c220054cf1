import { MemoryStore, type InstanceRecord, type InstanceStatus, type Store } from '@fsmkit/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlStore, type MysqlStore } from '../src/index.js';
import { dropTablesWithPrefix, mysqlUnavailable, uniquePrefix } from './support/db.js';
import { historyRecord, instanceRecord } from './support/records.js';

const unavailable = await mysqlUnavailable();
const M = 'order';
const T0 = Date.parse('2026-11-22T10:00:00.000Z');

/** Same rows into both stores: instances in several statuses and states, history with known durations. */
async function seed(stores: Store[]): Promise<void> {
  const statuses: InstanceStatus[] = ['done', 'done', 'failed', 'running', 'paused', 'compensated', 'done', 'waiting'];
  for (let i = 0; i < 24; i++) {
    const status = statuses[i % statuses.length]!;
    const created = new Date(T0 + i * 60_000);
    const base = instanceRecord(M, { createdAt: created, updatedAt: created, status: 'ready', currentState: 'reserve' });
    const next: InstanceRecord = {
      ...base,
      version: 2,
      status,
      currentState: status === 'done' ? 'done' : status === 'compensated' ? 'compensated' : i % 2 ? 'charge' : 'reserve',
      updatedAt: new Date(T0 + i * 600_000 + 5_000),
      historySeq: 3,
    };
    // Durations 1..~300 ms, different per step, some failures.
    const history = [1, 2, 3].map((seq) =>
      historyRecord(base, seq, {
        step: seq === 3 ? 'charge' : 'reserve',
        direction: seq === 2 && i % 3 === 0 ? 'backward' : 'forward',
        startedAt: new Date(T0 + i * 60_000 + seq * 1000),
        finishedAt: new Date(T0 + i * 60_000 + seq * 1000 + ((i * 37 + seq * 11) % 300) + 1),
        error: seq === 3 && i % 4 === 0 ? { name: 'Error', message: 'declined' } : null,
      }),
    );
    for (const s of stores) {
      await s.insert(base, []);
      await s.commit({ record: next, expectedVersion: 1, history, events: [] });
    }
  }
}

describe.skipIf(unavailable !== null)('stats: MySQL computes in SQL what the memory store computes in process', () => {
  const prefix = uniquePrefix();
  let mysql: MysqlStore;
  const memory = new MemoryStore();

  beforeAll(async () => {
    mysql = createMysqlStore({ tablePrefix: prefix, poolSize: 4 });
    await mysql.ensureSchema([{ name: M }]);
    await seed([mysql, memory]);
  });
  afterAll(async () => {
    await mysql?.close();
    await dropTablesWithPrefix(prefix);
  });

  it('counts by status and state, step percentiles and the timeline agree', async () => {
    const options = { bucketSeconds: 3600, buckets: [0.05, 0.1, 0.25, 1] };
    const [a, b] = await Promise.all([mysql.stats(M, options), memory.stats(M, options)]);
    expect(a.total).toBe(24);
    expect(a.byStatus).toEqual({ done: 9, failed: 3, running: 3, paused: 3, compensated: 3, waiting: 3 });
    expect(a.byStatus).toEqual(b.byStatus);
    expect(a.byState).toEqual(b.byState);
    expect(a.timeline).toEqual(b.timeline);
    expect(a.timeline.reduce((n, t) => n + t.done + t.failed + t.compensated, 0)).toBe(15);
    expect(a.steps.map((s) => [s.step, s.direction, s.count, s.failures])).toEqual([
      ['charge', 'forward', 24, 6],
      ['reserve', 'backward', 8, 0],
      ['reserve', 'forward', 40, 0],
    ]);
    for (const [i, s] of a.steps.entries()) {
      const m = b.steps[i]!;
      for (const k of ['avgMs', 'p50Ms', 'p95Ms', 'p99Ms', 'sumMs'] as const) expect(s[k]).toBeCloseTo(m[k], 3);
      expect(s.histogram).toEqual(m.histogram);
      expect(s.p50Ms).toBeLessThanOrEqual(s.p95Ms);
      expect(s.p95Ms).toBeLessThanOrEqual(s.p99Ms);
    }
  });

  it("percentiles equal MariaDB's own PERCENTILE_CONT", async () => {
    const [rows] = await mysql.pool.query(
      `SELECT DISTINCT \`step\`, \`direction\`, ${[50, 95, 99].map((p) => `PERCENTILE_CONT(${p / 100}) WITHIN GROUP (ORDER BY TIMESTAMPDIFF(MICROSECOND, started_at, finished_at) / 1000) OVER (PARTITION BY step, direction) AS p${p}`).join(', ')} FROM \`${prefix}${M}_history\``,
    );
    const builtIn = (rows as Array<Record<string, unknown>>).map((r) => [r['step'], r['direction'], Number(r['p50']), Number(r['p95']), Number(r['p99'])]);
    const ours = (await mysql.stats(M)).steps.map((s) => [s.step, s.direction, s.p50Ms, s.p95Ms, s.p99Ms]);
    expect(builtIn).toHaveLength(3);
    for (const b of builtIn) {
      const o = ours.find((x) => x[0] === b[0] && x[1] === b[1])!;
      for (let i = 2; i < 5; i++) expect(o[i]).toBeCloseTo(b[i] as number, 6);
    }
  });

  it('a time range limits instances by creation and history by start', async () => {
    const range = { from: new Date(T0 + 4 * 60_000), to: new Date(T0 + 8 * 60_000) };
    const [a, b] = await Promise.all([mysql.stats(M, range), memory.stats(M, range)]);
    expect(a.total).toBe(4);
    expect(a.byStatus).toEqual(b.byStatus);
    expect(a.steps.reduce((n, s) => n + s.count, 0)).toBe(12);
    expect(a.steps.map((s) => s.p95Ms)).toEqual(b.steps.map((s) => expect.closeTo(s.p95Ms, 3) as unknown as number));
  });

  it('without percentiles: the same counts, no percentile', async () => {
    const [a, b] = await Promise.all([mysql.stats(M, { percentiles: false }), mysql.stats(M)]);
    expect(a.steps.map((s) => [s.count, s.avgMs, s.p95Ms])).toEqual(b.steps.map((s) => [s.count, s.avgMs, 0]));
  });

  it('an unknown machine name never reaches SQL', async () => {
    await expect(mysql.stats('bad name; drop')).rejects.toMatchObject({ code: 'FSM_INVALID_MODEL' });
  });
});
