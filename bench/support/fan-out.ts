/**
 * The machines and store of the `fan-out` bench, shared with `fan-out-trace`: a parent whose one
 * step maps its items to a one-step child machine (concurrency 32) and joins their results.
 */
import { randomBytes } from 'node:crypto';
import { buildModel, type MachineDefinition, type StepContext } from '@fsmkit/runtime';
import { createMysqlStore, type MysqlStore } from '@fsmkit/mysql';

export const ITEMS = Number(process.env.BENCH_ITEMS ?? 1000);
export const CONCURRENCY = 32;
export const POLL_MS = Number(process.env.BENCH_POLL_MS ?? 20);

export interface Item {
  n: number;
  doubled?: number;
}
export interface Parent {
  items: number[];
  results?: number[];
}

export const child: MachineDefinition<Item> = {
  model: buildModel({ className: 'Kid', options: { name: 'kid' }, steps: [{ order: 1, method: 'double' }] }),
  create: () => ({ double: (ctx: StepContext<Item>) => void (ctx.data.doubled = ctx.data.n * 2) }),
};
export const parent: MachineDefinition<Parent> = {
  model: buildModel({ className: 'Fan', options: { name: 'fan' }, steps: [{ order: 1, method: 'fan' }] }),
  create: () => ({
    fan(ctx: StepContext<Parent>) {
      ctx.map('kid', ctx.data.items.map((n) => ({ n })), { concurrency: CONCURRENCY });
      ctx.join({ into: 'results', field: 'doubled' });
    },
  }),
};

/** A store on tables of a fresh prefix, with both machines' tables; `BENCH_GROUP_LANES` sets its group-commit lanes. */
export async function fanOutStore(): Promise<{ store: MysqlStore; dropTables(): Promise<void> }> {
  const prefix = `b${randomBytes(4).toString('hex')}_`;
  const lanes = process.env.BENCH_GROUP_LANES;
  const store = createMysqlStore({ tablePrefix: prefix, poolSize: 40, queryTimeoutMs: 60_000, ...(lanes ? { groupCommit: { lanes: Number(lanes) } } : {}) });
  await store.ensureSchema([{ name: 'kid' }, { name: 'fan' }]);
  return {
    store,
    async dropTables() {
      const conn = await store.pool.getConnection();
      try {
        const [rows] = await conn.query(`SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE '${prefix}%'`);
        const tables = (rows as Array<{ t: string }>).map((r) => `\`${r.t}\``);
        if (tables.length > 0) await conn.query(`DROP TABLE ${tables.join(', ')}`);
      } finally {
        conn.release();
      }
    },
  };
}
