import { machineDdl, sharedDdl } from '@fsmkit/mysql/schema';
import { headerText } from '../header.js';
import { displayPath } from './names.js';
import type { EmitContext, EmitMachine, GeneratedFile } from './types.js';

/** `<name>.sql`: the machine's instance and history tables, the same DDL the MySQL store runs. */
export function machineSqlFile(machine: EmitMachine, ctx: EmitContext): GeneratedFile {
  const header = headerText(displayPath(ctx.root, machine.source));
  const statements = machineDdl(machine.model, { tablePrefix: ctx.tablePrefix });
  return { path: `${machine.model.name}.sql`, content: sqlText(header, statements) };
}

/** `fsm_shared.sql`: lock, outbox and migration tables every machine uses. */
export function sharedSqlFile(ctx: EmitContext): GeneratedFile {
  return { path: 'fsm_shared.sql', content: sqlText(headerText(), sharedDdl({ tablePrefix: ctx.tablePrefix })) };
}

function sqlText(header: string, statements: string[]): string {
  return `-- ${header}\n\n${statements.map((s) => `${s};\n`).join('\n')}`;
}
