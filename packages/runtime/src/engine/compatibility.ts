import { RESERVED_STATES, type MachineGraph } from '@fsmkit/decorators';

export interface Incompatibility {
  /** States or steps the instance needs that the new definition does not have. */
  missing: string[];
  /** A machine without branches now orders a completed step after the current one (it would run again). */
  reordered: boolean;
}

/**
 * Whether an instance started on another definition can go on under `graph`: its state must
 * exist, every completed step it may still have to undo must exist, and on a machine without
 * branches, the completed steps must all come before the current one (or they would run again).
 * Compensation follows history, so the order of the steps to undo does not matter. Null: it can.
 */
export function incompatibility(graph: MachineGraph, state: string, direction: 'forward' | 'backward', trail: readonly string[]): Incompatibility | null {
  const terminal = (RESERVED_STATES as readonly string[]).includes(state);
  const missing: string[] = [];
  if (!terminal && !graph.steps.has(state) && !graph.resting.has(state)) missing.push(state);
  for (const name of new Set(trail)) if (!graph.steps.has(name)) missing.push(name);
  let reordered = false;
  const linear = graph.model.steps.every((s) => s.next === undefined) && graph.transitions.size === 0;
  if (linear && direction === 'forward' && !terminal) {
    const order = new Map(graph.model.steps.map((s, i) => [s.name, i]));
    const here = order.get(state) ?? -1;
    reordered = trail.some((name) => (order.get(name) ?? -1) >= here);
  }
  return missing.length > 0 || reordered ? { missing, reordered } : null;
}
