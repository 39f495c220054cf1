import { FsmError } from '@fsmkit/runtime';
import type { Connection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlStore, createPool, type MysqlStore } from '../src/index.js';
import { dropTablesWithPrefix, mysqlUnavailable, rawConnection, uniquePrefix } from './support/db.js';
import { instanceRecord } from './support/records.js';

const unavailable = await mysqlUnavailable();

/**
 * A statement that runs out of time gives its connection up: with one connection in the pool,
 * the next call gets a fresh one at once instead of waiting behind the stuck statement.
 */
describe.skipIf(unavailable !== null)('a timed-out statement', () => {
  const prefix = uniquePrefix();
  const M = 'order';
  let store: MysqlStore;
  let raw: Connection;

  beforeAll(async () => {
    store = createMysqlStore({ tablePrefix: prefix, poolSize: 1, queryTimeoutMs: 400 });
    await store.ensureSchema([{ name: M }]);
    raw = await rawConnection();
  });
  afterAll(async () => {
    await raw?.query('ROLLBACK').catch(() => undefined);
    await store?.close();
    await raw?.end();
    await dropTablesWithPrefix(prefix);
  });

  it('does not keep its pooled connection (autocommit write, read, lock renewal)', async () => {
    const blocked = instanceRecord(M);
    const other = instanceRecord(M);
    await store.insert(blocked, []);
    await store.insert(other, []);
    const locker = store.locker();
    const lease = await locker.acquire('user:timeout', 'me', { instanceId: other.id, leaseMs: 60_000, mode: 'fail', timeoutMs: 0 });
    // Hold the rows the store's statements want, so they wait past the deadline.
    await raw.query('START TRANSACTION');
    await raw.query(`SELECT id FROM \`${prefix}${M}\` WHERE id = ? FOR UPDATE`, [blocked.id]);
    await raw.query(`SELECT lock_key FROM \`${prefix}local_lock\` WHERE lock_key = 'user:timeout' FOR UPDATE`);
    try {
      for (let round = 0; round < 3; round++) {
        const paused = await store.requestPause(M, blocked.id, 'stuck').catch((e: unknown) => e);
        expect(paused).toBeInstanceOf(FsmError);
        expect(String((paused as FsmError).message)).toMatch(/queryTimeoutMs/);
        const t0 = Date.now();
        // The pool's one connection is still waiting on the row lock unless it was destroyed.
        expect((await store.get(M, other.id))?.id).toBe(other.id);
        expect(Date.now() - t0).toBeLessThan(400);
        const renewed = await locker.renew(lease!, 60_000).catch((e: unknown) => e);
        expect(renewed).toBeInstanceOf(FsmError);
        expect((await store.list(M, { userId: 'user-1' })).length).toBe(2);
      }
    } finally {
      await raw.query('ROLLBACK');
    }
    expect(await store.requestPause(M, blocked.id, 'free')).toBe(true);
    expect(await locker.renew(lease!, 60_000)).toBe(true);
  });

  it('starts TCP keepalive on pooled connections after 10 s, not the system default of two hours', async () => {
    for (const [settings, delay] of [[{}, 10_000], [{ keepAliveDelayMs: 2_000 }, 2_000]] as const) {
      const pool = createPool({ ...settings, poolSize: 1 });
      const config = (pool.pool as unknown as { config: { connectionConfig: { enableKeepAlive: boolean; keepAliveInitialDelay: number } } }).config;
      expect(config.connectionConfig).toMatchObject({ enableKeepAlive: true, keepAliveInitialDelay: delay });
      await pool.end();
    }
  });
});
