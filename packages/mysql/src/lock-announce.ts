import type { Connection } from 'mysql2/promise';
import { openSession, type SessionSettings } from './lock-session.js';
import { withDeadline } from './pooled.js';

/** A lease of this process as its announcing session sees it. */
export interface Announcement {
  token: number;
  /** By the local clock: past it, the lease is over whatever the row says, and so is its announcement. */
  expiresAt: number;
  /**
   * Not announced before then: at first one interval after the acquire (a lease that ends
   * sooner never costs a statement), later when a `GET_LOCK` found the name taken (a waiter
   * checking it) and is tried again.
   */
  retryAt: number;
}

export interface AnnouncePlan {
  /** Names to take with `GET_LOCK(name, 0)`: live leases not announced yet. */
  take: string[];
  /** Names to give back with `RELEASE_LOCK`: announced, and their lease is over. */
  give: string[];
  /** Leases that ran out by the local clock: forget them. */
  expired: string[];
}

const MOST_PER_STATEMENT = 200;

/**
 * What a session does next, from the leases live here, the names it holds, and those whose
 * lease ended since its last statement (`ended`): a name is given back after every lease, even
 * when the next lease of the key here came meanwhile, and then taken again at once, so that a
 * waiter elsewhere wakes at each release rather than only when this process lets the key go.
 */
export function planAnnouncements(
  live: ReadonlyMap<string, Announcement>,
  held: ReadonlySet<string>,
  ended: ReadonlySet<string>,
  now: number,
): AnnouncePlan {
  const plan: AnnouncePlan = { take: [], give: [], expired: [] };
  for (const name of held) {
    const a = live.get(name);
    if ((a === undefined || a.expiresAt <= now || ended.has(name)) && plan.give.length < MOST_PER_STATEMENT) plan.give.push(name);
  }
  const given = new Set(plan.give);
  for (const [name, a] of live) {
    if (a.expiresAt <= now) plan.expired.push(name);
    else if ((given.has(name) || (!held.has(name) && a.retryAt <= now)) && plan.take.length < MOST_PER_STATEMENT) plan.take.push(name);
  }
  return plan;
}

/**
 * Announces the leases this process holds to waiters in other processes: while a lease is
 * live, a session of ours holds the user-level lock named after its key, which such a waiter
 * blocks on; giving it back after the lease ended wakes the waiter at once. A hint only: the
 * lease row and its token decide who holds a lock, and a process that dies frees its names
 * with its connections. The statements run beside the acquire and the commit, never before
 * them, and cost little: a session sends at most one statement per interval (`everyMs`),
 * with everything that piled up meanwhile, and announces only leases older than an interval,
 * so that the short leases of an uncontended system cost nothing. A waiter that comes while
 * a lease is not announced yet polls until it is (see LockWatch).
 */
export class LockAnnouncer {
  private readonly sessions: AnnounceSession[];

  constructor(
    settings: SessionSettings,
    sessions: number,
    private readonly everyMs: number,
    timeoutMs: number,
  ) {
    this.sessions = Array.from({ length: sessions }, () => new AnnounceSession(settings, everyMs, timeoutMs));
  }

  announce(name: string, token: number, expiresAt: number): void {
    const session = this.sessionOf(name);
    session.live.set(name, { token, expiresAt, retryAt: Date.now() + this.everyMs });
    session.kick();
  }

  /** Extends what is known of a renewed lease. */
  renewed(name: string, token: number, expiresAt: number): void {
    const a = this.sessionOf(name).live.get(name);
    if (a?.token === token) a.expiresAt = expiresAt;
  }

  /** The lease of `token` (any, when not given) ended: its waiters elsewhere are woken. */
  withdraw(name: string, token?: number): void {
    const session = this.sessionOf(name);
    const a = session.live.get(name);
    if (a === undefined || (token !== undefined && a.token !== token)) return;
    session.live.delete(name);
    session.ended(name);
    session.kick();
  }

  /** True while this process holds a live lease on the name. */
  holds(name: string): boolean {
    const a = this.sessionOf(name).live.get(name);
    return a !== undefined && a.expiresAt > Date.now();
  }

  async close(): Promise<void> {
    await Promise.all(this.sessions.map((s) => s.close()));
  }

  private sessionOf(name: string): AnnounceSession {
    // The name is a hash already: its last character spreads keys evenly.
    return this.sessions[name.charCodeAt(name.length - 1) % this.sessions.length]!;
  }
}

class AnnounceSession {
  readonly live = new Map<string, Announcement>();
  private readonly held = new Set<string>();
  /** Held names whose lease ended since the last statement. */
  private readonly endedSince = new Set<string>();
  private conn: Connection | null = null;
  private running = false;
  private closed = false;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastSent = 0;

  constructor(
    private readonly settings: SessionSettings,
    private readonly everyMs: number,
    private readonly timeoutMs: number,
  ) {}

  ended(name: string): void {
    if (this.held.has(name)) this.endedSince.add(name);
  }

  kick(): void {
    if (this.running || this.closed) return;
    this.running = true;
    void this.run();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.live.clear();
    const conn = this.conn;
    this.conn = null;
    this.held.clear();
    this.endedSince.clear();
    // Ending the session gives its names back.
    if (conn) await conn.end().catch(() => conn.destroy());
  }

  private async run(): Promise<void> {
    let pauseMs = 0;
    try {
      for (;;) {
        const plan = planAnnouncements(this.live, this.held, this.endedSince, Date.now());
        for (const name of plan.expired) this.live.delete(name);
        if (plan.take.length === 0 && plan.give.length === 0) break;
        const wait = this.lastSent + this.everyMs - Date.now();
        if (wait > 0) {
          // What comes meanwhile joins this statement.
          await new Promise((resolve) => setTimeout(resolve, wait));
          continue;
        }
        this.lastSent = Date.now();
        await this.send(plan);
        this.failures = 0;
      }
    } catch {
      // The session is gone and so are its names, for the server, once it sees the socket close.
      this.conn?.destroy();
      this.conn = null;
      this.held.clear();
      this.endedSince.clear();
      this.failures++;
      pauseMs = Math.min(1000, this.everyMs * 2 ** this.failures);
    } finally {
      this.running = false;
      if (!this.closed) this.wakeLater(pauseMs);
    }
  }

  private async open(): Promise<Connection> {
    const conn: Connection = await openSession(this.settings, () => {
      if (this.conn === conn) this.lost();
    });
    return conn;
  }

  /** An idle session that died: its names are free, so they are taken again on a new one. */
  private lost(): void {
    if (this.running) return; // the statement under way fails and says so
    this.conn?.destroy();
    this.conn = null;
    this.held.clear();
    this.kick();
  }

  /** Runs again when a refused name may be tried again, or after a failure. */
  private wakeLater(pauseMs: number): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const now = Date.now();
    let next = Infinity;
    for (const [name, a] of this.live) if (!this.held.has(name)) next = Math.min(next, Math.max(a.retryAt, now + pauseMs));
    if (next === Infinity) return;
    this.timer = setTimeout(() => this.kick(), Math.max(1, next - now));
    this.timer.unref();
  }

  private async send(plan: AnnouncePlan): Promise<void> {
    const conn = (this.conn ??= await this.open());
    // Given back before taken again: a waiter blocked on the name is woken in between.
    const calls = [...plan.give.map(() => 'RELEASE_LOCK(?)'), ...plan.take.map(() => 'GET_LOCK(?, 0)')];
    const [rows] = await withDeadline(conn.query({ sql: `SELECT ${calls.join(', ')}`, rowsAsArray: true }, [...plan.give, ...plan.take]), this.timeoutMs, () =>
      conn.destroy(),
    );
    const row = (rows as unknown[][])[0]!;
    const now = Date.now();
    for (const name of plan.give) {
      this.held.delete(name);
      this.endedSince.delete(name);
    }
    plan.take.forEach((name, i) => {
      if (Number(row[plan.give.length + i]) === 1) this.held.add(name);
      // A waiter holds it for an instant, to see whether anyone announces the lease.
      else if (this.live.has(name)) this.live.get(name)!.retryAt = now + this.everyMs;
    });
  }
}
