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
  const ctx: EmitContext = {
    root: options.root,
    outDir: options.outDir,
    tablePrefix: tablePrefix({ tablePrefix: options.tablePrefix }),
    templates: loadTemplates(options.templates),
  };
  const sorted = [...machines].sort((a, b) => (a.model.name < b.model.name ? -1 : a.model.name > b.model.name ? 1 : 0));
  const files: GeneratedFile[] = [];
  for (const machine of sorted) {
    files.push(runnerFile(machine, ctx), machineSqlFile(machine, ctx), eventSchemaFile(machine, ctx), diagramFile(machine, ctx));
  }
  files.push(sharedSqlFile(ctx), asyncApiFile(sorted), barrelFile(sorted), modelJsonFile(sorted, ctx));
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
