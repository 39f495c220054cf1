import { MODEL_VERSION } from '@fsmkit/decorators';
import { arrayJson, jsonDocument, memoPerMachine, nestedJson, spliceJson } from './json.js';
import { displayPath } from './names.js';
import type { EmitContext, EmitMachine, GeneratedFile } from './types.js';

const MACHINES = '@@fsmkit:machines@@';

/** One machine's element of `machines`, keyed by the folder its source is named from. */
const machineJson = memoPerMachine((m: EmitMachine, root: string) =>
  nestedJson(
    {
      source: displayPath(root, m.source),
      eventSchema: `${m.model.name}.events.schema.json`,
      dataSchema: m.data.schema,
      model: m.model,
    },
    2,
  ),
);

/** `model.json`: every machine's model with its source, for tools (migrations, inspectors). */
export function modelJsonFile(machines: readonly EmitMachine[], ctx: EmitContext): GeneratedFile {
  const document = jsonDocument({ modelVersion: MODEL_VERSION, tablePrefix: ctx.tablePrefix, machines: MACHINES });
  const elements = machines.map((m) => machineJson(m, ctx.root));
  return { path: 'model.json', content: spliceJson(document, new Map([[MACHINES, arrayJson(elements, 1)]])) };
}
