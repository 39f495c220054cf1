import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generate } from '../src/generate.js';
import { writeFiles } from '../src/write.js';
import { copyInto, fixture, tempDir } from './support.js';

const SHOP_FILES = [
  'asyncapi.json',
  'audit_log.events.schema.json',
  'audit_log.mmd',
  'audit_log.runner.ts',
  'audit_log.sql',
  'fsm_shared.sql',
  'index.ts',
  'model.json',
  'order.events.schema.json',
  'order.mmd',
  'order.runner.ts',
  'order.sql',
  'payment_capture.events.schema.json',
  'payment_capture.mmd',
  'payment_capture.runner.ts',
  'payment_capture.sql',
  'report.events.schema.json',
  'report.mmd',
  'report.runner.ts',
  'report.sql',
];
const SHOP_SNAPSHOTS = ['audit_log', 'order', 'payment_capture', 'report'].map((m) => `migrations/meta/${m}.snapshot.json`);

/** The shop fixture in a temp folder, with a config that needs no package to load. */
function shop(): { dir: string; outDir: string } {
  const dir = tempDir();
  copyInto(dir, fixture('shop', 'src'));
  writeFileSync(join(dir, 'fsm.config.mjs'), "export default { include: ['src/**/*.machine.ts'], outDir: 'src/generated' };\n");
  return { dir, outDir: join(dir, 'src', 'generated') };
}

describe('generate', () => {
  it('writes every artefact of every machine, then leaves them alone when nothing changed', async () => {
    const { dir, outDir } = shop();
    const first = await generate({ cwd: dir });
    expect(first.ok).toBe(true);
    expect(first.diagnostics.map((d) => d.code)).toEqual(['FSM_W_DATA_TYPE_NOT_EXPORTED']);
    expect(readdirSync(outDir).sort()).toEqual([...SHOP_FILES, 'migrations'].sort());
    expect(readdirSync(join(outDir, 'migrations', 'meta')).sort()).toEqual(SHOP_SNAPSHOTS.map((p) => p.split('/')[2]));
    expect(first.written).toHaveLength(SHOP_FILES.length + SHOP_SNAPSHOTS.length);
    // Machines seen for the first time: their .sql creates the tables, no migration is needed.
    expect(first.migrations).toEqual([]);
    expect(existsSync(join(outDir, 'migrations', '0001_order_add_audit.sql'))).toBe(false);

    const runner = readFileSync(join(outDir, 'payment_capture.runner.ts'), 'utf8');
    expect(runner).toContain("import { PaymentMachine } from '../payment.machine.js';");
    expect(runner).toContain("import type { PaymentData } from '../types.js';");

    const past = new Date('2001-01-01T00:00:00Z');
    for (const f of [...SHOP_FILES, ...SHOP_SNAPSHOTS]) utimesSync(join(outDir, f), past, past);
    const second = await generate({ cwd: dir });
    expect(second.written).toEqual([]);
    expect(second.migrations).toEqual([]);
    expect(second.unchanged).toHaveLength(SHOP_FILES.length + SHOP_SNAPSHOTS.length);
    expect(statSync(join(outDir, 'order.runner.ts')).mtimeMs).toBe(past.getTime());
  });

  it('--check passes on fresh output and names what is stale after a source changes', async () => {
    const { dir, outDir } = shop();
    await generate({ cwd: dir });
    expect((await generate({ cwd: dir, check: true })).ok).toBe(true);

    const source = join(dir, 'src', 'order.machine.ts');
    writeFileSync(source, readFileSync(source, 'utf8').replace("topic: 'shop.orders'", "topic: 'shop.orders.v2'"));
    rmSync(join(outDir, 'report.mmd'));
    const check = await generate({ cwd: dir, check: true });
    expect(check.ok).toBe(false);
    expect(check.stale.map((s) => [s.path.slice(outDir.length + 1), s.reason])).toEqual([
      ['asyncapi.json', 'changed'],
      ['model.json', 'changed'],
      ['order.runner.ts', 'changed'],
      ['report.mmd', 'missing'],
    ]);
    expect(existsSync(join(outDir, 'report.mmd'))).toBe(false);
  });

  it('--check counts a missing snapshot and a changed machine (its migration to write) as stale', async () => {
    const { dir, outDir } = shop();
    await generate({ cwd: dir });
    rmSync(join(outDir, 'migrations', 'meta', 'report.snapshot.json'));
    const source = join(dir, 'src', 'order.machine.ts');
    writeFileSync(source, readFileSync(source, 'utf8').replace("@Step(2, { back: 'refund',", "@Step(2, { name: 'capture', back: 'refund',"));
    const check = await generate({ cwd: dir, check: true });
    expect(check.ok).toBe(false);
    expect(check.stale.filter((s) => s.path.includes('migrations')).map((s) => [s.path.slice(outDir.length + 1), s.reason])).toEqual([
      ['migrations/0001_order_rename_charge_to_capture.sql', 'missing'],
      ['migrations/meta/order.snapshot.json', 'changed'],
      ['migrations/meta/report.snapshot.json', 'missing'],
    ]);
    expect(existsSync(join(outDir, 'migrations', '0001_order_rename_charge_to_capture.sql'))).toBe(false);

    const written = await generate({ cwd: dir });
    expect(written.migrations).toEqual([join(outDir, 'migrations', '0001_order_rename_charge_to_capture.sql')]);
    expect(readFileSync(written.migrations[0]!, 'utf8')).toContain("SET `current_state` = 'capture' WHERE `current_state` = 'charge'");
    expect((await generate({ cwd: dir, check: true })).ok).toBe(true);
  });

  it('removes the files of a machine that no longer exists, and keeps files it did not write', async () => {
    const { dir, outDir } = shop();
    await generate({ cwd: dir });
    writeFileSync(join(outDir, 'notes.md'), 'mine\n');
    rmSync(join(dir, 'src', 'audit.machine.ts'));
    const result = await generate({ cwd: dir });
    expect(result.removed.map((p) => p.slice(outDir.length + 1))).toEqual([
      'audit_log.events.schema.json',
      'audit_log.mmd',
      'audit_log.runner.ts',
      'audit_log.sql',
      'migrations/meta/audit_log.snapshot.json',
    ]);
    // Its tables stay: the migration only explains how to drop them.
    expect(result.migrations.map((p) => p.slice(outDir.length + 1))).toEqual(['migrations/0001_audit_log_drop.sql']);
    expect(readFileSync(result.migrations[0]!, 'utf8')).toContain('-- DROP TABLE `fsm_audit_log_history`, `fsm_audit_log`;');
    expect(readdirSync(outDir)).toContain('notes.md');
    expect(readFileSync(join(outDir, 'index.ts'), 'utf8')).not.toContain('audit');
  });

  it('is byte-for-byte the same wherever the project lives', async () => {
    const a = shop();
    const b = shop();
    const [ra, rb] = [await generate({ cwd: a.dir }), await generate({ cwd: b.dir })];
    expect(ra.files).toEqual(rb.files);
  });

  it('does not read its own output as input', async () => {
    const { dir } = shop();
    writeFileSync(join(dir, 'fsm.config.mjs'), "export default { include: ['src/**/*.ts'], outDir: 'src/generated' };\n");
    await generate({ cwd: dir });
    const again = await generate({ cwd: dir });
    expect(again.diagnostics.map((d) => d.code)).toEqual(['FSM_W_DATA_TYPE_NOT_EXPORTED']);
    expect(again.written).toEqual([]);
  });

  it('writes a large project on a worker thread, exactly the files it made', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'src'));
    const machines = 70;
    for (let i = 0; i < machines; i++)
      writeFileSync(
        join(dir, 'src', `m${i}.machine.ts`),
        `import { Machine, Step, type StepContext } from '@fsmkit/decorators';
export interface M${i}Data { n: number; tags: string[] }
@Machine({ name: 'm_${i}' })
export class M${i} {
  @Step(1) async one(ctx: StepContext<M${i}Data>): Promise<void> {}
  @Step(2) async two(ctx: StepContext<M${i}Data>): Promise<void> {}
}
`,
      );
    writeFileSync(join(dir, 'fsm.config.mjs'), "export default { include: ['src/**/*.machine.ts'], outDir: 'generated' };\n");
    const first = await generate({ cwd: dir });
    expect(first.ok).toBe(true);
    expect(first.written).toHaveLength(machines * 5 + 4);
    expect(first.written).toEqual(first.files.map((f) => join(dir, 'generated', f.path)));
    // What the worker wrote is what was made, to the byte, as the in-process writer sees it.
    expect(writeFiles(first.files, { outDir: join(dir, 'generated'), check: true, sweep: ['migrations/meta'] }).stale).toEqual([]);
    const check = await generate({ cwd: dir, check: true });
    expect(check.ok).toBe(true);
    expect(check.unchanged).toHaveLength(machines * 5 + 4);
  });
});
