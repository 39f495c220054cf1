/**
 * A machine changes under running instances: generate v1, migrate, run instances on MySQL,
 * change the machine (a step renamed, one removed), generate and migrate again, and run the
 * instances with the v2 definition.
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMysqlStore } from '@fsmkit/mysql';
import { createRunner, defineMachine, definitionHash, isFsmError, type MachineRunner } from '@fsmkit/runtime';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT_OK, main} from '../src/index.js';
import { dropTablesWithPrefix, MYSQL_URL, mysqlUnavailable, testPool, uniquePrefix, type Rows } from './support/mysql.js';
import { recorder } from './support/io.js';

const unavailable = await mysqlUnavailable();

const V1_SOURCE = `import { Machine, Step, type StepContext } from '@fsmkit/decorators';

export interface OrderData { log: string[] }

@Machine({ name: 'order' })
export class OrderMachine {
  @Step(1) async reserve(ctx: StepContext<OrderData>) { ctx.data.log.push('reserve'); }
  @Step(2) async charge(ctx: StepContext<OrderData>) { ctx.data.log.push('charge'); }
  @Step(3) async ship(ctx: StepContext<OrderData>) { ctx.data.log.push('ship'); }
  @Step(4) async notify(ctx: StepContext<OrderData>) { ctx.data.log.push('notify'); }
}
`;
// v2: step 2 keeps its method and order under a new state name; ship is gone.
const V2_SOURCE = V1_SOURCE.replace('@Step(2)', "@Step(2, { name: 'capture' })").replace(/ {2}@Step\(3\).*\n/, '');

interface OrderData {
  log: string[];
}
const step = (name: string) => (ctx: { data: OrderData }) => void ctx.data.log.push(name);
const v1 = defineMachine<OrderData>({
  name: 'order',
  steps: { reserve: { order: 1 }, charge: { order: 2 }, ship: { order: 3 }, notify: { order: 4 } },
  methods: { reserve: step('reserve'), charge: step('charge'), ship: step('ship'), notify: step('notify') },
});
const v2 = defineMachine<OrderData>({
  name: 'order',
  steps: { reserve: { order: 1 }, charge: { order: 2, name: 'capture' }, notify: { order: 4 } },
  methods: { reserve: step('reserve'), charge: step('charge'), notify: step('notify') },
});

describe.skipIf(unavailable !== null)('a machine that changes under running instances', () => {
  const prefix = uniquePrefix();
  const dir = mkdtempSync(join(tmpdir(), 'fsm-evolve-'));
  const gen = join(dir, 'gen');
  const pool = testPool();
  const store = createMysqlStore({ url: MYSQL_URL, tablePrefix: prefix, poolSize: 2 });

  afterAll(async () => {
    await store.close();
    await dropTablesWithPrefix(pool, prefix);
    await pool.end();
    rmSync(dir, { recursive: true, force: true });
  });

  const fsm = async (...args: string[]) => {
    const io = recorder(dir);
    const code = await main(args, io);
    return { code, ...io };
  };
  const snapshotHash = () => (JSON.parse(readFileSync(join(gen, 'migrations', 'meta', 'order.snapshot.json'), 'utf8')) as { definitionHash: string }).definitionHash;
  const refusal = (runner: MachineRunner<OrderData>, id: string) =>
    runner.run(id).then(
      () => 'ran',
      (error: unknown) => (isFsmError(error, 'FSM_DEFINITION_CHANGED') ? error.context : error),
    );
  const ids: Record<'atCharge' | 'atShip' | 'atNotify', string> = { atCharge: '', atShip: '', atNotify: '' };

  it('v1: generate, migrate, and instances stopped at charge, ship and notify', async () => {
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', 'order.machine.ts'), V1_SOURCE);
    writeFileSync(join(dir, 'fsm.config.mjs'), `export default { include: ['src/**/*.machine.ts'], outDir: 'gen', tablePrefix: '${prefix}' };\n`);
    expect((await fsm('generate')).code).toBe(EXIT_OK);
    expect(snapshotHash()).toBe(definitionHash(v1.model));
    const migrated = await fsm('migrate', '--url', MYSQL_URL);
    expect(migrated.code).toBe(EXIT_OK);
    expect(migrated.stdout).toContain('fsm migrate: 2 applied, 0 skipped, 0 changed');

    const runner = createRunner(v1, { store });
    for (const [key, steps] of [['atCharge', 1], ['atShip', 2], ['atNotify', 3]] as const) {
      const { id } = await runner.create({ log: [] });
      for (let i = 0; i < steps; i++) await runner.next(id);
      ids[key] = id;
    }
    expect(await runner.currentStates(Object.values(ids))).toEqual(
      new Map([[ids.atCharge, 'charge'], [ids.atShip, 'ship'], [ids.atNotify, 'notify']]),
    );
  });

  it('v2: generate writes one migration for the rename and the removal; migrate applies it', async () => {
    writeFileSync(join(dir, 'src', 'order.machine.ts'), V2_SOURCE);
    const generated = await fsm('generate');
    expect(generated.code).toBe(EXIT_OK);
    expect(generated.stdout).toContain('  new migration gen/migrations/0001_order_steps.sql: review it, then run `fsm migrate`\n');
    expect(snapshotHash()).toBe(definitionHash(v2.model));
    expect((await fsm('generate', '--check')).code).toBe(EXIT_OK);

    const migrated = await fsm('migrate', '--url', MYSQL_URL);
    expect(migrated.code).toBe(EXIT_OK);
    expect(migrated.stdout).toContain('  applied       migrations/0001_order_steps.sql\n');
    expect(migrated.stdout).toContain('fsm migrate: 1 applied, 2 skipped, 0 changed');
    const [rows] = await pool.query(`SELECT \`step\`, \`handler\` FROM \`${prefix}order_history\` WHERE \`instance_id\` = ? ORDER BY \`seq\``, [ids.atShip]);
    expect(rows as Rows).toEqual([
      { step: 'reserve', handler: 'reserve' },
      { step: 'capture', handler: 'charge' },
    ]);
  });

  it('the instance at the renamed step continues on v2; those at or past the removed step are refused', async () => {
    const runner = createRunner(v2, { store });
    const done = await runner.run(ids.atCharge);
    expect([done.status, done.data.log]).toEqual(['done', ['reserve', 'charge', 'notify']]);
    expect((await runner.history(ids.atCharge)).map((h) => `${h.step}:${h.handler}`)).toEqual(['reserve:reserve', 'capture:charge', 'notify:notify']);
    expect((await runner.get(ids.atCharge)).state).toBe('done');

    expect(await refusal(runner, ids.atShip)).toMatchObject({ id: ids.atShip, missing: ['ship'] });
    expect(await refusal(runner, ids.atNotify)).toMatchObject({ id: ids.atNotify, missing: ['ship'] });
    // Refused, not skipped or changed: both wait where they were.
    expect(await runner.currentStates([ids.atShip, ids.atNotify])).toEqual(new Map([[ids.atShip, 'ship'], [ids.atNotify, 'notify']]));
  });

  it("the migration's suggested move, applied as a new file, lets the instance at the removed step go on", async () => {
    const generated = readFileSync(join(gen, 'migrations', '0001_order_steps.sql'), 'utf8');
    const move = generated.split('\n').find((l) => l.startsWith('-- UPDATE '))!.slice(3);
    expect(move).toBe(
      `UPDATE \`${prefix}order\` SET \`current_state\` = 'notify', \`resume_from_step\` = 4 WHERE \`current_state\` = 'ship' AND \`status\` NOT IN ('done', 'compensated');`,
    );
    writeFileSync(join(gen, 'migrations', '0002_order_move_ship.sql'), `${move}\n`);
    expect((await fsm('migrate', '--url', MYSQL_URL)).stdout).toContain('fsm migrate: 1 applied, 3 skipped, 0 changed');

    const runner = createRunner(v2, { store });
    const moved = await runner.run(ids.atShip);
    expect([moved.status, moved.data.log]).toEqual(['done', ['reserve', 'charge', 'notify']]);
    // It never ran ship; the one that did still cannot go on without the old code.
    expect(await refusal(runner, ids.atNotify)).toMatchObject({ missing: ['ship'] });
  });
});
