import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMysqlStore, migrate, TABLE_LAYOUT } from '@fsmkit/mysql';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../src/generate.js';
import { unavailable } from '../../../test/support/services.js';
import { fixture, tempDir } from './support.js';

const MYSQL_URL = process.env['FSM_MYSQL_URL'] || 'mysql://root@127.0.0.1:3306/test';

const skip = await unavailable(`MariaDB at ${MYSQL_URL}`, 'table layout upgrade test', async () => {
  const conn = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 3000 });
  await conn.end();
});

const INSTANCE_ID = '0190a5e2-7c4b-7c3e-8000-00000000a001';
/** Stepped with `immediate: false` by the old release: waiting, with no due time (workers took it anyway then). */
const STEPPED_ID = '0190a5e2-7c4b-7c3e-8000-00000000a002';
const NEW_COLUMNS = {
  order: ['takeovers', 'priority', 'wait_message', 'wait_key', 'waiting_for', 'parent_machine', 'parent_id', 'chained_from'],
  order_history: ['transition', 'actor', 'result'],
};
const NEW_INDEXES = { order: ['ix_wait', 'ix_parent', 'ix_claim'] };

/** A project with the shop's order machine, whose tables use `prefix`. */
function project(prefix: string): { dir: string; outDir: string } {
  const dir = tempDir();
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src', 'order.machine.ts'), readFileSync(fixture('shop', 'src', 'order.machine.ts')));
  writeFileSync(
    join(dir, 'fsm.config.mjs'),
    `export default { include: ['src/*.machine.ts'], outDir: 'gen', tablePrefix: '${prefix}' };\n`,
  );
  return { dir, outDir: join(dir, 'gen') };
}

/** Turns a fresh output folder into what the previous release wrote: layout 1 tables, a version 1 snapshot. */
function asPreviousRelease(outDir: string, prefix: string): void {
  const ddl = readFileSync(fixture('previous-release', 'order.sql'), 'utf8').replaceAll('`fsm_', `\`${prefix}`);
  writeFileSync(join(outDir, 'order.sql'), ddl);
  const path = join(outDir, 'migrations', 'meta', 'order.snapshot.json');
  const { tableLayout: _layout, ...snapshot } = JSON.parse(readFileSync(path, 'utf8'));
  writeFileSync(path, `${JSON.stringify({ ...snapshot, snapshotVersion: 1 }, null, 2)}\n`);
}

describe.skipIf(skip !== null)('tables created by the previous release (table layout 1)', () => {
  let conn: mysql.Connection;
  const prefixes: string[] = [];
  const newPrefix = () => {
    const prefix = `u${randomBytes(4).toString('hex')}_`;
    prefixes.push(prefix);
    return prefix;
  };

  beforeAll(async () => {
    conn = await mysql.createConnection({ uri: MYSQL_URL, timezone: 'Z' });
  });

  afterAll(async () => {
    for (const prefix of prefixes) {
      const [rows] = await conn.query<RowDataPacket[]>(
        'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND LEFT(TABLE_NAME, ?) = ?',
        [prefix.length, prefix],
      );
      for (const row of rows) await conn.query(`DROP TABLE \`${row['name'] as string}\``);
    }
    await conn?.end();
  });

  const columns = async (table: string): Promise<string[]> => {
    const [rows] = await conn.query<RowDataPacket[]>(
      'SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
      [table],
    );
    return rows.map((r) => r['name'] as string);
  };
  const indexes = async (table: string): Promise<string[]> => {
    const [rows] = await conn.query<RowDataPacket[]>(
      'SELECT DISTINCT INDEX_NAME AS name FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
      [table],
    );
    return rows.map((r) => r['name'] as string);
  };

  /** An instance paused at charge with two history rows, written with the columns the old release had. */
  async function insertOldRows(prefix: string): Promise<void> {
    await conn.query(
      `INSERT INTO \`${prefix}order\` (id, name, user_id, current_state, direction, resume_from_step, save_after_step, kafka_event_topic,
        serialized_state, created_at, updated_at, is_global_lock, is_local_lock, status, version, definition_hash, definition_version,
        pause_requested, pause_reason, last_error, attempts, next_run_at, lease_owner, lease_expires_at, history_seq, event_seq)
       VALUES (?, 'order', 'u-1', 'charge', 'forward', 2, 1, 'shop.orders', ?, ?, ?, 0, 1, 'paused', 3, '0123456789abcdef', 1,
        0, 'awaiting payment', NULL, 0, NULL, NULL, NULL, 2, 3)`,
      [INSTANCE_ID, JSON.stringify({ json: { orderId: 'o-1' } }), new Date('2026-11-01T10:00:00Z'), new Date('2026-11-01T10:00:02Z')],
    );
    await conn.query(
      `INSERT INTO \`${prefix}order\` (id, name, user_id, current_state, direction, resume_from_step, save_after_step, kafka_event_topic,
        serialized_state, created_at, updated_at, is_global_lock, is_local_lock, status, version, definition_hash, definition_version,
        pause_requested, pause_reason, last_error, attempts, next_run_at, lease_owner, lease_expires_at, history_seq, event_seq)
       VALUES (?, 'order', 'u-2', 'charge', 'forward', 2, 1, 'shop.orders', ?, ?, ?, 0, 1, 'waiting', 2, '0123456789abcdef', 1,
        0, NULL, NULL, 0, NULL, NULL, NULL, 1, 2)`,
      [STEPPED_ID, JSON.stringify({ json: { orderId: 'o-2' } }), new Date('2026-11-01T10:00:00Z'), new Date('2026-11-01T10:00:03Z')],
    );
    for (const [seq, step, after] of [
      [1, 'reserveStock', 'charge'],
      [2, 'charge', 'charge'],
    ] as const) {
      await conn.query(
        `INSERT INTO \`${prefix}order_history\` (id, instance_id, seq, handler, step, direction, state_before, state_after, data_before,
          data_after, metadata, error, attempt, started_at, finished_at)
         VALUES (?, ?, ?, ?, ?, 'forward', ?, ?, '{}', '{}', NULL, NULL, 1, ?, ?)`,
        [`0190a5e2-7c4b-7c3e-8000-00000000b00${seq}`, INSTANCE_ID, seq, step, step, step, after, new Date(), new Date()],
      );
    }
  }

  /** The old rows are all there, readable by this release's store, with the new columns at their defaults. */
  async function expectRowsKept(prefix: string): Promise<void> {
    const store = createMysqlStore({ url: MYSQL_URL, tablePrefix: prefix });
    try {
      const record = await store.get('order', INSTANCE_ID);
      // The stepped instance is due as it was before (a wait with no due time is never claimed now).
      expect((await store.get('order', STEPPED_ID))?.nextRunAt).toEqual(new Date('2026-11-01T10:00:03Z'));
      expect(record).toMatchObject({
        currentState: 'charge', status: 'paused', pauseReason: 'awaiting payment', version: 3, takeovers: 0,
        priority: 0, waitMessage: null, waitKey: null, parentId: null, chainedFrom: null,
      });
      const history = await store.history('order', INSTANCE_ID);
      expect(history.map((h) => [h.seq, h.step, h.transition, h.actor, h.result])).toEqual([
        [1, 'reserveStock', null, null, null],
        [2, 'charge', null, null, null],
      ]);
    } finally {
      await store.close();
    }
    for (const [table, added] of Object.entries(NEW_COLUMNS)) expect(await columns(prefix + table)).toEqual(expect.arrayContaining(added));
    for (const [table, added] of Object.entries(NEW_INDEXES)) expect(await indexes(prefix + table)).toEqual(expect.arrayContaining(added));
  }

  it('fsm generate writes the layout migration, and fsm migrate adds the columns and keeps every row', async () => {
    const prefix = newPrefix();
    const { dir, outDir } = project(prefix);
    expect((await generate({ cwd: dir })).ok).toBe(true);
    asPreviousRelease(outDir, prefix);
    const old = await migrate({ url: MYSQL_URL, dir: outDir, tablePrefix: prefix });
    expect(old.applied).toEqual(['fsm_shared.sql', 'order.sql']);
    expect(await columns(`${prefix}order`)).not.toContain('takeovers');
    await insertOldRows(prefix);

    const upgrade = await generate({ cwd: dir });
    expect(upgrade.ok).toBe(true);
    const migration = `migrations/0001_order_table_layout_${TABLE_LAYOUT}.sql`;
    expect(upgrade.migrations).toEqual([join(outDir, migration)]);

    const result = await migrate({ url: MYSQL_URL, dir: outDir, tablePrefix: prefix });
    expect(result.problems).toEqual([]);
    // order.sql changed (it creates the new layout); being CREATE TABLE IF NOT EXISTS alone, it runs again harmlessly.
    expect(result.applied).toEqual(['order.sql', migration]);
    await expectRowsKept(prefix);

    const again = await migrate({ url: MYSQL_URL, dir: outDir, tablePrefix: prefix });
    expect(again.applied).toEqual([]);
    expect(again.problems).toEqual([]);
    expect((await generate({ cwd: dir, check: true })).ok).toBe(true);
  }, 60_000);

  it('a fresh database takes the same files: the migration finds the columns there and changes nothing', async () => {
    const prefix = newPrefix();
    const { dir, outDir } = project(prefix);
    await generate({ cwd: dir });
    asPreviousRelease(outDir, prefix);
    await generate({ cwd: dir });
    const result = await migrate({ url: MYSQL_URL, dir: outDir, tablePrefix: prefix });
    expect(result.problems).toEqual([]);
    expect(result.applied).toContain(`migrations/0001_order_table_layout_${TABLE_LAYOUT}.sql`);
    expect(await columns(`${prefix}order`)).toContain('takeovers');
    expect((await columns(`${prefix}order_history`)).slice(-3)).toEqual(['transition', 'actor', 'result']);
  }, 60_000);

  it('MysqlStore.ensureSchema adds the missing columns to old tables and keeps the rows, also with two stores at once', async () => {
    for (let round = 0; round < 3; round++) {
      const prefix = newPrefix();
      const ddl = readFileSync(fixture('previous-release', 'order.sql'), 'utf8').replaceAll('`fsm_', `\`${prefix}`);
      for (const statement of ddl.split(';').filter((s) => s.includes('CREATE'))) await conn.query(statement);
      await insertOldRows(prefix);
      const stores = [0, 1].map(() => createMysqlStore({ url: MYSQL_URL, tablePrefix: prefix }));
      try {
        await Promise.all(stores.map((s) => s.ensureSchema([{ name: 'order' }])));
        // Once more on tables that have every column: nothing to add.
        await stores[0]!.ensureSchema([{ name: 'order' }]);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
      await expectRowsKept(prefix);
      expect((await columns(`${prefix}order_history`)).slice(-3)).toEqual(['transition', 'actor', 'result']);
    }
  }, 60_000);
});
