import { MODEL_VERSION } from '@fsmkit/decorators';
import { jsonDocument } from './json.js';
import { displayPath } from './names.js';
import type { EmitContext, EmitMachine, GeneratedFile } from './types.js';

/** `model.json`: every machine's model with its source, for tools (migrations, inspectors). */
export function modelJsonFile(machines: readonly EmitMachine[], ctx: EmitContext): GeneratedFile {
  return {
    path: 'model.json',
    content: jsonDocument({
      modelVersion: MODEL_VERSION,
      tablePrefix: ctx.tablePrefix,
      machines: machines.map((m) => ({
        source: displayPath(ctx.root, m.source),
        eventSchema: `${m.model.name}.events.schema.json`,
        dataSchema: m.data.schema,
        model: m.model,
      })),
    }),
  };
}
