import { ANY_ERROR, machineGraph, successors, transitionAllowedFrom, type MachineGraph } from '@fsmkit/decorators';
import { headerText } from '../header.js';
import { displayPath } from './names.js';
import type { EmitContext, EmitMachine, GeneratedFile } from './types.js';

interface Edge {
  from: string;
  to: string;
  label: string;
}

/**
 * `<name>.mmd`: a Mermaid state diagram of the machine graph.
 * - Forward: each step to its successors, labelled with its method (`goto` on the ones it
 *   must pick); catch edges labelled with what they catch; named transitions with their
 *   names (`'*'` drawn from every state it may be taken from).
 * - Ends: `done`, `failed` (a step's error that no catch-all takes, when the machine fails on
 *   errors) and resting states no transition leaves go to `[*]`.
 * - Backward (saga compensation, when any step has a `back` handler): undoing a step returns
 *   to a state that leads to it, and past the initial one to `compensated`.
 */
export function diagramFile(machine: EmitMachine, ctx: EmitContext): GeneratedFile {
  const edges = diagramEdges(machine);
  const content = ctx.templates.diagram({
    header: headerText(displayPath(ctx.root, machine.source)),
    name: machine.model.name,
    transitions: edges,
  });
  return { path: `${machine.model.name}.mmd`, content };
}

export function diagramEdges({ model }: Pick<EmitMachine, 'model'>): Edge[] {
  const graph = machineGraph(model);
  const edges: Edge[] = [];
  const seen = new Set<string>();
  const add = (from: string, to: string, label = '') => {
    const key = `${from}\n${to}\n${label}`;
    if (seen.has(key)) return;
    seen.add(key);
    edges.push({ from, to, label });
  };
  if (graph.states.length > 0) add('[*]', graph.initial);
  for (const step of model.steps) {
    successors(graph, step).forEach((to, i) => add(step.name, to, i === 0 ? step.method : `${step.method} goto`));
    for (const rule of step.catch ?? []) add(step.name, rule.goto, `catch ${rule.on.join(', ')}`);
    if (step.wait?.kind === 'message' && step.wait.onTimeout !== undefined) add(step.name, step.wait.onTimeout, `${step.wait.message} timeout`);
  }
  for (const t of graph.transitions.values())
    for (const from of graph.states) if (transitionAllowedFrom(graph, t, from)) add(from, t.to, t.name);

  if (edges.some((e) => e.to === 'done')) add('done', '[*]');
  for (const final of graph.finals) add(final, '[*]');
  if (model.onError === 'fail') {
    const failing = model.steps.filter((s) => !(s.catch ?? []).some((rule) => rule.on.includes(ANY_ERROR)));
    for (const step of failing) add(step.name, 'failed', 'error');
    if (failing.length > 0) add('failed', '[*]');
  }
  if (model.steps.some((s) => s.back !== undefined)) {
    for (const step of model.steps) {
      const label = step.back === undefined ? 'back (nothing to undo)' : `back ${step.back}`;
      for (const before of predecessors(graph, step.name)) add(step.name, before, label);
    }
    add('compensated', '[*]');
  }
  return edges;
}

/** The steps that lead to `state` (by a successor or a catch), and `compensated` for the initial state. */
function predecessors(graph: MachineGraph, state: string): string[] {
  const found = graph.model.steps
    .filter((s) => successors(graph, s).includes(state) || (s.catch ?? []).some((rule) => rule.goto === state))
    .map((s) => s.name);
  return state === graph.initial ? ['compensated', ...found] : found;
}
