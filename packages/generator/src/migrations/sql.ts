import { columnsAddedSince, indexesAddedSince, layoutUpgradeSql, quoteId } from '@fsmkit/mysql/schema';
import type { StepDiff } from './diff.js';
import type { MachineSnapshot, StepShape } from './snapshot.js';

/**
 * The text of migration files. Statements are written only where the right change is certain
 * (a renamed step, a renumbered one); where it is a business decision (instances at a removed
 * step, a dropped machine, moved tables) the file explains it and gives the statements as
 * comments to review and uncomment.
 */

const UNFINISHED = "`status` NOT IN ('done', 'compensated')";

/** A SQL string literal. State names are checked identifiers already; quoting keeps it safe regardless. */
function literal(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

function list(names: string[]): string {
  return names.map(literal).join(', ');
}

function header(machine: string, source: string | undefined): string[] {
  return [
    `-- Migration of machine "${machine}", written by \`fsm generate\`${source ? ` (source: ${source})` : ''}.`,
    '-- Review it before `fsm migrate` applies it. Once applied, leave it as it is (`fsm migrate`',
    '-- reports an applied file whose statements changed) and put further changes in a new file.',
  ];
}

/** `0002_order_rename_charge_to_capture`: what changed, in a file name. */
export function migrationLabel(diff: StepDiff): string {
  const kinds = [
    diff.renamed.length > 0,
    diff.removed.length > 0,
    diff.added.length > 0,
    diff.reordered || diff.renumbered.length > 0,
    diff.tablesMoved,
  ].filter(Boolean).length;
  let label = 'steps';
  if (kinds === 1) {
    if (diff.renamed.length === 1) label = `rename_${diff.renamed[0]!.from.name}_to_${diff.renamed[0]!.to.name}`;
    else if (diff.removed.length === 1) label = `remove_${diff.removed[0]!.name}`;
    else if (diff.added.length === 1) label = `add_${diff.added[0]!.name}`;
    else if (diff.reordered) label = 'reorder';
    else if (diff.renumbered.length > 0) label = 'renumber';
    else if (diff.tablesMoved) label = 'tables';
  }
  // The journal keeps names up to 191 characters.
  return label.length > 100 ? 'steps' : label;
}

/** A step-change migration: statements for what is certain, reviewed comments for the rest. */
export function stepMigrationSql(before: MachineSnapshot, after: MachineSnapshot, diff: StepDiff, source?: string): string {
  const instances = quoteId(after.tables.instances);
  const history = quoteId(after.tables.history);
  const out = [...header(after.machine, source), '--'];
  out.push(
    `-- Definition ${before.definitionHash} (version ${before.version}) -> ${after.definitionHash} (version ${after.version}):`,
    ...changeLines(after, diff),
    '-- The tables keep their columns: a step is a value of `current_state`, not a column.',
    `-- Instances still on the old definition: SELECT \`id\`, \`status\`, \`current_state\` FROM ${instances} WHERE \`definition_hash\` = ${literal(before.definitionHash)};`,
  );

  if (diff.tablesMoved) {
    out.push(
      '',
      `-- The tables moved: ${quoteId(before.tables.instances)} -> ${instances}, ${quoteId(before.tables.history)} -> ${history} (the table prefix changed).`,
      '-- `fsm migrate` with the new prefix keeps a new journal and creates new, empty tables. To keep the',
      '-- instances, rename the old tables by hand BEFORE running it with the new prefix:',
      `-- RENAME TABLE ${quoteId(before.tables.instances)} TO ${instances}, ${quoteId(before.tables.history)} TO ${history};`,
    );
  }

  for (const { from, to } of diff.renamed) {
    out.push(
      '',
      `-- Renamed step ${from.name} -> ${to.name}: instances at it follow the new name, and their history`,
      '-- names it so too, since the runtime checks the steps an instance completed against the new',
      '-- definition. `state_before` and `state_after` keep the name the state had when the step ran.',
      `UPDATE ${instances} SET \`current_state\` = ${literal(to.name)} WHERE \`current_state\` = ${literal(from.name)};`,
      `UPDATE ${history} SET \`step\` = ${literal(to.name)} WHERE \`step\` = ${literal(from.name)};`,
    );
  }

  if (diff.renumbered.length > 0) {
    out.push('', '-- Renumbered steps: `resume_from_step` holds the order an instance continues from.');
    for (const r of diff.renumbered) {
      out.push(
        `UPDATE ${instances} SET \`resume_from_step\` = ${r.to} WHERE \`current_state\` = ${literal(r.name)} AND \`resume_from_step\` = ${r.from};`,
      );
    }
  }

  const outcomes = instanceOutcomes(before, after, diff);
  const refused = outcomes.filter((o): o is Outcome & { refused: string } => o.refused !== undefined);
  const refusedNames = new Set(refused.map((r) => r.state));
  for (const step of diff.added) {
    const index = after.steps.indexOf(step);
    const past = after.steps
      .slice(index + 1)
      .filter((s) => !diff.added.includes(s) && !refusedNames.has(s.name))
      .map((s) => s.name);
    out.push('', `-- Added step ${step.name} (order ${step.order}, method ${step.method}).`);
    if (past.length === 0) {
      out.push('-- Every unfinished instance runs it; finished ones do not.');
    } else {
      out.push(
        `-- Instances before it run it; instances already past it continue without it. Those are at ${past.join(', ')}:`,
        `-- SELECT \`id\`, \`status\`, \`current_state\` FROM ${instances} WHERE ${UNFINISHED} AND \`current_state\` IN (${list(past)});`,
      );
    }
  }

  const skipping = outcomes.filter((o) => o.refused === undefined && o.skips.length > 0);
  if (diff.reordered && skipping.length > 0) {
    out.push(
      '',
      '-- Reordered steps: an instance continues from its step, without the steps that now come before it:',
      ...skipping.map((o) => `--   at ${o.state}: ${o.skips.join(', ')} will not run`),
    );
  }

  if (refused.length > 0) {
    out.push(
      '',
      '-- The runtime refuses, with FSM_DEFINITION_CHANGED, unfinished instances at these states once',
      '-- this file is applied (finished ones only when moved back or compensated):',
      ...refused.map((r) => `--   ${r.state}: ${r.refused}`),
      `-- SELECT \`id\`, \`status\`, \`current_state\`, \`user_id\` FROM ${instances} WHERE ${UNFINISHED} AND \`current_state\` IN (${list(refused.map((r) => r.state))});`,
      '-- What to do with them is a business decision: finish or compensate them with a deployment of',
      '-- the old definition, or move them to a step of the new one.',
    );
    for (const step of diff.removed) {
      const target = followingSurvivor(before, after, diff, step);
      // A moved instance has completed what came before the removed step, and no more.
      const completed = before.steps.slice(0, before.steps.indexOf(step)).map((s) => survivorName(after, diff, s));
      if (target === undefined || refusal(after, completed, target.name) !== undefined) continue;
      out.push(
        `-- To move the instances at ${step.name} on to ${target.name} (the step that now follows it), uncomment:`,
        `-- UPDATE ${instances} SET \`current_state\` = ${literal(target.name)}, \`resume_from_step\` = ${target.order} WHERE \`current_state\` = ${literal(step.name)} AND ${UNFINISHED};`,
      );
    }
  }
  return `${out.join('\n')}\n`;
}

/** The tables gained columns (and indexes) since the snapshot's layout: add each one where it is missing. */
export function layoutMigrationSql(before: MachineSnapshot, after: MachineSnapshot, source?: string): string {
  const added = columnsAddedSince(before.tableLayout);
  return `${[
    ...header(after.machine, source),
    '--',
    `-- Table layout ${before.tableLayout} -> ${after.tableLayout}: tables created by an earlier release gain these columns:`,
    ...added.map((c) => `--   ${quoteId(after.tables[c.table])}.${quoteId(c.column)} ${c.definition}`),
    ...indexesAddedSince(before.tableLayout).map((i) => `--   ${quoteId(after.tables[i.table])} KEY ${quoteId(i.index)} (${i.columns})`),
    '-- MySQL 8 has no ADD COLUMN IF NOT EXISTS: each ALTER runs only when information_schema says the',
    '-- column (or index) is missing, so tables that `<machine>.sql` created at the new layout are left as they are.',
    ...layoutUpgradeSql(after.tables, before.tableLayout).map((s) => `${s};`),
  ].join('\n')}\n`;
}

/** A machine that is gone from the sources: its tables stay until someone decides otherwise. */
export function dropMigrationSql(before: MachineSnapshot): string {
  const instances = quoteId(before.tables.instances);
  const history = quoteId(before.tables.history);
  return `${[
    ...header(before.machine, undefined),
    '--',
    `-- Machine "${before.machine}" is no longer in the sources (last definition ${before.definitionHash}, version ${before.version}).`,
    '-- Its tables stay: dropping them deletes every instance and its history. Unfinished instances:',
    `-- SELECT \`id\`, \`status\`, \`current_state\` FROM ${instances} WHERE ${UNFINISHED};`,
    '-- When you are sure, uncomment:',
    `-- DROP TABLE ${history}, ${instances};`,
  ].join('\n')}\n`;
}

function changeLines(after: MachineSnapshot, diff: StepDiff): string[] {
  const lines: string[] = [];
  const step = (s: StepShape) => `order ${s.order}, method ${s.method}`;
  for (const r of diff.renamed) lines.push(`--   renamed  ${r.from.name} -> ${r.to.name} (${step(r.to)})`);
  for (const s of diff.removed) lines.push(`--   removed  ${s.name} (${step(s)})`);
  for (const s of diff.added) lines.push(`--   added    ${s.name} (${step(s)})`);
  for (const r of diff.renumbered) lines.push(`--   moved    ${r.name}: order ${r.from} -> ${r.to}`);
  if (diff.reordered) lines.push(`--   reordered: the steps now run ${after.steps.map((s) => s.name).join(', ')}`);
  if (diff.tablesMoved) lines.push('--   tables moved (see below)');
  return lines;
}

/** The new name of an old step, or undefined when it was removed. */
function survivorName(after: MachineSnapshot, diff: StepDiff, step: StepShape): string | undefined {
  const renamed = diff.renamed.find((r) => r.from.name === step.name);
  if (renamed) return renamed.to.name;
  return diff.removed.includes(step) ? undefined : after.steps.find((s) => s.name === step.name)?.name;
}

/** The first step after `removed`, in the old order, that the new definition still has. */
function followingSurvivor(before: MachineSnapshot, after: MachineSnapshot, diff: StepDiff, removed: StepShape): StepShape | undefined {
  for (const step of before.steps.slice(before.steps.indexOf(removed) + 1)) {
    const name = survivorName(after, diff, step);
    if (name !== undefined) return after.steps.find((s) => s.name === name);
  }
  return undefined;
}

interface Outcome {
  /** The state as named once the file is applied. */
  state: string;
  /** Why the runtime refuses an instance at it, if it does. */
  refused?: string;
  /** Steps it kept that now come before it, which it will not run. */
  skips: string[];
}

/**
 * What happens, on the new definition, to an instance that ran forward on the old one up to
 * each of its steps: the runtime's check applied to the steps such an instance has completed
 * (every old step before its current one).
 */
function instanceOutcomes(before: MachineSnapshot, after: MachineSnapshot, diff: StepDiff): Outcome[] {
  const kept = before.steps.map((s) => survivorName(after, diff, s));
  return before.steps.map((step, i): Outcome => {
    const name = kept[i];
    if (name === undefined) return { state: step.name, refused: 'the step was removed', skips: [] };
    const completed = kept.slice(0, i);
    const refused = refusal(after, completed, name, before.steps.slice(0, i));
    if (refused !== undefined) return { state: name, refused, skips: [] };
    const skips = after.steps
      .slice(0, after.steps.findIndex((s) => s.name === name))
      .map((s) => s.name)
      .filter((n) => kept.includes(n) && !completed.includes(n));
    return { state: name, skips };
  });
}

/**
 * The runtime's check of an instance at `at` that completed `completed` (new names; undefined
 * for a removed step, whose old step is in `completedSteps`): why it is refused, if it is.
 */
function refusal(after: MachineSnapshot, completed: Array<string | undefined>, at: string, completedSteps: StepShape[] = []): string | undefined {
  const gone = completedSteps.filter((_, k) => completed[k] === undefined).map((s) => s.name);
  if (completed.includes(undefined)) return `it completed ${gone.join(', ')}, which the new definition does not have`;
  const index = new Map(after.steps.map((s, i) => [s.name, i]));
  const path = [...completed.map((n) => index.get(n!)!), index.get(at)!];
  if (path.some((p, k) => k > 0 && p <= path[k - 1]!)) return 'the steps it completed no longer all come before it, in the same order';
  return undefined;
}
