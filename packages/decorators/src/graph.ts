import { ANY_STATE, RESERVED_STATES, type MachineModel, type StepModel, type TransitionModel } from './model.js';

/**
 * The machine model seen as a graph: its states, where each step may go, which states only a
 * named transition leaves, and which are final. Derived from the model alone, so the
 * decorators' checks, the generator and the runtime agree on it.
 */
export interface MachineGraph {
  readonly model: MachineModel;
  /** Every state a model declares: steps, then states only transitions name, in first-seen order. */
  readonly states: readonly string[];
  readonly steps: ReadonlyMap<string, StepModel>;
  /** States that are not steps: an instance rests there until a named transition moves it. */
  readonly resting: ReadonlySet<string>;
  /** Resting states no transition leaves: an instance that reaches one is done. */
  readonly finals: ReadonlySet<string>;
  readonly transitions: ReadonlyMap<string, TransitionModel>;
  /** Where new instances start. */
  readonly initial: string;
}

const TERMINAL: ReadonlySet<string> = new Set(RESERVED_STATES);

export function machineGraph(model: MachineModel): MachineGraph {
  const steps = new Map(model.steps.map((s) => [s.name, s]));
  const transitions = new Map((model.transitions ?? []).map((t) => [t.name, t]));
  const states: string[] = model.steps.map((s) => s.name);
  const seen = new Set(states);
  const resting = new Set<string>();
  const add = (state: string) => {
    if (state === ANY_STATE || TERMINAL.has(state) || seen.has(state)) return;
    seen.add(state);
    states.push(state);
    resting.add(state);
  };
  for (const t of transitions.values()) {
    t.from.forEach(add);
    add(t.to);
  }
  const left = new Set<string>();
  for (const t of transitions.values()) for (const f of t.from) if (f !== ANY_STATE) left.add(f);
  const finals = new Set([...resting].filter((s) => !left.has(s)));
  const initial = model.initial ?? model.steps[0]?.name ?? states[0] ?? 'done';
  return { model, states, steps, resting, finals, transitions, initial };
}

/** The state a step goes to when its handler picks none: its first `next`, the next step by order, or `done`. */
export function defaultSuccessor(graph: MachineGraph, step: StepModel): string {
  if (step.end) return 'done';
  if (step.next && step.next.length > 0) return step.next[0]!;
  const steps = graph.model.steps;
  const i = steps.indexOf(step);
  return steps[i + 1]?.name ?? 'done';
}

/** The states a step may go to: its declared `next`, or its default successor. */
export function successors(graph: MachineGraph, step: StepModel): string[] {
  if (step.next && step.next.length > 0) return [...step.next];
  return [defaultSuccessor(graph, step)];
}

/** True when transition `t` may be taken from `state`. */
export function transitionAllowedFrom(graph: MachineGraph, t: TransitionModel, state: string): boolean {
  if (t.from.includes(state)) return true;
  return t.from.includes(ANY_STATE) && !graph.finals.has(state) && !TERMINAL.has(state);
}

/** Every state reachable from the initial state (through steps' successors, catches and transitions). */
export function reachableStates(graph: MachineGraph): Set<string> {
  const reached = new Set<string>();
  const queue = [graph.initial];
  while (queue.length > 0) {
    const state = queue.pop()!;
    if (reached.has(state) || TERMINAL.has(state)) continue;
    reached.add(state);
    const step = graph.steps.get(state);
    if (step) {
      queue.push(...successors(graph, step));
      for (const rule of step.catch ?? []) queue.push(rule.goto);
      queue.push(...timeoutEdges(step));
    }
    for (const t of graph.transitions.values()) if (transitionAllowedFrom(graph, t, state)) queue.push(t.to);
  }
  return reached;
}

/** Where a step's declared message wait goes when it times out: its timeout edge, if any. */
export function timeoutEdges(step: StepModel): string[] {
  return step.wait?.kind === 'message' && step.wait.onTimeout !== undefined ? [step.wait.onTimeout] : [];
}
