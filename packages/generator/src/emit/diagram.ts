import { headerText } from '../header.js';
import { displayPath } from './names.js';
import type { EmitContext, EmitMachine, GeneratedFile } from './types.js';

interface Transition {
  from: string;
  to: string;
  label: string;
}

/**
 * `<name>.mmd`: a Mermaid state diagram. Forward edges run each step's method. Backward edges
 * (saga compensation, when any step has a `back` handler) follow the runtime: an instance
 * moving backward at a step runs that step's `back` handler and moves to the step before it,
 * and past the first step to `compensated`.
 */
export function diagramFile(machine: EmitMachine, ctx: EmitContext): GeneratedFile {
  const { steps } = machine.model;
  const transitions: Transition[] = [];
  if (steps.length > 0) transitions.push({ from: '[*]', to: steps[0]!.name, label: '' });
  steps.forEach((step, i) => transitions.push({ from: step.name, to: steps[i + 1]?.name ?? 'done', label: step.method }));
  transitions.push({ from: 'done', to: '[*]', label: '' });
  if (steps.some((s) => s.back !== undefined)) {
    steps.forEach((step, i) =>
      transitions.push({
        from: step.name,
        to: steps[i - 1]?.name ?? 'compensated',
        label: step.back === undefined ? 'back (nothing to undo)' : `back ${step.back}`,
      }),
    );
    transitions.push({ from: 'compensated', to: '[*]', label: '' });
  }
  const content = ctx.templates.diagram({
    header: headerText(displayPath(ctx.root, machine.source)),
    name: machine.model.name,
    transitions,
  });
  return { path: `${machine.model.name}.mmd`, content };
}
