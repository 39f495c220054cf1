import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { errorInfo, noopLogger, type ErrorInfo, type Logger } from '@fsmkit/runtime';
import { orderBatch } from './batch-order.js';
import { failureKind, isTooLarge } from './events-error.js';
import { chunkRows, rowBytes, withoutData } from './message-size.js';
import { byTopic, rowMessage } from './messages.js';
import type { Outbox, OutboxId, OutboxRow } from './outbox.js';
import { KafkaPublisher, type BatchPublisher, type KafkaOptions } from './publisher.js';

export interface OutboxRelayOptions extends KafkaOptions {
  outbox: Outbox;
  /** Publish through this instead of a kafkajs producer of the relay's own. */
  publisher?: BatchPublisher;
  /** Name this relay claims rows under. Default: host, pid and a random suffix. */
  owner?: string;
  /** Rows per claim. Default 500. */
  batchSize?: number;
  /**
   * Most bytes of messages sent in one request; a claim is cut to fit. Keep it under the
   * broker's `message.max.bytes` (1 MiB by default), which bounds each partition's batch.
   * Default 900 000.
   */
  maxBatchBytes?: number;
  /**
   * An event larger than this (key, value and headers) is sent without its `data`, with
   * `dataOmitted: true`; so is one the broker refuses as too large. Default 1 000 000.
   */
  maxMessageBytes?: number;
  /** A row the broker refuses this many times in a row becomes a dead letter (needs `Outbox.reject`). Default 10. */
  maxFailures?: number;
  /**
   * Claims being sent at once. The outbox never hands out a row of an instance still in
   * flight, so concurrent sends hold distinct instances and each instance stays in order.
   * Default 2; 1 sends one claim at a time.
   */
  maxSendsInFlight?: number;
  /** How long a claim protects rows from other relays. Default 60 000. */
  leaseMs?: number;
  /** Wait between polls of an empty outbox. Default 200. */
  pollIntervalMs?: number;
  /**
   * Retry delays after a failure, doubled from `initialMs` up to `maxMs`, with jitter: of the
   * whole relay when the broker is away, of one instance when the broker refused its event.
   * Default 250 and 10 000.
   */
  backoff?: { initialMs?: number; maxMs?: number };
  /**
   * Sent rows are deleted once they are this old (needs `Outbox.purgeSent`); `Infinity` keeps
   * them. Default 86 400 000 (one day).
   */
  retentionMs?: number;
  /** How often the running relay purges. Default 60 000. */
  purgeIntervalMs?: number;
  /** Rows per purge statement: small, so no delete holds locks for long. Default 500. */
  purgeBatchSize?: number;
  logger?: Logger;
  /** Called with every failure the running relay retries (broker down, missing topic, outbox error). */
  onError?: (error: unknown) => void;
}

/** A claimed row and the message that goes out for it (the same row, or a copy without data). */
type Pending = OutboxRow;

/** What one pass did with its claim. */
interface Pass {
  settled: Set<OutboxId>;
  /** Instances with a row that was refused: their later rows wait. */
  blocked: Set<string>;
  sent: number;
  /** Refused rows the outbox holds back (for a retry delay or as dead letters). */
  held: number;
}

/** What the send of one claim did. */
interface SendResult {
  claimed: number;
  sent: number;
  /** Some refused rows are held back by the outbox (for a retry delay or as dead letters). */
  held: boolean;
}

/**
 * Whether the loop waits for a poll (or a notify) before claiming again: after an empty claim
 * unless the send that just ended sent rows (rows of its instances may have queued behind it),
 * and after a send that sent nothing of its claim (an outbox without reject would hand refused
 * rows straight back).
 */
export function idleAfter(claimed: number, previous: SendResult | null): boolean {
  if (previous !== null && previous.claimed > 0 && previous.sent === 0) return true;
  return claimed === 0 && (previous === null || previous.sent === 0);
}

/** Thrown out of a pass when the broker is away: every unsettled row is released. */
class TransientFailure {
  constructor(readonly error: unknown) {}
}

/**
 * Publishes outbox rows to Kafka and marks them sent. A claim is sent in requests cut to fit
 * the broker's limits, each instance's rows in sequence order, and marked sent before any
 * later row of those instances can be claimed, so with the outbox's claim contract an
 * instance's events reach Kafka in order however many relays and sends run at once.
 *
 * When the broker is away every row is released and retried with backoff: none is lost. When
 * it refuses some rows (a topic missing, invalid or denied; an event or batch too large), the
 * relay splits the request to find them, sends the rest, and reports each refused row to the
 * outbox, which holds its instance back and, after `maxFailures` refusals, sets the row aside
 * as a dead letter; the instance's later events wait behind it. An event too large even alone
 * goes out without its data (`dataOmitted: true`). A row may arrive more than once when a
 * failed request had partly landed (consumers drop duplicates by event id).
 */
export class OutboxRelay {
  readonly owner: string;
  private readonly outbox: Outbox;
  private readonly publisher: BatchPublisher;
  private readonly ownsPublisher: boolean;
  private readonly batchSize: number;
  private readonly maxBatchBytes: number;
  private readonly maxMessageBytes: number;
  private readonly maxFailures: number;
  private readonly maxSendsInFlight: number;
  private readonly leaseMs: number;
  private readonly pollIntervalMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly retentionMs: number;
  private readonly purgeIntervalMs: number;
  private readonly purgeBatchSize: number;
  private readonly logger: Logger;
  private readonly onError: ((error: unknown) => void) | undefined;
  private loop: Promise<void> | null = null;
  private stopping = false;
  private wake: (() => void) | null = null;
  /** Set by `notify()` since the last claim began: rows may be waiting that it did not see. */
  private nudged = false;
  private unwatch: (() => void) | null = null;
  /** The running loop's sends in flight, oldest first, while it claims the next rows. */
  private sending: Promise<SendResult>[] = [];
  private lastPurge = 0;
  /** Claims run one at a time: the loop and drainOnce never claim concurrently. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: OutboxRelayOptions) {
    this.outbox = options.outbox;
    this.ownsPublisher = options.publisher === undefined;
    this.publisher = options.publisher ?? new KafkaPublisher(options);
    this.owner = options.owner ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.batchSize = positive('batchSize', options.batchSize ?? 500);
    this.maxBatchBytes = positive('maxBatchBytes', options.maxBatchBytes ?? 900_000);
    this.maxMessageBytes = positive('maxMessageBytes', options.maxMessageBytes ?? 1_000_000);
    this.maxFailures = positive('maxFailures', options.maxFailures ?? 10);
    this.maxSendsInFlight = Math.floor(positive('maxSendsInFlight', options.maxSendsInFlight ?? 2));
    this.leaseMs = positive('leaseMs', options.leaseMs ?? 60_000);
    this.pollIntervalMs = positive('pollIntervalMs', options.pollIntervalMs ?? 200);
    this.initialBackoffMs = positive('backoff.initialMs', options.backoff?.initialMs ?? 250);
    this.maxBackoffMs = Math.max(this.initialBackoffMs, options.backoff?.maxMs ?? 10_000);
    this.retentionMs = options.retentionMs ?? 86_400_000;
    if (Number.isNaN(this.retentionMs) || this.retentionMs < 0) throw new RangeError(`OutboxRelay retentionMs must be 0 or more, got ${this.retentionMs}`);
    this.purgeIntervalMs = positive('purgeIntervalMs', options.purgeIntervalMs ?? 60_000);
    this.purgeBatchSize = positive('purgeBatchSize', options.purgeBatchSize ?? 500);
    this.logger = options.logger ?? noopLogger;
    this.onError = options.onError;
  }

  /** Starts publishing in the background until `stop()`. */
  start(): void {
    if (this.loop) return;
    this.stopping = false;
    // Commits of this process wake the relay at once; other processes' commits wait for a poll.
    this.unwatch = this.outbox.watch?.(() => this.notify()) ?? null;
    this.loop = this.run();
  }

  /** Stops polling, lets the publishes in flight finish and be marked, then disconnects. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.unwatch?.();
    this.unwatch = null;
    this.wake?.();
    await this.loop;
    this.loop = null;
    await this.queue.catch(() => undefined);
    if (this.ownsPublisher) await this.publisher.close();
  }

  /**
   * Cuts the idle wait short: rows were written that the relay should claim now. Commits of an
   * outbox that can be watched (the MySQL store's, the memory outbox's) call it by themselves.
   */
  notify(): void {
    this.nudged = true;
    this.wake?.();
  }

  /**
   * Publishes everything claimable now, claim after claim, and returns how many rows were
   * sent. Rows the broker refuses are reported to the outbox and do not stop the others.
   * Rejects with the first failure that concerns every row (broker away, outbox error); the
   * rows not yet sent are released first.
   */
  drainOnce(): Promise<number> {
    return this.exclusive(async () => {
      // The running loop's sends in flight first: their rows are not claimable until they end.
      await Promise.all(this.sending.map((s) => s.catch(() => undefined)));
      let total = 0;
      for (;;) {
        const { claimed, sent, held } = await this.sendOnce();
        total += sent;
        // Held rows are out of the next claims; rows merely released would come straight back.
        if (claimed === 0 || (sent === 0 && !held)) return total;
      }
    });
  }

  /**
   * Deletes the rows sent more than `retentionMs` ago, `purgeBatchSize` at a time, and returns
   * how many went. The running relay calls it every `purgeIntervalMs`.
   */
  async purge(): Promise<number> {
    const purgeSent = this.outbox.purgeSent?.bind(this.outbox);
    if (!purgeSent || this.retentionMs === Infinity) return 0;
    let total = 0;
    for (;;) {
      const deleted = await purgeSent(this.retentionMs, this.purgeBatchSize);
      total += deleted;
      if (deleted < this.purgeBatchSize || this.stopping) return total;
    }
  }

  /**
   * Claims the next rows while earlier claims are being sent, and sends them at once unless
   * `maxSendsInFlight` sends are already out, so a commit waits for at most one claim before it
   * is on its way. The outbox never hands out a row while an earlier row of its instance is
   * claimed, so a claim made during a send holds none of the instances in flight: per-instance
   * order holds however the sends overlap.
   */
  private async run(): Promise<void> {
    let delay = this.initialBackoffMs;
    while (!this.stopping) {
      try {
        await this.purgeWhenDue();
        const claimedAt = Date.now();
        const rows = await this.exclusive(() => this.claim());
        // Nothing claimed, or no room for another send: wait for the oldest one, whose outcome
        // also says whether to wait before claiming again.
        const full = rows.length === 0 || this.sending.length >= this.maxSendsInFlight;
        const previous = full ? await this.settleSending(rows) : null;
        if (rows.length > 0) {
          const sending = this.sendClaim(rows, claimedAt);
          sending.catch(() => undefined); // awaited by a later turn, or at stop
          this.sending.push(sending);
        }
        delay = this.initialBackoffMs;
        if (idleAfter(rows.length, previous)) await this.sleep(this.pollIntervalMs);
      } catch (error) {
        // Whatever went wrong, the loop goes on: a relay never stops in silence.
        const wait = Math.round(delay * (0.5 + Math.random() / 2));
        this.report('warn', `outbox relay ${this.owner}: publishing failed, retrying in ${wait} ms`, error);
        await this.sleep(wait);
        delay = Math.min(delay * 2, this.maxBackoffMs);
      }
    }
    while (this.sending.length > 0) {
      try {
        await this.settleSending([]);
      } catch (error) {
        this.report('warn', `outbox relay ${this.owner}: publishing failed while stopping; the rows stay unsent`, error);
      }
    }
  }

  /**
   * Waits for the oldest send in flight. When it failed, the rows claimed meanwhile are released
   * unsent (the broker or the outbox is away: they would fail too) and its failure is thrown.
   */
  private async settleSending(claimed: OutboxRow[]): Promise<SendResult | null> {
    const sending = this.sending.shift();
    if (!sending) return null;
    try {
      return await sending;
    } catch (error) {
      await this.release(claimed, errorInfo(error));
      throw error;
    }
  }

  private claim(): Promise<OutboxRow[]> {
    this.nudged = false;
    return this.outbox.claim(this.owner, this.batchSize, this.leaseMs);
  }

  private async purgeWhenDue(): Promise<void> {
    const now = Date.now();
    if (now - this.lastPurge < this.purgeIntervalMs) return;
    this.lastPurge = now;
    try {
      const purged = await this.purge();
      if (purged > 0) this.safely(() => this.logger.info(`outbox relay ${this.owner}: purged ${purged} sent row(s)`));
    } catch (error) {
      // Sending goes on; the next purge is due after the interval.
      this.report('warn', `outbox relay ${this.owner}: purging sent rows failed`, error);
    }
  }

  private async sendOnce(): Promise<SendResult> {
    const claimedAt = Date.now();
    return this.sendClaim(await this.claim(), claimedAt);
  }

  /** Sends a claim, marks what went out and releases the rest; throws when no row could be sent for a reason of all of them. */
  private async sendClaim(rows: OutboxRow[], claimedAt: number): Promise<SendResult> {
    if (rows.length === 0) return { claimed: 0, sent: 0, held: false };
    const pass: Pass = { settled: new Set(), blocked: new Set(), sent: 0, held: 0 };
    try {
      const ordered = orderBatch(rows).map((row) => this.fit(row));
      for (const chunk of chunkRows(ordered, this.maxBatchBytes)) await this.sendRows(pass, chunk);
    } catch (error) {
      if (!(error instanceof TransientFailure)) throw error; // the outbox failed: the claim expires
      await this.release(rows.filter((r) => !pass.settled.has(r.id)), errorInfo(error.error));
      throw error.error;
    }
    // Rows behind a refused row of their instance go back unsent, to wait for it.
    const waiting = rows.filter((r) => !pass.settled.has(r.id));
    if (waiting.length > 0) {
      await this.release(waiting, { name: 'FsmError', code: 'FSM_EVENTS', message: 'waiting behind an earlier event of the instance that the broker refused' });
    }
    if (Date.now() - claimedAt > this.leaseMs) {
      this.report('warn', `outbox relay ${this.owner}: publishing outlasted the lease; another relay may resend these rows`, null);
    }
    return { claimed: rows.length, sent: pass.sent, held: pass.held > 0 };
  }

  /** An event too large to ever fit goes out without its data. */
  private fit(row: OutboxRow): Pending {
    if (rowBytes(row) <= this.maxMessageBytes) return row;
    return withoutData(row) ?? row;
  }

  /**
   * Sends ordered rows, skipping instances already blocked in this pass. When the broker
   * refuses the request, each topic is tried apart, then halves, down to the single rows it
   * refuses; a passing failure (broker away) ends the pass.
   */
  private async sendRows(pass: Pass, rows: Pending[]): Promise<void> {
    const live = rows.filter((r) => !pass.blocked.has(r.instanceId));
    if (live.length === 0) return;
    const error = await this.tryPublish(live);
    if (error === null) {
      await this.markSent(pass, live);
      return;
    }
    const kind = failureKind(error);
    if (kind === 'transient') throw new TransientFailure(error);
    const topics = new Set(live.map((r) => r.topic));
    if (topics.size > 1) {
      for (const topic of topics) await this.sendRows(pass, live.filter((r) => r.topic === topic));
      return;
    }
    if (kind === 'topic') {
      // The whole topic is refused: the first row of each instance counts a failure.
      for (const row of live) {
        if (pass.blocked.has(row.instanceId)) continue;
        await this.refuse(pass, row, error);
      }
      return;
    }
    if (live.length === 1) {
      await this.sendAlone(pass, live[0]!, error);
      return;
    }
    const half = Math.ceil(live.length / 2);
    await this.sendRows(pass, live.slice(0, half));
    await this.sendRows(pass, live.slice(half));
  }

  /** One row the broker refused: without its data if it was too large, else counted as refused. */
  private async sendAlone(pass: Pass, row: Pending, error: unknown): Promise<void> {
    const slim = isTooLarge(error) ? withoutData(row) : null;
    if (slim) {
      const again = await this.tryPublish([slim]);
      if (again === null) {
        this.report('warn', `outbox relay ${this.owner}: event ${row.eventId} is too large for topic "${row.topic}"; sent without its data`, error);
        await this.markSent(pass, [row]);
        return;
      }
      if (failureKind(again) === 'transient') throw new TransientFailure(again);
      error = again;
    }
    await this.refuse(pass, row, error);
  }

  private async refuse(pass: Pass, row: Pending, error: unknown): Promise<void> {
    pass.blocked.add(row.instanceId);
    pass.settled.add(row.id);
    const info = errorInfo(error);
    const reject = this.outbox.reject?.bind(this.outbox);
    if (!reject) {
      await this.outbox.markFailed(this.owner, [row.id], info);
      this.report('warn', `outbox relay ${this.owner}: the broker refused event ${row.eventId} of instance ${row.instanceId}`, error);
      return;
    }
    const outcome = await reject(this.owner, row.id, info, {
      maxFailures: this.maxFailures,
      backoff: { initialMs: this.initialBackoffMs, maxMs: this.maxBackoffMs },
    });
    pass.held++;
    if (outcome === 'dead') {
      this.report(
        'error',
        `outbox relay ${this.owner}: event ${row.eventId} (instance ${row.instanceId}, topic "${row.topic}") refused ${this.maxFailures} times; ` +
          'set aside as a dead letter, the instance\'s later events wait behind it (fsm dead-letters list|retry)',
        error,
      );
    } else {
      this.report('warn', `outbox relay ${this.owner}: the broker refused event ${row.eventId} of instance ${row.instanceId}; retrying later`, error);
    }
  }

  private async tryPublish(rows: Pending[]): Promise<unknown> {
    try {
      await this.publisher.publish(byTopic(rows.map(rowMessage)));
      return null;
    } catch (error) {
      return error ?? new Error('publish failed');
    }
  }

  private async markSent(pass: Pass, rows: Pending[]): Promise<void> {
    await this.outbox.markSent(this.owner, rows.map((r) => r.id));
    for (const r of rows) pass.settled.add(r.id);
    pass.sent += rows.length;
  }

  private async release(rows: OutboxRow[], error: ErrorInfo): Promise<void> {
    if (rows.length === 0) return;
    await this.outbox.markFailed(this.owner, rows.map((r) => r.id), error).catch((markError: unknown) => {
      // The claim then simply expires; the rows are retried after the lease.
      this.safely(() => this.logger.error(`outbox relay ${this.owner}: could not release rows`, { error: markError }));
    });
  }

  /** Logs and hands the error to onError; neither may break the loop by throwing. */
  private report(level: 'warn' | 'error', message: string, error: unknown): void {
    this.safely(() => this.logger[level](message, { error }));
    if (error !== null) this.safely(() => this.onError?.(error));
  }

  private safely(call: () => void): void {
    try {
      call();
    } catch {
      // A logger or callback that throws must not stop publishing.
    }
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.queue.then(task);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private sleep(ms: number): Promise<void> {
    // A notify() that came while the last claim ran: rows it did not see may be waiting.
    if (this.stopping || this.nudged) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.wake?.(), ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`OutboxRelay ${name} must be a positive number, got ${value}`);
  return value;
}
