import { NAME_PATTERN, type MachineModel } from '@fsmkit/decorators';
import { machineTables, TABLE_LAYOUT, type TableNames } from '@fsmkit/mysql/schema';
import { definitionHash } from '@fsmkit/runtime';
import { jsonDocument } from '../emit/json.js';

/** Bumped when the snapshot's shape changes. Version 1 had no `tableLayout`: its tables are at layout 1. */
export const SNAPSHOT_VERSION = 2;

/** Where snapshots live, relative to the output folder. */
export const SNAPSHOT_DIR = 'migrations/meta';

/** What a step is to the rows of stored instances. Retry, timeouts and `immediate` are not part of it. */
export interface StepShape {
  order: number;
  name: string;
  method: string;
  back?: string;
}

/**
 * The last generated state of one machine, as far as its stored instances depend on it: the
 * tables they live in and the path of steps. The next `fsm generate` compares the model with
 * it and writes a migration when they differ.
 */
export interface MachineSnapshot {
  snapshotVersion: typeof SNAPSHOT_VERSION;
  machine: string;
  /** The machine's `version` option. */
  version: number;
  /** What the runtime stores as `definition_hash` for instances started on this definition. */
  definitionHash: string;
  tables: TableNames;
  /** The layout of the machine's tables (`TABLE_LAYOUT` in @fsmkit/mysql) when the snapshot was taken. */
  tableLayout: number;
  steps: StepShape[];
}

export function snapshotOf(model: MachineModel, tablePrefix: string): MachineSnapshot {
  return {
    snapshotVersion: SNAPSHOT_VERSION,
    machine: model.name,
    version: model.version,
    definitionHash: definitionHash(model),
    tables: machineTables(model.name, { tablePrefix }),
    tableLayout: TABLE_LAYOUT,
    steps: model.steps.map((s) => {
      const shape: StepShape = { order: s.order, name: s.name, method: s.method };
      if (s.back !== undefined) shape.back = s.back;
      return shape;
    }),
  };
}

export function snapshotPath(machine: string): string {
  return `${SNAPSHOT_DIR}/${machine}.snapshot.json`;
}

export function snapshotText(snapshot: MachineSnapshot): string {
  const { snapshotVersion, machine, version, definitionHash: hash, tables, tableLayout, steps } = snapshot;
  return jsonDocument({ snapshotVersion, machine, version, definitionHash: hash, tables, tableLayout, steps });
}

const STEP_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const TABLE_NAME = /^[a-z][a-z0-9_]{0,63}$/;
/**
 * Method names reach migrations inside `--` comments: a line break would end the comment and
 * make the rest a statement. Methods are identifiers, or quoted names without control characters.
 */
function isMethodName(name: string): boolean {
  return name.length > 0 && name.length <= 128 && ![...name].some(isControl);
}

function isControl(ch: string): boolean {
  const code = ch.codePointAt(0)!;
  return code < 0x20 || code === 0x7f || code === 0x2028 || code === 0x2029;
}

/**
 * Reads a snapshot back, checking every field that reaches a migration's SQL, since the file
 * may have been edited by hand. Throws an Error saying what is wrong.
 */
export function parseSnapshot(text: string): MachineSnapshot {
  const raw = JSON.parse(text) as Record<string, unknown>;
  const fail = (what: string): never => {
    throw new Error(what);
  };
  if (typeof raw !== 'object' || raw === null) fail('not a JSON object');
  const snapshotVersion = raw['snapshotVersion'];
  if (snapshotVersion !== 1 && snapshotVersion !== SNAPSHOT_VERSION)
    fail(`snapshotVersion ${String(snapshotVersion)} is not 1 or ${SNAPSHOT_VERSION}`);
  const layout = snapshotVersion === 1 ? 1 : raw['tableLayout'];
  if (typeof layout !== 'number' || !Number.isInteger(layout) || layout < 1 || layout > TABLE_LAYOUT)
    fail(`tableLayout is not a table layout from 1 to ${TABLE_LAYOUT}`);
  const machine = raw['machine'];
  if (typeof machine !== 'string' || !NAME_PATTERN.test(machine)) fail('machine is not a valid machine name');
  const version = raw['version'];
  if (typeof version !== 'number' || !Number.isInteger(version)) fail('version is not an integer');
  const hash = raw['definitionHash'];
  if (typeof hash !== 'string' || !/^[0-9a-f]{16}$/.test(hash)) fail('definitionHash is not 16 hex digits');
  const tables = raw['tables'] as Record<string, unknown> | undefined;
  const table = (key: string): string =>
    typeof tables?.[key] === 'string' && TABLE_NAME.test(tables[key]) ? tables[key] : fail(`tables.${key} is not a table name`);
  const steps = raw['steps'];
  if (!Array.isArray(steps)) fail('steps is not an array');
  return {
    snapshotVersion: SNAPSHOT_VERSION,
    machine: machine as string,
    version: version as number,
    definitionHash: hash as string,
    tables: { instances: table('instances'), history: table('history') },
    tableLayout: layout as number,
    steps: (steps as unknown[]).map((value, i) => {
      const s = value as Record<string, unknown>;
      const ok =
        typeof s === 'object' &&
        s !== null &&
        Number.isInteger(s['order']) &&
        typeof s['name'] === 'string' &&
        STEP_NAME.test(s['name']) &&
        typeof s['method'] === 'string' &&
        (s['back'] === undefined || typeof s['back'] === 'string');
      if (!ok) fail(`steps[${i}] needs an integer order, a step name and a method`);
      for (const key of ['method', 'back'] as const) {
        const value = s[key] as string | undefined;
        if (value !== undefined && !isMethodName(value))
          fail(`steps[${i}].${key} ${JSON.stringify(value)} is not a method name (a line break or control character would reach SQL)`);
      }
      const shape: StepShape = { order: s['order'] as number, name: s['name'] as string, method: s['method'] as string };
      if (s['back'] !== undefined) shape.back = s['back'] as string;
      return shape;
    }),
  };
}
