import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildModel, type StepOptions } from '@fsmkit/decorators';
import { columnsAddedSince, indexesAddedSince, TABLE_LAYOUT } from '@fsmkit/mysql/schema';
import { definitionHash } from '@fsmkit/runtime';
import { describe, expect, it } from 'vitest';
import type { EmitMachine } from '../src/emit/index.js';
import { diffSteps } from '../src/migrations/diff.js';
import { planMigrations } from '../src/migrations/plan.js';
import { parseSnapshot, snapshotOf } from '../src/migrations/snapshot.js';
import { writeFiles } from '../src/write.js';
import { tempDir } from './support.js';

type Steps = Array<{ order: number; method: string; options?: StepOptions }>;

// Orders with gaps, as teams write them to leave room.
const V1: Steps = [
  { order: 10, method: 'reserveStock', options: { back: 'releaseStock' } },
  { order: 20, method: 'charge', options: { back: 'refund' } },
  { order: 30, method: 'ship' },
  { order: 40, method: 'notify' },
];

function machine(steps: Steps, options: { name?: string; version?: number } = {}): EmitMachine {
  return {
    source: '/project/src/order.machine.ts',
    model: buildModel({ className: 'OrderMachine', options: { name: options.name ?? 'order', version: options.version ?? 1 }, steps }),
    data: { ref: { kind: 'unknown', reason: 'none' }, schema: {} },
  };
}

/** An output folder that has been generated once from `steps`, as `fsm generate` leaves it. */
function generatedOnce(steps: Steps = V1): string {
  const outDir = join(tempDir(), 'src', 'generated');
  const plan = planMigrations([machine(steps)], { outDir, root: '/project', tablePrefix: 'fsm_' });
  writeFiles(plan.files, { outDir });
  return outDir;
}

/** The second generate: returns the migrations it adds, by path. */
function regenerate(outDir: string, machines: EmitMachine[], tablePrefix = 'fsm_'): Map<string, string> {
  const plan = planMigrations(machines, { outDir, root: '/project', tablePrefix });
  expect(plan.diagnostics).toEqual([]);
  writeFiles(plan.files, { outDir, sweep: ['migrations/meta'] });
  return new Map(plan.migrations.map((path) => [path, plan.files.find((f) => f.path === path)!.content]));
}

const replace = (steps: Steps, method: string, step: Steps[number] | null): Steps =>
  steps.flatMap((s) => (s.method === method ? (step ? [step] : []) : [s]));

describe('migration snapshots', () => {
  it('a first generate writes a snapshot per machine and no migration', () => {
    const outDir = generatedOnce();
    expect(readdirSync(join(outDir, 'migrations'))).toEqual(['meta']);
    const snapshot = parseSnapshot(readFileSync(join(outDir, 'migrations', 'meta', 'order.snapshot.json'), 'utf8'));
    expect(snapshot).toEqual({
      snapshotVersion: 2,
      machine: 'order',
      version: 1,
      definitionHash: definitionHash(machine(V1).model),
      tables: { instances: 'fsm_order', history: 'fsm_order_history' },
      tableLayout: TABLE_LAYOUT,
      steps: [
        { order: 10, name: 'reserveStock', method: 'reserveStock', back: 'releaseStock' },
        { order: 20, name: 'charge', method: 'charge', back: 'refund' },
        { order: 30, name: 'ship', method: 'ship' },
        { order: 40, name: 'notify', method: 'notify' },
      ],
    });
  });

  it('nothing changed: no migration, and the snapshot is not rewritten', () => {
    const outDir = generatedOnce();
    const plan = planMigrations([machine(V1)], { outDir, root: '/project', tablePrefix: 'fsm_' });
    expect(plan.migrations).toEqual([]);
    expect(writeFiles(plan.files, { outDir }).written).toEqual([]);
  });

  it('options that do not touch stored instances change the snapshot but write no migration', () => {
    const outDir = generatedOnce();
    const tuned = V1.map((s) => (s.method === 'ship' ? { ...s, options: { retry: { maxAttempts: 3 }, timeoutMs: 500 } } : s));
    expect(regenerate(outDir, [machine(tuned, { version: 2 })]).size).toBe(0);
  });
});

describe('migrations of a changed machine', () => {
  it('adds a step', async () => {
    const outDir = generatedOnce();
    const v2 = [...V1, { order: 15, method: 'fraudCheck' }];
    const migrations = regenerate(outDir, [machine(v2)]);
    expect([...migrations.keys()]).toEqual(['migrations/0001_order_add_fraudCheck.sql']);
    await expect(migrations.get('migrations/0001_order_add_fraudCheck.sql')).toMatchFileSnapshot(
      '__snapshots__/migrations/0001_order_add_fraudCheck.sql',
    );
  });

  it('renames a step (same order and method, a new name) with statements that move instances and history', async () => {
    const outDir = generatedOnce();
    const v2 = replace(V1, 'charge', { order: 20, method: 'charge', options: { name: 'capture', back: 'refund' } });
    const migrations = regenerate(outDir, [machine(v2)]);
    const text = migrations.get('migrations/0001_order_rename_charge_to_capture.sql')!;
    expect(text).toContain("UPDATE `fsm_order` SET `current_state` = 'capture' WHERE `current_state` = 'charge';");
    expect(text).toContain("UPDATE `fsm_order_history` SET `step` = 'capture' WHERE `step` = 'charge';");
    expect(text).not.toContain('FSM_DEFINITION_CHANGED');
    await expect(text).toMatchFileSnapshot('__snapshots__/migrations/0001_order_rename_charge_to_capture.sql');
  });

  it('removes a step: lists the refused instances and leaves moving them, commented, to a person', async () => {
    const outDir = generatedOnce();
    const migrations = regenerate(outDir, [machine(replace(V1, 'ship', null))]);
    const text = migrations.get('migrations/0001_order_remove_ship.sql')!;
    // Nothing runs: every statement is a comment.
    expect(text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('--'))).toEqual([]);
    expect(text).toContain('--   ship: the step was removed');
    expect(text).toContain('--   notify: it completed ship, which the new definition does not have');
    expect(text).toContain(
      "-- UPDATE `fsm_order` SET `current_state` = 'notify', `resume_from_step` = 40 WHERE `current_state` = 'ship' AND `status` NOT IN ('done', 'compensated');",
    );
    await expect(text).toMatchFileSnapshot('__snapshots__/migrations/0001_order_remove_ship.sql');
  });

  it('reorders steps: renumbers resume_from_step, names the refused and the skipping instances', async () => {
    const outDir = generatedOnce();
    const v2 = V1.map((s) => (s.method === 'ship' ? { ...s, order: 40 } : s.method === 'notify' ? { ...s, order: 30 } : s));
    const migrations = regenerate(outDir, [machine(v2)]);
    const text = migrations.get('migrations/0001_order_reorder.sql')!;
    expect(text).toContain("UPDATE `fsm_order` SET `resume_from_step` = 40 WHERE `current_state` = 'ship' AND `resume_from_step` = 30;");
    expect(text).toContain("UPDATE `fsm_order` SET `resume_from_step` = 30 WHERE `current_state` = 'notify' AND `resume_from_step` = 40;");
    expect(text).toContain('--   notify: the steps it completed no longer all come before it, in the same order');
    expect(text).toContain('--   at ship: notify will not run');
    await expect(text).toMatchFileSnapshot('__snapshots__/migrations/0001_order_reorder.sql');
  });

  it('several changes at once go in one file; numbering continues after hand-written migrations', async () => {
    const outDir = generatedOnce();
    mkdirSync(join(outDir, 'migrations'), { recursive: true });
    writeFileSync(join(outDir, 'migrations', '0007_backfill.sql'), 'UPDATE t SET x = 1;\n');
    const v2 = replace(replace(V1, 'charge', { order: 20, method: 'charge', options: { name: 'capture', back: 'refund' } }), 'ship', null);
    const migrations = regenerate(outDir, [machine(v2, { version: 2 })]);
    expect([...migrations.keys()]).toEqual(['migrations/0008_order_steps.sql']);
    await expect(migrations.get('migrations/0008_order_steps.sql')).toMatchFileSnapshot('__snapshots__/migrations/0008_order_steps.sql');
    // The snapshot moved on: the same model again writes nothing more.
    expect(regenerate(outDir, [machine(v2, { version: 2 })]).size).toBe(0);
    expect(readFileSync(join(outDir, 'migrations', '0007_backfill.sql'), 'utf8')).toBe('UPDATE t SET x = 1;\n');
  });

  it('a new table prefix gets the RENAME TABLE to run by hand, commented', () => {
    const outDir = generatedOnce();
    const migrations = regenerate(outDir, [machine(V1)], 'app_');
    const text = migrations.get('migrations/0001_order_tables.sql')!;
    expect(text).toContain('-- RENAME TABLE `fsm_order` TO `app_order`, `fsm_order_history` TO `app_order_history`;');
  });

  it('a machine seen for the first time next to a known one gets a snapshot only', () => {
    const outDir = generatedOnce();
    const refund = machine([{ order: 1, method: 'pay' }], { name: 'refund' });
    const plan = planMigrations([machine(V1), refund], { outDir, root: '/project', tablePrefix: 'fsm_' });
    expect(plan.migrations).toEqual([]);
    expect(plan.files.map((f) => f.path)).toEqual(['migrations/meta/order.snapshot.json', 'migrations/meta/refund.snapshot.json']);
  });

  it('an unreadable snapshot is an error naming the file, and nothing is planned', () => {
    const outDir = generatedOnce();
    const path = join(outDir, 'migrations', 'meta', 'order.snapshot.json');
    writeFileSync(path, readFileSync(path, 'utf8').replace('"name": "ship"', '"name": "ship\'; DROP TABLE x; --"'));
    const plan = planMigrations([machine(V1)], { outDir, root: join(outDir, '..', '..'), tablePrefix: 'fsm_' });
    expect(plan.files).toEqual([]);
    expect(plan.diagnostics).toMatchObject([
      { code: 'FSM_E_SNAPSHOT_INVALID', severity: 'error', file: 'src/generated/migrations/meta/order.snapshot.json', line: 1 },
    ]);
    expect(plan.diagnostics[0]!.message).toContain('steps[2] needs an integer order, a step name and a method');
  });

  it('a method or back name with a line break is refused: in a migration comment it would become a statement', () => {
    for (const [key, value] of [
      ['method', 'ship\nDROP TABLE fsm_order;'],
      ['back', 'refund\r\nDELETE FROM fsm_order'],
    ] as const) {
      const outDir = generatedOnce();
      const path = join(outDir, 'migrations', 'meta', 'order.snapshot.json');
      const snapshot = JSON.parse(readFileSync(path, 'utf8'));
      snapshot.steps[1][key] = value;
      writeFileSync(path, JSON.stringify(snapshot));
      // The step is removed, so the old snapshot's method would be written into the migration's comments.
      const plan = planMigrations([machine(replace(V1, 'charge', null))], { outDir, root: join(outDir, '..', '..'), tablePrefix: 'fsm_' });
      expect(plan.files).toEqual([]);
      expect(plan.migrations).toEqual([]);
      expect(plan.diagnostics).toMatchObject([{ code: 'FSM_E_SNAPSHOT_INVALID', file: 'src/generated/migrations/meta/order.snapshot.json' }]);
      expect(plan.diagnostics[0]!.message).toContain(`steps[1].${key} ${JSON.stringify(value)} is not a method name`);
    }
  });
});

describe('table layout', () => {
  /** A snapshot as the previous release wrote it: version 1, no tableLayout. */
  function previousRelease(outDir: string): void {
    const path = join(outDir, 'migrations', 'meta', 'order.snapshot.json');
    const { tableLayout: _layout, ...snapshot } = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, JSON.stringify({ ...snapshot, snapshotVersion: 1 }, null, 2));
  }

  it('a snapshot of the previous release gets the migration that adds the new columns where they are missing', () => {
    const outDir = generatedOnce();
    previousRelease(outDir);
    const added = regenerate(outDir, [machine(V1)]);
    expect([...added.keys()]).toEqual([`migrations/0001_order_table_layout_${TABLE_LAYOUT}.sql`]);
    const text = [...added.values()][0]!;
    const statements = text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('--'));
    // Each column and index: SET, PREPARE, EXECUTE, DEALLOCATE; then the rows layout 3 brings up to date.
    expect(statements).toHaveLength(4 * (columnsAddedSince(1).length + indexesAddedSince(1).length) + 1);
    expect(statements.at(-1)).toBe("UPDATE `fsm_order` SET `next_run_at` = `updated_at` WHERE `status` = 'waiting' AND `next_run_at` IS NULL AND `waiting_for` IS NULL;");
    expect(statements[0]).toBe(
      "SET @fsm_ddl = IF((SELECT COUNT(*) = 0 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'fsm_order' AND COLUMN_NAME = 'takeovers'), 'ALTER TABLE `fsm_order` ADD COLUMN `takeovers` INT NOT NULL DEFAULT 0', 'DO 0');",
    );
    expect(text).toContain('--   `fsm_order_history`.`actor` VARCHAR(191) NULL');
    expect(text).toContain("'ALTER TABLE `fsm_order` ADD KEY `ix_wait` (`wait_message`, `wait_key`)'");
    // The snapshot now records the new layout: the next generate writes nothing more.
    expect(parseSnapshot(readFileSync(join(outDir, 'migrations', 'meta', 'order.snapshot.json'), 'utf8')).tableLayout).toBe(TABLE_LAYOUT);
    expect(regenerate(outDir, [machine(V1)]).size).toBe(0);
  });

  it('a layout change and a step change at once: the columns come first, each in its own file', () => {
    const outDir = generatedOnce();
    previousRelease(outDir);
    const added = regenerate(outDir, [machine([...V1, { order: 50, method: 'archive' }])]);
    expect([...added.keys()]).toEqual([`migrations/0001_order_table_layout_${TABLE_LAYOUT}.sql`, 'migrations/0002_order_add_archive.sql']);
  });

  it('reads a version 1 snapshot as layout 1 and refuses a layout it does not know', () => {
    const outDir = generatedOnce();
    const path = join(outDir, 'migrations', 'meta', 'order.snapshot.json');
    const current = JSON.parse(readFileSync(path, 'utf8'));
    const { tableLayout: _layout, ...v1 } = current;
    expect(parseSnapshot(JSON.stringify({ ...v1, snapshotVersion: 1 })).tableLayout).toBe(1);
    expect(() => parseSnapshot(JSON.stringify({ ...current, tableLayout: TABLE_LAYOUT + 1 }))).toThrow(/tableLayout is not a table layout/);
    expect(() => parseSnapshot(JSON.stringify({ ...v1, snapshotVersion: 2 }))).toThrow(/tableLayout/);
  });
});

describe('diffSteps', () => {
  const snap = (steps: Steps) => snapshotOf(machine(steps).model, 'fsm_');

  it('a changed method at the same order is a removal and an addition, not a rename', () => {
    const diff = diffSteps(snap(V1), snap(replace(V1, 'charge', { order: 20, method: 'capture' })));
    expect(diff).toMatchObject({ renamed: [], removed: [{ name: 'charge' }], added: [{ name: 'capture' }], reordered: false });
  });

  it('renumbering with the same relative order is not a reorder', () => {
    const diff = diffSteps(snap(V1), snap(V1.map((s) => ({ ...s, order: s.order * 10 }))));
    expect(diff.reordered).toBe(false);
    expect(diff.renumbered).toHaveLength(4);
  });

  it('a rename that also moves the step is a removal and an addition', () => {
    const moved = replace(V1, 'charge', { order: 25, method: 'charge', options: { name: 'capture' } });
    expect(diffSteps(snap(V1), snap(moved))).toMatchObject({ renamed: [], removed: [{ name: 'charge' }], added: [{ name: 'capture' }] });
  });
});
