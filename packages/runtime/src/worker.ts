import { FsmError, isFsmError } from './errors.js';
import type { FsmErrorCode } from './errors.js';
import type { Logger } from './logger.js';

/** Another drive (a worker, or a runner that took a message) got there first. */
const RACES: FsmErrorCode[] = ['FSM_LOCK_TIMEOUT', 'FSM_LOCK_BUSY', 'FSM_STALE_VERSION', 'FSM_INVALID_STATE', 'FSM_INSTANCE_BUSY'];

export interface WorkOptions {
  /** Instances driven at once by this worker. Default 4. */
  concurrency?: number;
  /** Wait between claims when nothing is runnable. Default 200 ms. */
  pollMs?: number;
  /** How long a claim holds an instance before the worker starts it. Default 10 s. */
  claimLeaseMs?: number;
  /** Stop on SIGTERM and SIGINT (finish the current steps, release the rest). Default false. */
  handleSignals?: boolean;
  /**
   * One claimed slot in this many goes to the instance due the longest, whatever its priority,
   * so that high priorities never starve low ones; the others go by priority. Default 4.
   */
  agingEvery?: number;
}

/**
 * How many of the `free` slots of the claim after `slots` earlier ones go to the aging lane:
 * every `every`-th slot, counted over the worker's life.
 */
export function agingSlots(slots: number, free: number, every: number): number {
  return Math.floor((slots + free) / every) - Math.floor(slots / every);
}

/** What a worker needs from its runner. */
export interface WorkSource {
  /** `oldest` of `limit` go to the instances due the longest (see ClaimOptions.oldest). */
  claim(limit: number, leaseMs: number, oldest: number): Promise<string[]>;
  /** Drives a claimed instance; may return the id of an instance it left leased to this worker to drive next. */
  drive(id: string, worker: Worker): Promise<unknown>;
  /** Drives an instance a drive left leased to this worker (see `drive`); may return another. */
  adopt?(id: string, worker: Worker): Promise<unknown>;
  /** Calls `wake` when instances may have become runnable (claim now rather than at the poll); returns what stops it. */
  watch?(wake: () => void): () => void;
  owner: string;
  logger: Logger;
}

/**
 * Claims runnable instances from the store and drives them, up to `concurrency` at once.
 * `stop()` lets the steps in flight finish and commit, leaves their instances `waiting` for
 * any worker to continue, gives back claimed instances it has not started (also those waiting
 * for a lock), and resolves when all is released.
 */
export class Worker {
  readonly owner: string;
  /** Counters, for monitoring and tests. */
  readonly stats = { claimed: 0, driven: 0, errors: 0 };
  private stopRequested = false;
  private readonly stopController = new AbortController();
  private readonly inflight = new Set<Promise<void>>();
  private wake: (() => void) | null = null;
  /** A signal came while a claim was in flight: claim again rather than wait for the poll. */
  private signalled = false;
  readonly done: Promise<void>;
  private readonly onSignal = () => void this.stop();

  constructor(
    private readonly source: WorkSource,
    private readonly options: WorkOptions = {},
  ) {
    this.owner = source.owner;
    const every = options.agingEvery;
    if (every !== undefined && !(Number.isInteger(every) && every >= 1)) {
      throw new FsmError('FSM_INPUT_INVALID', `work option agingEvery is ${String(every)}; expected an integer of 1 or more`, { context: { option: 'agingEvery', value: every } });
    }
    if (options.handleSignals) {
      process.once('SIGTERM', this.onSignal);
      process.once('SIGINT', this.onSignal);
    }
    const unwatch = source.watch?.(() => {
      this.signalled = true;
      this.wake?.();
    });
    this.done = this.loop().finally(() => unwatch?.());
  }

  /** True once `stop()` was called: drives end at the next step boundary. */
  get stopping(): boolean {
    return this.stopRequested;
  }

  /** Aborted by `stop()`: ends waits for locks, so that a stopping worker gives back what it has not started. */
  get signal(): AbortSignal {
    return this.stopController.signal;
  }

  async stop(): Promise<void> {
    this.stopRequested = true;
    this.stopController.abort();
    this.wake?.();
    process.off('SIGTERM', this.onSignal);
    process.off('SIGINT', this.onSignal);
    await this.done;
  }

  private async loop(): Promise<void> {
    const concurrency = this.options.concurrency ?? 4;
    const pollMs = this.options.pollMs ?? 200;
    const agingEvery = this.options.agingEvery ?? 4;
    let slots = 0;
    while (!this.stopRequested) {
      const free = concurrency - this.inflight.size;
      let claimed = 0;
      if (free > 0) {
        this.signalled = false;
        try {
          const oldest = agingSlots(slots, free, agingEvery);
          slots += free;
          const ids = await this.source.claim(free, this.options.claimLeaseMs ?? 10_000, oldest);
          claimed = ids.length;
          this.stats.claimed += ids.length;
          for (const id of ids) this.start(id);
        } catch (error) {
          this.stats.errors++;
          this.source.logger.error('claiming runnable instances failed; retrying', { error });
        }
      }
      // Claim again at once if the store may hold more; otherwise wait for a slot or the poll.
      if ((claimed > 0 && claimed === free) || (free > 0 && this.signalled)) continue;
      // `stop()` during the claim found no wait to end.
      if (this.stopRequested) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, free > 0 ? pollMs : 60_000);
        this.wake = done;
        function done() {
          clearTimeout(timer);
          resolve();
        }
      });
      this.wake = null;
    }
    // A drive may hand on to another (see `adopt`): wait until none is left.
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  private start(id: string, adopted = false): void {
    const run = (adopted ? this.source.adopt!(id, this) : this.source.drive(id, this))
      .then(
        (next: unknown) => {
          this.stats.driven++;
          // In the slot this drive leaves: no claim needed, the instance is leased to this worker already.
          if (typeof next === 'string' && this.source.adopt) this.start(next, true);
        },
        (error: unknown) => {
          // A busy lock or a race lost to another worker is normal: the instance stays claimable,
          // or another worker already finished it.
          if (RACES.some((code) => isFsmError(error, code))) return;
          this.stats.errors++;
          this.source.logger.error('driving an instance failed', { id, error });
        },
      )
      .finally(() => {
        this.inflight.delete(run);
        this.wake?.();
      });
    this.inflight.add(run);
  }
}
