import type { MachineSnapshot, StepShape } from './snapshot.js';

/** How the steps of one machine changed between two snapshots, as stored instances see it. */
export interface StepDiff {
  /** Same order and method, a new state name (the `name` option): instances can follow it. */
  renamed: Array<{ from: StepShape; to: StepShape }>;
  /** Steps of the old definition the new one does not have. */
  removed: StepShape[];
  /** Steps of the new definition the old one did not have. */
  added: StepShape[];
  /** Steps kept (under their name) whose order number changed; `resume_from_step` holds it. */
  renumbered: Array<{ name: string; from: number; to: number }>;
  /** Kept steps now run in another relative order. */
  reordered: boolean;
  /** The tables moved (the table prefix changed). */
  tablesMoved: boolean;
}

/**
 * Compares two snapshots of one machine. Steps are matched by state name; an unmatched old
 * and new step with the same order and the same method are a rename (the state name is what
 * instances store). Anything else unmatched is a removal or an addition: a changed method
 * is a different step as far as this diff can tell.
 */
export function diffSteps(before: MachineSnapshot, after: MachineSnapshot): StepDiff {
  const oldByName = new Map(before.steps.map((s) => [s.name, s]));
  const newByName = new Map(after.steps.map((s) => [s.name, s]));
  const goneSteps = before.steps.filter((s) => !newByName.has(s.name));
  const newSteps = after.steps.filter((s) => !oldByName.has(s.name));

  const renamed: StepDiff['renamed'] = [];
  const removed: StepShape[] = [];
  for (const from of goneSteps) {
    const to = newSteps.find((s) => s.order === from.order && s.method === from.method);
    if (to) renamed.push({ from, to });
    else removed.push(from);
  }
  const renamedTo = new Set(renamed.map((r) => r.to.name));
  const added = newSteps.filter((s) => !renamedTo.has(s.name));

  const renumbered: StepDiff['renumbered'] = [];
  for (const s of before.steps) {
    const now = newByName.get(s.name);
    if (now && now.order !== s.order) renumbered.push({ name: s.name, from: s.order, to: now.order });
  }
  // Kept and renamed steps, in old order, under their new names: is that the new order too?
  const newIndex = new Map(after.steps.map((s, i) => [s.name, i]));
  const survivors = before.steps
    .map((s) => renamed.find((r) => r.from.name === s.name)?.to.name ?? (newByName.has(s.name) ? s.name : undefined))
    .filter((name): name is string => name !== undefined)
    .map((name) => newIndex.get(name)!);
  const reordered = survivors.some((index, i) => i > 0 && index < survivors[i - 1]!);

  const tablesMoved = before.tables.instances !== after.tables.instances || before.tables.history !== after.tables.history;
  return { renamed, removed, added, renumbered, reordered, tablesMoved };
}

/** True when stored instances or tables need attention: a migration file is written. */
export function needsMigration(diff: StepDiff): boolean {
  return (
    diff.renamed.length > 0 ||
    diff.removed.length > 0 ||
    diff.added.length > 0 ||
    diff.renumbered.length > 0 ||
    diff.reordered ||
    diff.tablesMoved
  );
}
