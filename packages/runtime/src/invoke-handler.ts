import type { RetryPolicy } from '@fsmkit/decorators';
import { FsmError } from './errors.js';
import type { RunningStepContext } from './step-context.js';

/** Calls one handler attempt, failing it with FSM_STEP_TIMEOUT when `timeoutMs` passes. */
export async function invokeHandler(
  fn: (ctx: RunningStepContext<unknown>) => unknown,
  self: object,
  ctx: RunningStepContext<unknown>,
  timeoutMs: number | undefined,
): Promise<void> {
  if (timeoutMs === undefined) {
    await fn.call(self, ctx);
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new FsmError('FSM_STEP_TIMEOUT', `step "${ctx.step}" did not finish within ${timeoutMs} ms`, {
        context: { machine: ctx.machine, id: ctx.instanceId, step: ctx.step, timeoutMs },
      });
      // Settle the race first: a handler that stops on abort must not win it.
      reject(error);
      ctx.abort(error);
    }, timeoutMs);
  });
  try {
    await Promise.race([Promise.resolve(fn.call(self, ctx)), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Delay before attempt `attempt + 1` after `attempt` failed. */
export function retryDelay(policy: RetryPolicy, attempt: number): number {
  const base = policy.backoffMs ?? 0;
  const delay = base * (policy.factor ?? 1) ** (attempt - 1);
  return Math.min(delay, policy.maxBackoffMs ?? Number.POSITIVE_INFINITY);
}
