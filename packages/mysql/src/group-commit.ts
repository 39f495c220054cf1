import type { CommitResult } from '@fsmkit/runtime';
import type { Pool, PoolConnection, ResultSetHeader } from 'mysql2/promise';
import { groupHead, type CommitHead } from './group-head.js';
import { groupTail, type CommitTail } from './group-tail.js';
import { withDeadline } from './pooled.js';
import { isConnectionError, QueryTimeoutError } from './store-error.js';

/**
 * Group commit: commits that arrive while another is being written wait in a short queue and
 * go together, as one transaction, when a lane frees up. The server then does one round trip
 * pair and one log flush for many steps. A commit that arrives when a lane is free goes at
 * once, alone, exactly as without grouping: at concurrency 1 nothing waits.
 *
 * Rules:
 * - a commit is acknowledged only after the transaction holding it committed;
 * - a commit whose UPDATEs do not all match (stale version, lost fence, pending pause) is taken
 *   out: the transaction is rolled back, that commit is answered `null` (its caller takes the
 *   store's full path, which says why) and the others are sent again without it;
 * - any other failure of a group (a deadlock, a refused row) answers every commit `null`: each
 *   then runs alone on the full path, so one bad commit fails only its own instance;
 * - a connection lost before COMMIT was sent means nothing was written: the group is sent once
 *   more on a fresh connection; lost during COMMIT, the outcome is unknown and each caller gets
 *   the error, as a single commit would.
 * Per-instance order holds because an instance has one owner, which waits for its commit
 * before it writes again.
 */
export interface GroupCommitOptions {
  /** Transactions in flight at once; commits arriving while all are busy are grouped. Default 2. */
  lanes?: number;
  /** Most commits in one transaction. Default 64. */
  maxSize?: number;
}

/**
 * One commit, ready to send: its UPDATEs (which must each match one row) and its INSERTs, values
 * inlined. Alone, it sends `tail`; in a group, its `rows` join the group's multi-row INSERTs
 * and its `after` statements follow them (see `groupTail`); without `rows`, its whole `tail`
 * follows them.
 */
export interface PreparedCommit extends CommitHead, Partial<CommitTail> {
  /** The INSERTs (and other statements after the UPDATEs), `;`-separated; empty when none. */
  tail: string;
  /** How many statements `tail` holds. */
  tailStatements: number;
  /**
   * Makes the commit's result, once committed, from the results of its statements: alone, those
   * of `tail`; in a group, those of `after`. Default `asWritten`.
   */
  finish?: (results: unknown[]) => CommitResult;
  /** Bytes the two texts may take (an upper bound). */
  bytes: number;
  asWritten: CommitResult;
}

interface Waiting extends PreparedCommit {
  resolve(result: CommitResult | null): void;
  reject(error: unknown): void;
  answered: boolean;
}

export interface GroupCommitHost {
  pool: Pool;
  timeoutMs: number;
  /** Largest text the server takes in one packet, less a margin. */
  packetLimit(): Promise<number>;
  /** Rolls back and returns, or destroys, a connection a transaction failed on. */
  abandon(conn: PoolConnection, error: unknown): Promise<void>;
}

export class GroupCommitter {
  private readonly queue: Waiting[] = [];
  private inFlight = 0;
  /** Lanes started that have not taken their group yet. */
  private taking = 0;
  private readonly lanes: number;
  private readonly maxSize: number;
  /** Transactions sent, and commits they held: for statistics and tests. */
  readonly counts = { transactions: 0, commits: 0, largest: 0 };

  constructor(
    private readonly host: GroupCommitHost,
    options: GroupCommitOptions = {},
  ) {
    this.lanes = Math.max(1, Math.floor(options.lanes ?? 2));
    this.maxSize = Math.max(1, Math.floor(options.maxSize ?? 64));
  }

  /** Resolves once the commit's transaction committed; `null` when its UPDATEs did not all match (nothing of it was written). */
  submit(commit: PreparedCommit): Promise<CommitResult | null> {
    return new Promise((resolve, reject) => {
      const waiting: Waiting = {
        ...commit,
        answered: false,
        resolve: (result) => {
          waiting.answered = true;
          resolve(result);
        },
        reject: (error) => {
          waiting.answered = true;
          reject(error);
        },
      };
      this.queue.push(waiting);
      this.pump();
    });
  }

  private pump(): void {
    // A lane takes its group only once the packet limit is known: one lane per queued commit at
    // most, or with unbounded lanes (`groupCommit: false`) this loop would never end.
    while (this.inFlight < this.lanes && this.queue.length > this.taking) {
      this.inFlight++;
      this.taking++;
      void this.take().then((group) =>
        this.flush(group).finally(() => {
          this.inFlight--;
          this.pump();
        }),
      );
    }
  }

  /** The next group: queued commits in arrival order, within the size limit and the packet limit. */
  private async take(): Promise<Waiting[]> {
    const limit = await this.host.packetLimit().catch(() => 0);
    this.taking--;
    const group: Waiting[] = [];
    let bytes = 0;
    while (this.queue.length > 0 && group.length < this.maxSize) {
      const next = this.queue[0]!;
      if (group.length > 0 && bytes + next.bytes > limit) break;
      group.push(this.queue.shift()!);
      bytes += next.bytes;
    }
    return group;
  }

  private async flush(group: Waiting[]): Promise<void> {
    if (group.length === 0) return;
    let conn: PoolConnection | undefined;
    let expired = false;
    let committing = false;
    const attempt = async (pending: Waiting[], retry: boolean): Promise<void> => {
      const acquired = await this.host.pool.getConnection();
      if (expired) {
        // Its callers have been told it failed: this connection must not write anything.
        acquired.destroy();
        throw new QueryTimeoutError(this.host.timeoutMs);
      }
      conn = acquired;
      // Instance UPDATEs merged by table, until a merged one leaves unknown which commit it refused.
      let merge = true;
      for (;;) {
        const heads = groupHead(pending, merge && pending.length > 1);
        let results: ResultSetHeader[];
        try {
          [results] = await acquired.query<ResultSetHeader[]>(`START TRANSACTION;\n${heads.map((h) => h.text).join(';\n')}`);
        } catch (error) {
          if (!retry || !isConnectionError(error) || error instanceof QueryTimeoutError) throw error;
          // Nothing was written: once more on a fresh connection.
          conn = undefined;
          acquired.destroy();
          return attempt(pending, false);
        }
        const refused = new Set<Waiting>();
        let unknown = false;
        let at = 1;
        for (const h of heads) {
          for (let i = 0; i < h.statements; i++) {
            if (results[at + i]?.affectedRows === h.commits.length) continue;
            if (h.commits.length === 1) refused.add(pending[h.commits[0]!]!);
            else unknown = true;
          }
          at += h.statements;
        }
        if (refused.size > 0 || unknown) {
          await acquired.query('ROLLBACK');
          merge = false;
          for (const c of refused) c.resolve(null);
          pending = pending.filter((c) => !refused.has(c));
          if (pending.length === 0) return;
          continue;
        }
        // Several commits: their rows share one INSERT per table.
        const merged = pending.length > 1 ? groupTail(pending.map(tailOf)) : undefined;
        const tails = merged?.statements ?? pending.map((c) => c.tail).filter((t) => t !== '');
        committing = true;
        const [tailResults] = await acquired.query([...tails, 'COMMIT'].join(';\n'));
        this.counts.transactions++;
        this.counts.commits += pending.length;
        this.counts.largest = Math.max(this.counts.largest, pending.length);
        // One result per statement, the tail's in order, then COMMIT's.
        const perStatement = Array.isArray(tailResults) && tails.length > 0 ? (tailResults as unknown[]) : [];
        if (merged !== undefined) {
          pending.forEach((c, i) => {
            const at = merged.afterAt[i]!;
            c.resolve(c.finish ? c.finish(perStatement.slice(at, merged.afterAt[i + 1] ?? perStatement.length - 1)) : c.asWritten);
          });
          return;
        }
        let from = 0;
        for (const c of pending) {
          if (c.tail === '') {
            c.resolve(c.asWritten);
            continue;
          }
          const mine = perStatement.slice(from, from + c.tailStatements);
          from += c.tailStatements;
          c.resolve(c.finish ? c.finish(mine) : c.asWritten);
        }
        return;
      }
    };
    try {
      await withDeadline(attempt(group, true), this.host.timeoutMs, () => (expired = true));
      conn!.release();
    } catch (error) {
      if (conn !== undefined) await this.host.abandon(conn, error);
      const unanswered = group.filter((c) => !c.answered);
      if (group.length > 1 && !(committing && isConnectionError(error)) && !(error instanceof QueryTimeoutError)) {
        // Not a lost COMMIT: nothing of the group was written. Each goes alone on the full path.
        for (const c of unanswered) c.resolve(null);
      } else {
        for (const c of unanswered) c.reject(error);
      }
    }
  }
}

/** A commit's part of a group's tail: its rows and statements after them, or its whole tail when it gave no rows. */
function tailOf(c: PreparedCommit): CommitTail {
  if (c.rows !== undefined) return { rows: c.rows, after: c.after ?? [] };
  return { rows: [], after: c.tail === '' ? [] : [c.tail], afterStatements: c.tailStatements };
}
