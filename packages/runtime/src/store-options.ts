import { FsmError } from './errors.js';
import type { InstanceStatus } from './records.js';
import type { HistoryOptions, PruneOptions } from './store.js';

/** Statuses an instance never leaves on its own: the only ones `prune` may delete. */
export const FINISHED_STATUSES = ['done', 'failed', 'compensated'] as const satisfies readonly InstanceStatus[];

const DEFAULT_PRUNE_BATCH = 500;
const MAX_PRUNE_BATCH = 10_000;

export interface CheckedHistoryOptions {
  limit: number | undefined;
  afterSeq: number | undefined;
  since: Date | undefined;
  order: 'asc' | 'desc';
  withData: boolean;
}

export interface CheckedPruneOptions {
  olderThan: Date;
  statuses: InstanceStatus[];
  batchSize: number;
}

/** `history` options as every store reads them; anything else is FSM_INPUT_INVALID, before any read. */
export function checkHistoryOptions(options: HistoryOptions = {}): CheckedHistoryOptions {
  const { limit, afterSeq, since, order = 'asc', withData = true } = options;
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) throw invalid('history', 'limit', limit, 'a whole number >= 0');
  if (afterSeq !== undefined && !Number.isSafeInteger(afterSeq)) throw invalid('history', 'afterSeq', afterSeq, 'a whole number');
  if (since !== undefined && !(since instanceof Date && !Number.isNaN(since.getTime()))) throw invalid('history', 'since', since, 'a valid Date');
  if (order !== 'asc' && order !== 'desc') throw invalid('history', 'order', order, "'asc' or 'desc'");
  if (typeof withData !== 'boolean') throw invalid('history', 'withData', withData, 'a boolean');
  return { limit, afterSeq, since, order, withData };
}

/**
 * `prune` options as every store reads them. Only finished statuses may be pruned: an instance
 * in any other status may still be driven, and deleting it under its runner would lose work.
 */
export function checkPruneOptions(options: PruneOptions): CheckedPruneOptions {
  const { olderThan, statuses = [...FINISHED_STATUSES], batchSize = DEFAULT_PRUNE_BATCH } = options ?? ({} as PruneOptions);
  if (!(olderThan instanceof Date && !Number.isNaN(olderThan.getTime()))) throw invalid('prune', 'olderThan', olderThan, 'a valid Date');
  if (!Array.isArray(statuses) || statuses.length === 0 || statuses.some((s) => !(FINISHED_STATUSES as readonly string[]).includes(s))) {
    throw invalid('prune', 'statuses', statuses, `a non-empty list of ${FINISHED_STATUSES.join(', ')}`);
  }
  if (!(Number.isSafeInteger(batchSize) && batchSize >= 1 && batchSize <= MAX_PRUNE_BATCH)) {
    throw invalid('prune', 'batchSize', batchSize, `a whole number from 1 to ${MAX_PRUNE_BATCH}`);
  }
  return { olderThan, statuses: [...new Set(statuses)], batchSize };
}

function invalid(operation: string, option: string, value: unknown, expected: string): FsmError {
  const shown = value instanceof Date ? 'an invalid Date' : JSON.stringify(value) ?? String(value);
  return new FsmError('FSM_INPUT_INVALID', `${operation} option ${option} is ${shown}; expected ${expected}`, {
    context: { operation, option },
  });
}
