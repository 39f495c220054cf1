import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Diagnostic } from '../diagnostics.js';
import { displayPath } from '../emit/names.js';
import type { EmitMachine, GeneratedFile } from '../emit/types.js';
import { diffSteps, needsMigration } from './diff.js';
import { parseSnapshot, snapshotOf, snapshotPath, snapshotText, SNAPSHOT_DIR, type MachineSnapshot } from './snapshot.js';
import { dropMigrationSql, layoutMigrationSql, migrationLabel, stepMigrationSql } from './sql.js';

export const MIGRATIONS_DIR = 'migrations';

export interface PlanOptions {
  /** Absolute output folder: snapshots and migrations are read from and planned under it. */
  outDir: string;
  /** Absolute project root: diagnostics name files relative to it. */
  root: string;
  tablePrefix: string;
  /**
   * Plan these machines alone (a watch's update of the ones that changed, gone ones among
   * them); the other snapshots are not read. Default: every machine, and every snapshot on disk.
   */
  only?: ReadonlySet<string>;
}

export interface MigrationPlan {
  /** A snapshot per machine, and the new migration files; paths relative to outDir. */
  files: GeneratedFile[];
  /** Paths (relative to outDir) of the migrations this run adds. */
  migrations: string[];
  /** Snapshots that cannot be read: nothing may be written then. */
  diagnostics: Diagnostic[];
}

/**
 * Compares each machine with its last snapshot (`migrations/meta/<machine>.snapshot.json`).
 * A machine seen for the first time gets a snapshot only: its `<machine>.sql` creates its
 * tables. A machine whose steps or tables changed gets the next numbered migration,
 * `migrations/NNNN_<machine>_<change>.sql`, and a new snapshot; a machine that is gone gets a
 * migration that explains what to drop, and loses its snapshot. Reads the disk, writes nothing.
 */
export function planMigrations(machines: readonly EmitMachine[], options: PlanOptions): MigrationPlan {
  const plan: MigrationPlan = { files: [], migrations: [], diagnostics: [] };
  const previous = readSnapshots(options, plan.diagnostics);
  if (plan.diagnostics.length > 0) return plan;

  let next = lastNumber(join(options.outDir, MIGRATIONS_DIR)) + 1;
  const add = (machine: string, label: string, content: string) => {
    const path = `${MIGRATIONS_DIR}/${String(next++).padStart(4, '0')}_${machine}_${label}.sql`;
    plan.files.push({ path, content });
    plan.migrations.push(path);
  };

  const current = new Map(machines.map((m) => [m.model.name, m]));
  // Machines in name order, gone ones among them, so the numbering is the same on every run.
  const names = [...(options.only ?? new Set([...current.keys(), ...previous.keys()]))].sort(compare);
  for (const name of names) {
    const before = previous.get(name);
    const machine = current.get(name);
    if (machine === undefined) {
      add(name, 'drop', dropMigrationSql(before!));
      continue;
    }
    const after = snapshotOf(machine.model, options.tablePrefix);
    plan.files.push({ path: snapshotPath(name), content: snapshotText(after) });
    if (before === undefined) continue;
    const source = displayPath(options.root, machine.source);
    // Columns first: a step migration's statements may read the new layout.
    if (before.tableLayout < after.tableLayout) add(name, `table_layout_${after.tableLayout}`, layoutMigrationSql(before, after, source));
    const diff = diffSteps(before, after);
    if (!needsMigration(diff)) continue;
    add(name, migrationLabel(diff), stepMigrationSql(before, after, diff, source));
  }
  return plan;
}

function readSnapshots(options: PlanOptions, diagnostics: Diagnostic[]): Map<string, MachineSnapshot> {
  const dir = join(options.outDir, SNAPSHOT_DIR);
  const snapshots = new Map<string, MachineSnapshot>();
  if (!existsSync(dir)) return snapshots;
  const listed = options.only ? [...options.only].map((name) => `${name}.snapshot.json`).filter((f) => existsSync(join(dir, f))) : readdirSync(dir);
  for (const file of listed.filter((f) => f.endsWith('.snapshot.json')).sort()) {
    const path = join(dir, file);
    const text = readFileSync(path, 'utf8');
    try {
      const snapshot = parseSnapshot(text);
      if (`${snapshot.machine}.snapshot.json` !== file) throw new Error(`it describes machine "${snapshot.machine}"`);
      snapshots.set(snapshot.machine, snapshot);
    } catch (error) {
      diagnostics.push({
        code: 'FSM_E_SNAPSHOT_INVALID',
        severity: 'error',
        message:
          `cannot use this migration snapshot: ${(error as Error).message}. ` +
          'Restore it from version control, or delete it to take the current model as the new baseline (no migration is written for that machine then)',
        file: relative(options.root, path).split('\\').join('/'),
        line: 1,
        column: 1,
        text: text.split('\n', 1)[0] ?? '',
      });
    }
  }
  return snapshots;
}

/** Highest `NNNN_` number among the migration files, 0 when there are none. */
function lastNumber(dir: string): number {
  if (!existsSync(dir)) return 0;
  let last = 0;
  for (const file of readdirSync(dir)) {
    const match = /^(\d+)_.*\.sql$/.exec(file);
    if (match) last = Math.max(last, Number(match[1]));
  }
  return last;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
