import type { ErrorInfo } from '@fsmkit/runtime';

/** An outbox row's id: a BIGINT in MySQL (read as a string), a number in memory. */
export type OutboxId = string | number | bigint;

/** One event waiting in an outbox, as the relay publishes it. */
export interface OutboxRow {
  id: OutboxId;
  eventId: string;
  topic: string;
  /** Message key: the instance id, so all events of an instance land on one partition. */
  key: string;
  instanceId: string;
  /** 1, 2, 3... per instance. */
  sequence: number;
  type: string;
  /** The event as JSON: published as the message value, unchanged. */
  payload: string;
  headers: Record<string, string>;
}

/** What became of a row the broker refused for a reason of its own. */
export type RejectOutcome = 'retry' | 'dead';

export interface RejectOptions {
  /** The refusal that makes this many refusals in a row sets the row aside as a dead letter. */
  maxFailures: number;
  /** Until then, the instance's events wait before the row is tried again: `initialMs`, doubled with each refusal, up to `maxMs`. */
  backoff: { initialMs: number; maxMs: number };
}

/**
 * An event set aside after the broker refused it `failures` times in a row (too large, topic
 * missing, invalid or denied...). Its instance's later events wait behind it, so per-instance
 * order holds; a retry puts it back in line.
 */
export interface DeadLetter {
  id: OutboxId;
  eventId: string;
  instanceId: string;
  topic: string;
  type: string;
  sequence: number;
  failures: number;
  error: ErrorInfo;
  deadAt: Date;
  /** Later unsent events of the same instance, held back until this one is sent. */
  waiting: number;
}

/** Which dead letters to put back in line: all of them, or those of some instances or topics. */
export interface DeadLetterFilter {
  instanceIds?: readonly string[];
  topics?: readonly string[];
  eventIds?: readonly string[];
}

/**
 * Where committed events wait until a relay has published them.
 *
 * The ordering contract: for every instance present in a claim, the claimed rows are that
 * instance's earliest unsent rows. A row is never claimed while an earlier unsent row of
 * its instance is claimed (by any owner, the claiming one included), refused and waiting for
 * its retry, set aside as a dead letter, or left out of the claim. So a relay that sends each
 * claim in sequence order never lets an event overtake an earlier event of the same instance,
 * however many relays run and even when it claims again before the previous claim is marked
 * sent: that claim holds none of the instances still in flight.
 */
export interface Outbox {
  /** Claims up to `limit` unsent rows for `owner` for `leaseMs`; expired claims are claimable again. */
  claim(owner: string, limit: number, leaseMs: number): Promise<OutboxRow[]>;
  /** The rows reached the broker: they are never claimed again. */
  markSent(owner: string, ids: OutboxId[]): Promise<void>;
  /** Publishing failed for a passing reason (broker away): releases `owner`'s claim on the rows and records the error. */
  markFailed(owner: string, ids: OutboxId[], error: ErrorInfo): Promise<void>;
  /**
   * The broker refused this row, an instance's earliest unsent one, for a reason of its own:
   * releases it, counts the refusal and holds the instance back for a growing delay, or sets
   * the row aside as a dead letter once `maxFailures` refusals are reached. Without it a
   * relay releases refused rows like failed ones, and they are retried forever.
   */
  reject?(owner: string, id: OutboxId, error: ErrorInfo, options: RejectOptions): Promise<RejectOutcome>;
  /** Deletes up to `limit` rows sent more than `olderThanMs` ago; returns how many went. */
  purgeSent?(olderThanMs: number, limit: number): Promise<number>;
  /**
   * Calls `listener` whenever rows committed in this process became claimable, so a running
   * relay claims them at once instead of at its next poll; returns what stops the calls. Rows
   * committed by other processes are found by polling.
   */
  watch?(listener: () => void): () => void;
}

/** The delay before a refused row is tried again, after its `failures`-th refusal. */
export function retryDelayMs(failures: number, backoff: RejectOptions['backoff']): number {
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.max(0, failures - 1));
}
