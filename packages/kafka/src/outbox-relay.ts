import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { errorInfo, noopLogger, type Logger } from '@fsmkit/runtime';
import { orderBatch } from './batch-order.js';
import { byTopic, rowMessage } from './messages.js';
import type { Outbox } from './outbox.js';
import { KafkaPublisher, type BatchPublisher, type KafkaOptions } from './publisher.js';

export interface OutboxRelayOptions extends KafkaOptions {
  outbox: Outbox;
  /** Publish through this instead of a kafkajs producer of the relay's own. */
  publisher?: BatchPublisher;
  /** Name this relay claims rows under. Default: host, pid and a random suffix. */
  owner?: string;
  /** Rows per claim, published in one request. Default 500. */
  batchSize?: number;
  /** How long a claim protects rows from other relays. Default 60 000. */
  leaseMs?: number;
  /** Wait between polls of an empty outbox. Default 200. */
  pollIntervalMs?: number;
  /** Retry delays after a failure: doubled from `initialMs` up to `maxMs`, with jitter. Default 250 and 10 000. */
  backoff?: { initialMs?: number; maxMs?: number };
  logger?: Logger;
  /** Called with every failure the running relay retries (broker down, missing topic, outbox error). */
  onError?: (error: unknown) => void;
}

/**
 * Publishes outbox rows to Kafka and marks them sent. Each claim is sent in one request,
 * each instance's rows in sequence order, and marked sent before the next claim, so with the
 * outbox's claim contract an instance's events reach Kafka in order however many relays run.
 * When publishing fails the rows are released and retried with backoff: none is lost, and a
 * row may arrive more than once only when a failed publish had in fact landed (consumers
 * drop duplicates by event id).
 */
export class OutboxRelay {
  readonly owner: string;
  private readonly outbox: Outbox;
  private readonly publisher: BatchPublisher;
  private readonly ownsPublisher: boolean;
  private readonly batchSize: number;
  private readonly leaseMs: number;
  private readonly pollIntervalMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly logger: Logger;
  private readonly onError: ((error: unknown) => void) | undefined;
  private loop: Promise<void> | null = null;
  private stopping = false;
  private wake: (() => void) | null = null;
  /** Passes run one at a time: the loop and drainOnce never claim concurrently. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: OutboxRelayOptions) {
    this.outbox = options.outbox;
    this.ownsPublisher = options.publisher === undefined;
    this.publisher = options.publisher ?? new KafkaPublisher(options);
    this.owner = options.owner ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.batchSize = positive('batchSize', options.batchSize ?? 500);
    this.leaseMs = positive('leaseMs', options.leaseMs ?? 60_000);
    this.pollIntervalMs = positive('pollIntervalMs', options.pollIntervalMs ?? 200);
    this.initialBackoffMs = positive('backoff.initialMs', options.backoff?.initialMs ?? 250);
    this.maxBackoffMs = Math.max(this.initialBackoffMs, options.backoff?.maxMs ?? 10_000);
    this.logger = options.logger ?? noopLogger;
    this.onError = options.onError;
  }

  /** Starts publishing in the background until `stop()`. */
  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.loop = this.run();
  }

  /** Stops polling, lets the publish in flight finish and be marked, then disconnects. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
    this.loop = null;
    await this.queue.catch(() => undefined);
    if (this.ownsPublisher) await this.publisher.close();
  }

  /** Cuts the idle wait short: call it after writing rows for a lower commit-to-publish delay. */
  notify(): void {
    this.wake?.();
  }

  /**
   * Publishes everything claimable now, claim after claim, and returns how many rows were
   * sent. Rejects with the first failure (the failed claim is released first).
   */
  drainOnce(): Promise<number> {
    return this.exclusive(async () => {
      let total = 0;
      for (;;) {
        const sent = await this.sendOnce();
        if (sent === 0) return total;
        total += sent;
      }
    });
  }

  private async run(): Promise<void> {
    let delay = this.initialBackoffMs;
    while (!this.stopping) {
      try {
        const sent = await this.exclusive(() => this.sendOnce());
        delay = this.initialBackoffMs;
        if (sent === 0) await this.sleep(this.pollIntervalMs);
      } catch (error) {
        const wait = Math.round(delay * (0.5 + Math.random() / 2));
        this.logger.warn(`outbox relay ${this.owner}: publishing failed, retrying in ${wait} ms`, { error });
        this.onError?.(error);
        await this.sleep(wait);
        delay = Math.min(delay * 2, this.maxBackoffMs);
      }
    }
  }

  private async sendOnce(): Promise<number> {
    const rows = await this.outbox.claim(this.owner, this.batchSize, this.leaseMs);
    if (rows.length === 0) return 0;
    const ordered = orderBatch(rows);
    const ids = ordered.map((r) => r.id);
    const started = Date.now();
    try {
      await this.publisher.publish(byTopic(ordered.map(rowMessage)));
    } catch (error) {
      await this.outbox.markFailed(this.owner, ids, errorInfo(error)).catch((markError: unknown) => {
        // The claim then simply expires; the rows are retried after the lease.
        this.logger.error(`outbox relay ${this.owner}: could not release failed rows`, { error: markError });
      });
      throw error;
    }
    if (Date.now() - started > this.leaseMs) {
      this.logger.warn(`outbox relay ${this.owner}: publishing outlasted the lease; another relay may resend these rows`, {
        rows: rows.length,
      });
    }
    await this.outbox.markSent(this.owner, ids);
    return rows.length;
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.queue.then(task);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
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
