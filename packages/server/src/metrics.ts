import type { AcquireOptions, Lease, Locker, MachineStats } from '@fsmkit/runtime';
import type { ServedMachine } from './options.js';

/** One event row of the outbox, without its payload (which holds the instance's data). */
export interface OutboxEvent {
  machine: string;
  instanceId: string;
  sequence: number;
  type: string;
  createdAt: Date;
  sentAt: Date | null;
  attempts: number;
  lastError: string | null;
}

/**
 * What the server reads of the event outbox: the backlog for `/metrics`, and optionally an
 * instance's events (the console's instance page) and the events set aside after failed
 * publishes (the trouble page).
 */
export interface OutboxProbe {
  backlog(): Promise<{ pending: number; oldestCreatedAt: Date | null }>;
  events?(machine: string, instanceId: string): Promise<OutboxEvent[]>;
  failing?(limit: number): Promise<OutboxEvent[]>;
}

export interface MetricsOptions {
  outbox?: OutboxProbe;
  /** Upper bounds of the step duration histogram, in seconds. */
  buckets?: number[];
  /** Statistics are read from the store at most this often (a scan of the history table). Default 15000 ms. */
  cacheMs?: number;
}

const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const LOCK_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30];

const escape = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const labels = (l: Record<string, string>): string => {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${escape(v)}"`);
  return parts.length > 0 ? `{${parts.join(',')}}` : '';
};
const num = (n: number): string => (Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : 'NaN');

/**
 * Prometheus metrics of the served machines. Instances by status and the step duration
 * histogram come from the store's statistics (every process's steps, computed where the rows
 * are); lock waits from the lockers wrapped by `observeLocker` in this process.
 */
export class ServerMetrics {
  private readonly buckets: number[];
  private readonly cacheMs: number;
  private readonly outbox: OutboxProbe | undefined;
  private readonly lockWaits = new Map<string, { counts: number[]; sum: number; count: number }>();
  private cached: { at: number; stats: MachineStats[] } | undefined;

  constructor(options: MetricsOptions = {}) {
    this.buckets = [...(options.buckets ?? DEFAULT_BUCKETS)].sort((a, b) => a - b);
    this.cacheMs = options.cacheMs ?? 15_000;
    this.outbox = options.outbox;
  }

  /** A locker that times every acquisition (`fsm_lock_wait_seconds`), by outcome. */
  observeLocker(locker: Locker): Locker {
    const observe = (outcome: string, seconds: number) => {
      let h = this.lockWaits.get(outcome);
      if (!h) this.lockWaits.set(outcome, (h = { counts: LOCK_BUCKETS.map(() => 0), sum: 0, count: 0 }));
      LOCK_BUCKETS.forEach((le, i) => seconds <= le && h.counts[i]!++);
      h.sum += seconds;
      h.count++;
    };
    return {
      acquire: async (key: string, owner: string, options: AcquireOptions): Promise<Lease | null> => {
        const t = performance.now();
        try {
          const lease = await locker.acquire(key, owner, options);
          observe(lease ? 'acquired' : 'skipped', (performance.now() - t) / 1000);
          return lease;
        } catch (error) {
          observe((error as { code?: unknown }).code === 'FSM_LOCK_BUSY' ? 'busy' : 'timeout', (performance.now() - t) / 1000);
          throw error;
        }
      },
      renew: (lease, leaseMs) => locker.renew(lease, leaseMs),
      release: (lease) => locker.release(lease),
    };
  }

  /** The metrics in Prometheus' text format (0.0.4). */
  async render(machines: ServedMachine[]): Promise<string> {
    const out: string[] = [];
    const stats = await this.stats(machines);
    out.push('# HELP fsm_instances Instances by machine and status.', '# TYPE fsm_instances gauge');
    for (const s of stats) for (const [status, n] of Object.entries(s.byStatus)) out.push(`fsm_instances${labels({ machine: s.machine, status })} ${n}`);
    out.push('# HELP fsm_step_duration_seconds Duration of executed step handlers, from the stored history.', '# TYPE fsm_step_duration_seconds histogram');
    for (const s of stats) {
      for (const step of s.steps) {
        const base = { machine: s.machine, step: step.step, direction: step.direction };
        this.buckets.forEach((le, i) => out.push(`fsm_step_duration_seconds_bucket${labels({ ...base, le: num(le) })} ${step.histogram?.[i] ?? 0}`));
        out.push(`fsm_step_duration_seconds_bucket${labels({ ...base, le: '+Inf' })} ${step.count}`);
        out.push(`fsm_step_duration_seconds_sum${labels(base)} ${num(step.sumMs / 1000)}`);
        out.push(`fsm_step_duration_seconds_count${labels(base)} ${step.count}`);
      }
    }
    if (this.outbox) {
      const b = await this.outbox.backlog();
      out.push('# HELP fsm_outbox_backlog Events committed and not yet published.', '# TYPE fsm_outbox_backlog gauge', `fsm_outbox_backlog ${b.pending}`);
      const age = b.oldestCreatedAt ? Math.max(0, (Date.now() - b.oldestCreatedAt.getTime()) / 1000) : 0;
      out.push('# HELP fsm_outbox_oldest_age_seconds Age of the oldest unpublished event.', '# TYPE fsm_outbox_oldest_age_seconds gauge', `fsm_outbox_oldest_age_seconds ${num(age)}`);
    }
    out.push('# HELP fsm_lock_wait_seconds Time spent acquiring machine locks in this process, by outcome.', '# TYPE fsm_lock_wait_seconds histogram');
    for (const [outcome, h] of this.lockWaits) {
      LOCK_BUCKETS.forEach((le, i) => out.push(`fsm_lock_wait_seconds_bucket${labels({ outcome, le: num(le) })} ${h.counts[i]}`));
      out.push(`fsm_lock_wait_seconds_bucket${labels({ outcome, le: '+Inf' })} ${h.count}`);
      out.push(`fsm_lock_wait_seconds_sum${labels({ outcome })} ${num(h.sum)}`, `fsm_lock_wait_seconds_count${labels({ outcome })} ${h.count}`);
    }
    return `${out.join('\n')}\n`;
  }

  private async stats(machines: ServedMachine[]): Promise<MachineStats[]> {
    if (this.cached && Date.now() - this.cached.at < this.cacheMs) return this.cached.stats;
    const stats: MachineStats[] = [];
    for (const { runner } of machines) {
      if (runner.store.stats) stats.push(await runner.store.stats(runner.model.name, { buckets: this.buckets, percentiles: false }));
    }
    this.cached = { at: Date.now(), stats };
    return stats;
  }
}

export function createMetrics(options: MetricsOptions = {}): ServerMetrics {
  return new ServerMetrics(options);
}
