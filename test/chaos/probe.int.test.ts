/**
 * The chaos run's probe can fail: two handlers of one user at once leave an overlap, one after
 * the other do not, and the row of a killed process does not count as a handler that runs.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../packages/mysql/src/index.js';
import { mysqlUnavailable } from '../../packages/kafka/test/support/mysql.js';
import { probed, probeDdl, probeTables, type Pool } from './machine.js';

const unavailable = await mysqlUnavailable();
const url = process.env['FSM_MYSQL_URL'] || 'mysql://root@127.0.0.1:3306/test';
const config = { prefix: `chaos${randomBytes(3).toString('hex')}_`, database: new URL(url).pathname.slice(1) || 'test', stepMs: 200 };
const t = probeTables(config);

describe.skipIf(unavailable !== null)('the probe of the chaos run', () => {
  let pool: Pool;
  beforeAll(async () => {
    pool = createPool({ url, poolSize: 4 });
    for (const ddl of probeDdl(config)) await pool.query(ddl);
  });
  afterAll(async () => {
    await pool.query(`DROP TABLE IF EXISTS ${Object.values(t).join(', ')}`);
    await pool.end();
  });
  const overlaps = async () => ((await pool.query(`SELECT user_id, step FROM ${t.overlaps} ORDER BY n`))[0] as Array<{ user_id: string; step: string }>);
  const ctx = (userId: string, step: string) => ({ userId, step, instanceId: randomUUID() });

  it('records two handlers of one user that overlap, and none for different users or one after the other', async () => {
    await Promise.all([probed(pool, config, ctx('a', 'reserve')), probed(pool, config, ctx('b', 'reserve'))]);
    await probed(pool, config, ctx('a', 'charge'));
    expect(await overlaps()).toEqual([]);
    await Promise.all([probed(pool, config, ctx('c', 'reserve')), probed(pool, config, ctx('c', 'review'))]);
    expect((await overlaps()).map((o) => o.user_id)).toEqual(['c']);
    const [left] = (await pool.query(`SELECT COUNT(*) AS n FROM ${t.probe}`)) as unknown as [Array<{ n: number }>];
    expect(Number(left[0]!.n)).toBe(0);
  });

  it('replaces the row a killed process left, without an overlap; a live holder still counts', async () => {
    const before = (await overlaps()).length;
    // pid 2^22+1 is above Linux's pid_max: no such process runs.
    await pool.query(`INSERT INTO ${t.probe} (user_id, token, pid, instance_id, step) VALUES ('d', ?, 4194305, ?, 'ship')`, [randomUUID(), randomUUID()]);
    await probed(pool, config, ctx('d', 'reserve'));
    expect((await overlaps()).length).toBe(before);
    await pool.query(`INSERT INTO ${t.probe} (user_id, token, pid, instance_id, step) VALUES ('e', ?, ?, ?, 'ship')`, [randomUUID(), process.pid, randomUUID()]);
    await probed(pool, config, ctx('e', 'reserve'));
    expect((await overlaps()).slice(before).map((o) => o.user_id)).toEqual(['e']);
  });
});
