import pLimit from 'p-limit';
import { FsmError } from './errors.js';
import type { Instance } from './instance.js';

export interface StartManyProgress {
  /** Items settled so far: started, or failed. */
  done: number;
  total: number;
  failed: number;
}

export interface StartManyOptions {
  /** Items started at once. Default 4. */
  concurrency?: number;
  /** After the first failure, start no more items (those already under way finish). Default false. */
  stopOnError?: boolean;
  /** Called after each item settles, in the order they settle. */
  onProgress?: (progress: StartManyProgress) => void;
}

/**
 * One item's outcome, at the item's position. `failed`: it could not be started (`instance`
 * absent), or it was and ended `failed` (`instance` set, `error` FSM_STEP_FAILED). `skipped`:
 * not started because the batch stopped at an earlier failure.
 */
export type StartManyResult<TData = unknown, TState extends string = string> = { index: number; source?: string } & (
  | { status: 'started'; instance: Instance<TData, TState> }
  | { status: 'failed'; error: unknown; instance?: Instance<TData, TState> }
  | { status: 'skipped' }
);

/** Runs `start` over every item with at most `concurrency` at once; one result per item, in order. */
export async function startEach<TItem, TData, TState extends string>(
  items: readonly TItem[],
  start: (item: TItem, index: number) => Promise<Instance<TData, TState>>,
  options: StartManyOptions,
  sourceOf?: (item: TItem) => string,
): Promise<Array<StartManyResult<TData, TState>>> {
  const concurrency = options.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new FsmError('FSM_INPUT_INVALID', `startMany option concurrency is ${String(concurrency)}; expected an integer of 1 or more`, {
      context: { option: 'concurrency', value: concurrency },
    });
  }
  const limit = pLimit(concurrency);
  const progress: StartManyProgress = { done: 0, total: items.length, failed: 0 };
  let stopped = false;
  const settle = (result: StartManyResult<TData, TState>) => {
    progress.done++;
    if (result.status === 'failed') {
      progress.failed++;
      if (options.stopOnError) stopped = true;
    }
    options.onProgress?.({ ...progress });
    return result;
  };
  return Promise.all(
    items.map((item, index) =>
      limit(async (): Promise<StartManyResult<TData, TState>> => {
        const base = sourceOf ? { index, source: sourceOf(item) } : { index };
        if (stopped) return { ...base, status: 'skipped' };
        try {
          const instance = await start(item, index);
          if (instance.status !== 'failed') return settle({ ...base, status: 'started', instance });
          const error = new FsmError('FSM_STEP_FAILED', `${instance.machine} instance ${instance.id} ended failed: ${instance.error?.message ?? 'no error recorded'}`, {
            context: { machine: instance.machine, id: instance.id, state: instance.state },
          });
          return settle({ ...base, status: 'failed', error, instance });
        } catch (error) {
          return settle({ ...base, status: 'failed', error });
        }
      }),
    ),
  );
}
