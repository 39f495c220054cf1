import { headerText } from '../header.js';
import { memoPerMachine } from './json.js';
import { runnerNames } from './runner.js';
import type { EmitMachine, GeneratedFile } from './types.js';

const namesOf = memoPerMachine((m: EmitMachine) => runnerNames(m));

/**
 * `index.ts`: re-exports every runner by name. A data type is re-exported only when no other
 * machine exports a different type under the same name, so the barrel always compiles.
 */
export function barrelFile(machines: readonly EmitMachine[]): GeneratedFile {
  const names = new Map(machines.map((m) => [m.model.name, namesOf(m)]));
  const owners = new Map<string, Set<string>>();
  for (const m of machines) {
    const name = names.get(m.model.name)!.dataType;
    const ref = m.data.ref;
    const identity = ref.kind === 'import' ? `${JSON.stringify(ref.from)}#${ref.importedName}` : m.model.name;
    owners.set(name, (owners.get(name) ?? new Set()).add(identity));
  }
  const exported = new Set<string>();
  const lines = machines.map(({ model }) => {
    const n = names.get(model.name)!;
    const values = [n.create, n.definition, n.model, n.states, n.dataSchema];
    const types = [n.runner, n.state, n.inputs, ...n.contexts.map((c) => c.type)];
    const data = n.dataType;
    if (owners.get(data)!.size === 1 && !exported.has(data)) {
      types.push(data);
      exported.add(data);
    }
    const list = [...values, ...types.map((t) => `type ${t}`)].join(', ');
    return `export { ${list} } from './${model.name}.runner.js';\n`;
  });
  return { path: 'index.ts', content: `// ${headerText()}\n${lines.join('')}` };
}
