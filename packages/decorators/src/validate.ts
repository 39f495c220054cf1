import { NAME_PATTERN, RESERVED_STATES, type MachineModel } from './model.js';

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
  | 'FSM_E_MACHINE_DUPLICATE';

export interface ModelProblem {
  code: ModelProblemCode;
  message: string;
  /** Where in the model the problem is, e.g. `['steps', 1, 'order']`; lets callers map it to source. */
  path: Array<string | number>;
}

const TOPIC_PATTERN = /^[a-zA-Z0-9._-]{1,249}$/;
const STEP_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

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
  if (model.steps.length === 0) add('FSM_E_NO_STEPS', `machine "${model.name}" has no @Step methods`, 'steps');

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
  });
  return problems;
}
