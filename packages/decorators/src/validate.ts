import { machineGraph, reachableStates, timeoutEdges } from './graph.js';
import { ANY_STATE, NAME_PATTERN, RESERVED_STATES, type MachineModel } from './model.js';

/** Stable codes of model problems; the generator reports them with file:line:col. */
export type ModelProblemCode =
  | 'FSM_E_NAME_MISSING'
  | 'FSM_E_NAME_INVALID'
  | 'FSM_E_TOPIC_INVALID'
  | 'FSM_E_NO_STEPS'
  | 'FSM_E_ORDER_INVALID'
  | 'FSM_E_ORDER_DUPLICATE'
  | 'FSM_E_STEP_NAME_INVALID'
  | 'FSM_E_STEP_NAME_DUPLICATE'
  | 'FSM_E_STEP_NAME_RESERVED'
  | 'FSM_E_BACK_MISSING'
  | 'FSM_E_LOCK_SCOPE'
  | 'FSM_E_RETRY_INVALID'
  | 'FSM_E_TIMEOUT_INVALID'
  | 'FSM_E_MACHINE_DUPLICATE'
  | 'FSM_E_TARGET_UNKNOWN'
  | 'FSM_E_FROM_UNKNOWN'
  | 'FSM_E_TRANSITION_NAME_INVALID'
  | 'FSM_E_TRANSITION_DUPLICATE'
  | 'FSM_E_METHOD_MISSING'
  | 'FSM_E_MATCHER_INVALID'
  | 'FSM_E_WAIT_INVALID';

/** Codes of model warnings: the model works, but probably not as meant. */
export type ModelWarningCode = 'FSM_W_UNREACHABLE';

export interface ModelWarning {
  code: ModelWarningCode;
  message: string;
  path: Array<string | number>;
}

export interface ModelProblem {
  code: ModelProblemCode;
  message: string;
  /** Where in the model the problem is, e.g. `['steps', 1, 'order']`; lets callers map it to source. */
  path: Array<string | number>;
}

const TOPIC_PATTERN = /^[a-zA-Z0-9._-]{1,249}$/;
const STEP_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** Message names reach the `wait_message` column (64 characters) and Kafka mappings. */
export const MESSAGE_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/**
 * Every problem of one model, all at once. `methods` lists the methods the class really has,
 * when known, so that `back` naming a missing method is caught.
 */
export function checkModel(model: MachineModel, methods?: ReadonlySet<string>): ModelProblem[] {
  const problems: ModelProblem[] = [];
  const add = (code: ModelProblemCode, message: string, ...path: Array<string | number>) =>
    problems.push({ code, message, path });

  if (!model.name) add('FSM_E_NAME_MISSING', 'machine has no name: give @Machine({ name })', 'name');
  else if (!NAME_PATTERN.test(model.name))
    add(
      'FSM_E_NAME_INVALID',
      `machine name "${model.name}" is not usable in SQL and Kafka: it must match ${NAME_PATTERN} after normalisation`,
      'name',
    );
  if (model.topic !== undefined && !TOPIC_PATTERN.test(model.topic))
    add('FSM_E_TOPIC_INVALID', `topic "${model.topic}" is not a legal Kafka topic name`, 'topic');
  if (model.lock.scope !== 'none' && model.lock.scope !== 'global' && model.lock.scope !== 'local')
    add('FSM_E_LOCK_SCOPE', `unknown lock scope "${String(model.lock.scope)}": use 'global' or 'local'`, 'lock', 'scope');
  if (model.lock.scope === 'local' && model.lock.by !== 'user' && model.lock.by !== 'type')
    add('FSM_E_LOCK_SCOPE', `unknown local lock key "${String(model.lock.by)}": use 'user' or 'type'`, 'lock', 'by');
  const transitions = model.transitions ?? [];
  if (model.steps.length === 0 && transitions.length === 0)
    add('FSM_E_NO_STEPS', `machine "${model.name}" has no @Step or @Transition methods`, 'steps');

  const orders = new Map<number, number>();
  const names = new Map<string, number>();
  model.steps.forEach((step, i) => {
    if (!Number.isInteger(step.order) || step.order <= 0)
      add('FSM_E_ORDER_INVALID', `step order must be a positive integer, got ${String(step.order)}`, 'steps', i, 'order');
    else if (orders.has(step.order))
      add(
        'FSM_E_ORDER_DUPLICATE',
        `step order ${step.order} is used by both "${model.steps[orders.get(step.order)!]!.method}" and "${step.method}"`,
        'steps',
        i,
        'order',
      );
    else orders.set(step.order, i);

    if (!STEP_NAME_PATTERN.test(step.name))
      add('FSM_E_STEP_NAME_INVALID', `step name "${step.name}" must match ${STEP_NAME_PATTERN}`, 'steps', i, 'name');
    else if ((RESERVED_STATES as readonly string[]).includes(step.name))
      add('FSM_E_STEP_NAME_RESERVED', `step name "${step.name}" is reserved for a terminal state: pick another`, 'steps', i, 'name');
    else if (names.has(step.name))
      add('FSM_E_STEP_NAME_DUPLICATE', `two steps are named "${step.name}"`, 'steps', i, 'name');
    else names.set(step.name, i);

    if (step.back !== undefined && methods && !methods.has(step.back))
      add(
        'FSM_E_BACK_MISSING',
        `step "${step.name}" names back handler "${step.back}", but ${model.className} has no such method`,
        'steps',
        i,
        'back',
      );
    const r = step.retry;
    if (r && (!Number.isInteger(r.maxAttempts) || r.maxAttempts < 1 || (r.backoffMs ?? 0) < 0 || (r.factor ?? 1) < 1))
      add('FSM_E_RETRY_INVALID', 'retry needs an integer maxAttempts >= 1, backoffMs >= 0 and factor >= 1', 'steps', i, 'retry');
    if (step.timeoutMs !== undefined && !(step.timeoutMs > 0))
      add('FSM_E_TIMEOUT_INVALID', `timeoutMs must be positive, got ${step.timeoutMs}`, 'steps', i, 'timeoutMs');
    if (r?.on !== undefined && !validMatchers(r.on))
      add('FSM_E_MATCHER_INVALID', 'retry.on needs one or more error codes, names or classes', 'steps', i, 'retry', 'on');
    const w = step.wait;
    if (w?.kind === 'timer' && !(Number.isFinite(w.ms) && w.ms >= 0))
      add('FSM_E_WAIT_INVALID', `step "${step.name}" sleeps ${String(w.ms)} ms: give a number of milliseconds, 0 or more`, 'steps', i, 'wait');
    if (w?.kind === 'message') {
      if (typeof w.message !== 'string' || !MESSAGE_NAME_PATTERN.test(w.message))
        add('FSM_E_WAIT_INVALID', `step "${step.name}" waits for message "${String(w.message)}": a message name must match ${MESSAGE_NAME_PATTERN}`, 'steps', i, 'wait', 'message');
      if (w.timeoutMs !== undefined && !(w.timeoutMs > 0))
        add('FSM_E_WAIT_INVALID', `step "${step.name}" waits with timeoutMs ${String(w.timeoutMs)}: it must be positive`, 'steps', i, 'wait', 'timeoutMs');
      if (w.onTimeout !== undefined && w.timeoutMs === undefined)
        add('FSM_E_WAIT_INVALID', `step "${step.name}" names onTimeout "${w.onTimeout}" but no timeoutMs`, 'steps', i, 'wait', 'onTimeout');
    }
    const j = step.join;
    if (j !== undefined) {
      if (w !== undefined) add('FSM_E_WAIT_INVALID', `step "${step.name}" declares both a join and a ${w.kind} wait: a step waits for one thing`, 'steps', i, 'join');
      if (j.onChildError !== undefined && j.onChildError !== 'fail' && j.onChildError !== 'collect')
        add('FSM_E_WAIT_INVALID', `step "${step.name}" joins with onChildError "${String(j.onChildError)}": use "fail" or "collect"`, 'steps', i, 'join', 'onChildError');
      for (const field of ['into', 'field'] as const) {
        const v = j[field];
        if (v !== undefined && (typeof v !== 'string' || v.length === 0))
          add('FSM_E_WAIT_INVALID', `step "${step.name}" joins with ${field} ${JSON.stringify(v)}: give a data field name`, 'steps', i, 'join', field);
      }
    }
    (step.catch ?? []).forEach((rule, j) => {
      if (!validMatchers(rule.on))
        add('FSM_E_MATCHER_INVALID', `catch rule ${j + 1} of step "${step.name}" needs one or more error codes, names or classes`, 'steps', i, 'catch', j, 'on');
    });
  });
  checkGraph(model, methods, add);
  return problems;
}

function validMatchers(on: unknown): boolean {
  return Array.isArray(on) && on.length > 0 && on.every((m) => typeof m === 'string' && m.length > 0);
}

type Add = (code: ModelProblemCode, message: string, ...path: Array<string | number>) => void;

/** Every edge names a known state; transitions are named once and have their methods. */
function checkGraph(model: MachineModel, methods: ReadonlySet<string> | undefined, add: Add): void {
  const graph = machineGraph(model);
  const known = (state: string) => graph.steps.has(state) || graph.resting.has(state);
  const target = (state: string) => known(state) || (RESERVED_STATES as readonly string[]).includes(state);
  const listed = () => graph.states.map((s) => `"${s}"`).join(', ');
  model.steps.forEach((step, i) => {
    (step.next ?? []).forEach((next, j) => {
      if (!target(next)) add('FSM_E_TARGET_UNKNOWN', `step "${step.name}" names next state "${next}", which the machine does not have (states: ${listed()})`, 'steps', i, 'next', j);
    });
    (step.catch ?? []).forEach((rule, j) => {
      if (!known(rule.goto)) add('FSM_E_TARGET_UNKNOWN', `step "${step.name}" catches errors to "${rule.goto}", which the machine does not have (states: ${listed()})`, 'steps', i, 'catch', j, 'goto');
    });
    const onTimeout = step.wait?.kind === 'message' ? step.wait.onTimeout : undefined;
    if (onTimeout !== undefined && !target(onTimeout))
      add('FSM_E_TARGET_UNKNOWN', `step "${step.name}" goes to "${onTimeout}" when its message times out, which the machine does not have (states: ${listed()})`, 'steps', i, 'wait', 'onTimeout');
  });
  if (model.initial !== undefined && !known(model.initial))
    add('FSM_E_TARGET_UNKNOWN', `initial state "${model.initial}" is not a state of the machine (states: ${listed()})`, 'initial');
  // States something leads into: a transition may start from them.
  const entered = new Set<string>([
    ...(model.transitions ?? []).map((t) => t.to),
    ...model.steps.flatMap((s) => [...(s.next ?? []), ...(s.catch ?? []).map((r) => r.goto), ...timeoutEdges(s)]),
  ]);
  const names = new Set<string>();
  (model.transitions ?? []).forEach((t, i) => {
    if (!STEP_NAME_PATTERN.test(t.name))
      add('FSM_E_TRANSITION_NAME_INVALID', `transition name "${t.name}" must match ${STEP_NAME_PATTERN}`, 'transitions', i, 'name');
    else if (names.has(t.name)) add('FSM_E_TRANSITION_DUPLICATE', `two transitions are named "${t.name}"`, 'transitions', i, 'name');
    names.add(t.name);
    if (t.from.length === 0) add('FSM_E_FROM_UNKNOWN', `transition "${t.name}" has no from state`, 'transitions', i, 'from');
    t.from.forEach((from, j) => {
      if (from !== ANY_STATE && !graph.steps.has(from) && !entered.has(from) && model.initial !== from)
        add('FSM_E_FROM_UNKNOWN', `transition "${t.name}" starts from "${from}", which is not a step and nothing leads to (states: ${listed()})`, 'transitions', i, 'from', j);
    });
    if ((RESERVED_STATES as readonly string[]).includes(t.to))
      add('FSM_E_STEP_NAME_RESERVED', `transition "${t.name}" goes to "${t.to}", which is reserved for a terminal state: name the end state (such as "closed")`, 'transitions', i, 'to');
    else if (!STEP_NAME_PATTERN.test(t.to)) add('FSM_E_TARGET_UNKNOWN', `transition "${t.name}" goes to "${t.to}", which is not a valid state name`, 'transitions', i, 'to');
    if (methods && !methods.has(t.method))
      add('FSM_E_METHOD_MISSING', `transition "${t.name}" runs method "${t.method}", but ${model.className} has no such method`, 'transitions', i, 'method');
    if (t.guard !== undefined && methods && !methods.has(t.guard))
      add('FSM_E_METHOD_MISSING', `transition "${t.name}" names guard "${t.guard}", but ${model.className} has no such method`, 'transitions', i, 'guard');
  });
}

/** What works but is probably not meant: states that nothing reaches from the initial state. */
export function modelWarnings(model: MachineModel): ModelWarning[] {
  const graph = machineGraph(model);
  const reached = reachableStates(graph);
  const warnings: ModelWarning[] = [];
  model.steps.forEach((step, i) => {
    if (!reached.has(step.name))
      warnings.push({ code: 'FSM_W_UNREACHABLE', message: `step "${step.name}" cannot be reached from the initial state "${graph.initial}"`, path: ['steps', i] });
  });
  return warnings;
}
