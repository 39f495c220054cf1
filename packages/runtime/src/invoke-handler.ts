import type { RetryPolicy } from '@fsmkit/decorators';
import { FsmError } from './errors.js';
import type { RunningStepContext } from './step-context.js';

/**
 * Calls one handler attempt and returns what it returned: a synchronous handler without a
 * timeout is called as it is (what it throws is thrown here), so that it costs no promise.
 * When `timeoutMs` passes first, the attempt fails with FSM_STEP_TIMEOUT and `ctx.signal` is
 * aborted, but the call returns only once the handler has returned too: the engine never
 * retries a step, moves on or releases its locks while an attempt may still be at work.
 */
export function invokeHandler(
  fn: (ctx: RunningStepContext<unknown>) => unknown,
  self: object,
  ctx: RunningStepContext<unknown>,
  timeoutMs: number | undefined,
): unknown {
  if (timeoutMs === undefined) return fn.call(self, ctx);
  return invokeWithTimeout(fn, self, ctx, timeoutMs);
}

async function invokeWithTimeout(
  fn: (ctx: RunningStepContext<unknown>) => unknown,
  self: object,
  ctx: RunningStepContext<unknown>,
  timeoutMs: number,
): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut: FsmError | undefined;
  const work = Promise.resolve().then(() => fn.call(self, ctx));
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      timedOut = new FsmError('FSM_STEP_TIMEOUT', `step "${ctx.step}" did not finish within ${timeoutMs} ms`, {
        context: { machine: ctx.machine, id: ctx.instanceId, step: ctx.step, timeoutMs },
      });
      ctx.abort(timedOut);
      resolve();
    }, timeoutMs);
  });
  try {
    const result = await Promise.race([work, timeout]);
    if (timedOut === undefined) return result;
    // Wait for the handler itself; whatever it ends with, the attempt has failed.
    await work.catch(() => undefined);
    throw timedOut;
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
