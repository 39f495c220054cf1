import type { Connection, RowDataPacket } from 'mysql2/promise';
import { holdProcess, openSession, type SessionSettings } from './lock-session.js';
import { withDeadline } from './pooled.js';

/**
 * How a watch on a held key ended:
 * - `released`: its holder gave the announcement back (the lease ended): try now;
 * - `lapsed`: the row's lease ran out by the database clock, or the watch its slice: try now;
 * - `unannounced`: nobody announced the lease (its holder has not yet, or died, or does not
 *   announce): pause, then look again;
 * - `busy`: every waiting session is in use: pause, then look again.
 */
export type WatchOutcome = 'released' | 'unannounced' | 'lapsed' | 'busy';

/** Longest block of one statement; a watch nobody waits for any more ends by then. */
const SLICE_S = 2;

/** From one row of the watch statement. */
export function watchOutcome(holder: unknown, got: unknown): WatchOutcome {
  if (holder === null || holder === undefined) return 'unannounced';
  if (Number(got) === 1) return 'released';
  return got === null || got === undefined ? 'unannounced' : 'lapsed';
}

/**
 * Waits for another process to end a lease, without polling: a waiting session blocks on the
 * lease's announcement (`GET_LOCK`, see LockAnnouncer), which the holder gives back when the
 * lease ends, and gives it back at once in the same statement. The block never outlasts the
 * row's lease by the database clock, so a holder that stalls past its lease delays nobody.
 * Waiters of one key in this process share one watch; sessions are few (`sessions`).
 */
export class LockWatch {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private readonly watches = new Map<string, Promise<WatchOutcome>>();
  private closed = false;
  private connecting = 0;

  constructor(
    private readonly settings: SessionSettings,
    private readonly sessions: number,
    private readonly timeoutMs: number,
  ) {}

  /** `table` (quoted) and `storedKey` name the lease row, whose expiry bounds the block. */
  watch(name: string, table: string, storedKey: string): Promise<WatchOutcome> {
    let watch = this.watches.get(name);
    if (watch === undefined) {
      watch = this.block(name, table, storedKey).finally(() => this.watches.delete(name));
      this.watches.set(name, watch);
    }
    return watch;
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.all];
    this.all.clear();
    this.idle.length = 0;
    // A blocked statement would hold `end` until it returns.
    for (const conn of all) conn.destroy();
  }

  private async block(name: string, table: string, storedKey: string): Promise<WatchOutcome> {
    const conn = await this.take();
    if (conn === null) return 'busy';
    let healthy = false;
    holdProcess(conn, true);
    try {
      const left = `(SELECT TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(3), \`expires_at\`) FROM ${table} WHERE \`lock_key\` = ?)`;
      // In the select list's order: who announces the lease, then the block, then giving it back.
      const [rows] = await withDeadline(
        conn.query<RowDataPacket[]>(
          `SELECT IS_USED_LOCK(?) AS holder, GET_LOCK(?, LEAST(?, GREATEST(0, COALESCE(${left}, 0)) / 1000000 + 0.005)) AS got, RELEASE_LOCK(?) AS gave`,
          [name, name, SLICE_S, storedKey, name],
        ),
        SLICE_S * 1000 + this.timeoutMs,
        () => conn.destroy(),
      );
      healthy = true;
      return watchOutcome(rows[0]?.['holder'], rows[0]?.['got']);
    } catch {
      return 'unannounced';
    } finally {
      holdProcess(conn, false);
      if (healthy && !this.closed) this.idle.push(conn);
      else this.drop(conn);
    }
  }

  private async take(): Promise<Connection | null> {
    const conn = this.idle.pop();
    if (conn !== undefined) return conn;
    if (this.closed || this.all.size + this.connecting >= this.sessions) return null;
    this.connecting++;
    try {
      const opened: Connection = await openSession(this.settings, () => this.drop(opened));
      if (this.closed) {
        opened.destroy();
        return null;
      }
      this.all.add(opened);
      return opened;
    } catch {
      return null;
    } finally {
      this.connecting--;
    }
  }

  private drop(conn: Connection): void {
    this.all.delete(conn);
    const at = this.idle.indexOf(conn);
    if (at >= 0) this.idle.splice(at, 1);
    conn.destroy();
  }
}
