import { tablePrefix } from '@fsmkit/mysql/schema';
import { asyncApiFile } from './asyncapi.js';
import { barrelFile } from './barrel.js';
import { diagramFile } from './diagram.js';
import { eventSchemaFile } from './event-schema.js';
import { modelJsonFile } from './model-json.js';
import { runnerFile } from './runner.js';
import { machineSqlFile, sharedSqlFile } from './sql.js';
import { loadTemplates } from './templates.js';
import type { EmitContext, EmitMachine, EmitOptions, GeneratedFile } from './types.js';

export { eventSchema, EVENT_TYPES, INSTANCE_STATUSES } from './event-schema.js';
export { defaultTemplatesDir, loadTemplates, TEMPLATE_FILES, type Templates } from './templates.js';
export type { EmitContext, EmitMachine, EmitOptions, GeneratedFile } from './types.js';

/**
 * Every artefact of a validated set of machines. Per machine: runner, SQL, event schema and
 * diagram; once: shared SQL, AsyncAPI, the index and model.json. Sorted by path.
 */
export function emit(machines: readonly EmitMachine[], options: EmitOptions): GeneratedFile[] {
  const ctx = emitContext(options);
  const files = machines.flatMap((machine) => machineFiles(machine, ctx));
  files.push(...sharedFiles(machines, ctx));
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** What the emitters share; compiling the templates is its cost, so a watch keeps it between runs. */
export function emitContext(options: EmitOptions): EmitContext {
  return {
    root: options.root,
    outDir: options.outDir,
    tablePrefix: tablePrefix({ tablePrefix: options.tablePrefix }),
    templates: loadTemplates(options.templates),
  };
}

/** The files of one machine alone: runner, SQL, event schema and diagram. */
export function machineFiles(machine: EmitMachine, ctx: EmitContext): GeneratedFile[] {
  return [runnerFile(machine, ctx), machineSqlFile(machine, ctx), eventSchemaFile(machine, ctx), diagramFile(machine, ctx)];
}

/** The files made from every machine: shared SQL, AsyncAPI, the index and model.json. */
export function sharedFiles(machines: readonly EmitMachine[], ctx: EmitContext): GeneratedFile[] {
  const sorted = [...machines].sort((a, b) => (a.model.name < b.model.name ? -1 : a.model.name > b.model.name ? 1 : 0));
  return [sharedSqlFile(ctx), asyncApiFile(sorted), barrelFile(sorted), modelJsonFile(sorted, ctx)];
}
