import type { CommitResult } from '@fsmkit/runtime';
import type { Pool, PoolConnection, ResultSetHeader } from 'mysql2/promise';
import { groupHead, type CommitHead } from './group-head.js';
import { BACK_TO_STARTS, groupStarts, type GroupStarts, type SiblingStart } from './group-start.js';
import { groupTail, type CommitTail } from './group-tail.js';
import { ER_STOPPED, stopUnlessRows } from './row-count-check.js';
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
 * - a lenient one (a lock takeover) is one UPDATE that may match no row (the key is held): that
 *   is its answer, not a refusal, and the others' UPDATEs stand; sent again with the others
 *   after a rollback, it is answered from the attempt that committed;
 * - any other failure of a group (a deadlock, a refused row) answers every commit `null`: each
 *   then runs alone on the full path (a takeover: its own statement), so one bad commit fails
 *   only its own instance;
 * - a connection lost before COMMIT was sent means nothing was written: the group is sent once
 *   more on a fresh connection; lost during COMMIT, the outcome is unknown and each caller gets
 *   the error, as a single commit would.
 * A commit that goes alone while no other transaction is in flight (every commit of a single
 * caller) is one packet, COMMIT included: each of its UPDATEs is followed by a check that stops
 * the packet with an error unless that UPDATE matched one row (`onePacket`), so COMMIT is never
 * reached and the transaction is rolled back: the commit is answered `null` as in a group. COMMIT goes with the first packet, so a connection lost under it is an unknown
 * outcome; only a connection that was closed before anything was sent is tried again. One that
 * runs out of time (an UPDATE waiting for a row lock, say) has its server session killed before
 * its caller is told: the server would otherwise run the rest of the packet, COMMIT included,
 * once the lock came free. It committed only if COMMIT had begun by then. Takeovers alone in a
 * group go the same way (one packet, nothing to check before COMMIT); a takeover alone in its
 * group is its UPDATE, autocommitted.
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
export interface PreparedCommit<T = CommitResult> extends CommitHead, Partial<CommitTail> {
  /** The UPDATEs of `head` one by one, for a commit that may go in one packet alone (see `onePacket`); absent: always two. */
  updates?: string[];
  /** The INSERTs (and other statements after the UPDATEs), `;`-separated; empty when none. */
  tail: string;
  /** How many statements `tail` holds. */
  tailStatements: number;
  /**
   * Makes the commit's result, once committed, from the results of its statements: alone, those
   * of `tail`; in a group, those of `after`. Default `asWritten`.
   */
  finish?: (results: unknown[]) => T;
  /**
   * A head of one UPDATE that may match no row, and a tail of nothing: matching none is not a
   * refusal (the others' UPDATEs are kept and nothing of this one is written), and the result,
   * once committed, is made from that UPDATE's own (an acquire, whose condition matches no row
   * while the key is held).
   */
  lenient?: (head: ResultSetHeader) => T;
  /** Bytes the larger of the two packets (UPDATEs; the rest) may take (an upper bound). */
  bytes: number;
  asWritten: T;
  /** A child's end that starts its sibling: in a group, such starts go together (see `groupStarts`). */
  start?: SiblingStart;
}

interface Waiting<T = unknown> extends PreparedCommit<T> {
  resolve(result: T | null): void;
  reject(error: unknown): void;
  answered: boolean;
  /** A lenient head's result, from the attempt that committed. */
  headResult?: ResultSetHeader;
}

export interface GroupCommitHost {
  pool: Pool;
  timeoutMs: number;
  /** Largest text the server takes in one packet, less a margin. */
  packetLimit(): Promise<number>;
  /** Rolls back and returns, or destroys, a connection a transaction failed on. */
  abandon(conn: PoolConnection, error: unknown): Promise<void>;
  /** Ends the server's session of a connection (KILL CONNECTION), whatever it is running. */
  kill(threadId: number): Promise<void>;
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

  /**
   * Resolves once the commit's transaction committed; `null` when its UPDATEs did not all match
   * (nothing of it was written), or, for a lenient one, when its group failed as a whole.
   */
  submit<T = CommitResult>(commit: PreparedCommit<T>): Promise<T | null> {
    return new Promise((resolve, reject) => {
      const waiting: Waiting<T> = {
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
      this.queue.push(waiting as Waiting);
      this.pump();
    });
  }

  private pump(): void {
    // A lane takes its group only once the packet limit is known: one lane per queued commit at
    // most, or with unbounded lanes (`groupCommit: false`) this loop would never end.
    while (this.inFlight < this.lanes && this.queue.length > this.taking) {
      this.inFlight++;
      this.taking++;
      void this.take().then(({ group, limit }) =>
        this.flush(group, limit).finally(() => {
          this.inFlight--;
          this.pump();
        }),
      );
    }
  }

  /** The next group: queued commits in arrival order, within the size limit and the packet limit. */
  private async take(): Promise<{ group: Waiting[]; limit: number }> {
    const limit = await this.host.packetLimit().catch(() => 0);
    this.taking--;
    // Lanes starting together share the queue: one lane taking it all would leave the others,
    // and the server's other cores, idle while it writes (callers answered together come back
    // together, so the convoy would never break up).
    const share = Math.min(this.maxSize, Math.ceil(this.queue.length / (this.taking + 1)));
    const group: Waiting[] = [];
    let bytes = 0;
    while (this.queue.length > 0 && group.length < share) {
      const next = this.queue[0]!;
      if (group.length > 0 && bytes + next.bytes > limit) break;
      group.push(this.queue.shift()!);
      bytes += next.bytes;
    }
    return { group, limit };
  }

  private async flush(group: Waiting[], limit: number): Promise<void> {
    if (group.length === 0) return;
    let conn: PoolConnection | undefined;
    let expired = false;
    let committing = false;
    let alonePacket = false;
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
        // Only while no other transaction is in flight (always, for a single caller): under
        // load, one-packet commits free their lane sooner, so fewer commits queue into groups,
        // and more, smaller transactions cost the server more per commit (measured at 32).
        // A lenient one alone is its UPDATE alone, autocommitted.
        const single = pending.length === 1 ? pending[0]! : undefined;
        const alone = single?.lenient ? single.head : single !== undefined && this.inFlight === 1 ? onePacket(single, limit) : null;
        if (alone !== null) {
          committing = alonePacket = true;
          return this.commitAlone(acquired, pending[0]!, alone, retry, () => {
            conn = undefined;
            acquired.destroy();
            return attempt(pending, false);
          });
        }
        if (pending.every((c) => c.lenient)) {
          // Nothing to check before COMMIT: one packet, killed on a timeout as a commit alone is.
          committing = alonePacket = true;
          const [all] = await acquired.query<ResultSetHeader[]>(['START TRANSACTION', ...pending.map((c) => c.head), 'COMMIT'].join(';\n'));
          this.counted(pending.length);
          pending.forEach((c, i) => c.resolve(c.lenient!(all[1 + i]!)));
          return;
        }
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
          const lenient = h.commits.length === 1 ? pending[h.commits[0]!]! : undefined;
          if (lenient?.lenient) {
            lenient.headResult = results[at]!;
            at += h.statements;
            continue;
          }
          for (let i = 0; i < h.statements; i++) {
            if (results[at + i]?.affectedRows === h.matches) continue;
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
        // Child ends that start their siblings together, unless a commit brings its tail as text.
        const starts = pending.length > 1 && pending.every((c) => c.rows !== undefined) ? groupStarts(pending.map((c) => c.start)) : null;
        if (starts !== null) {
          committing = true;
          return this.commitStarting(acquired, pending, starts);
        }
        // Several commits: their rows share one INSERT per table.
        const merged = pending.length > 1 ? groupTail(pending.map(tailOf)) : undefined;
        const tails = merged?.statements ?? pending.map((c) => c.tail).filter((t) => t !== '');
        committing = true;
        const [tailResults] = await acquired.query([...tails, 'COMMIT'].join(';\n'));
        this.counted(pending.length);
        // One result per statement, the tail's in order, then COMMIT's.
        const perStatement = Array.isArray(tailResults) && tails.length > 0 ? (tailResults as unknown[]) : [];
        if (merged !== undefined) {
          pending.forEach((c, i) => {
            const at = merged.afterAt[i]!;
            if (c.lenient) c.resolve(c.lenient(c.headResult!));
            else c.resolve(c.finish ? c.finish(perStatement.slice(at, merged.afterAt[i + 1] ?? perStatement.length - 1)) : c.asWritten);
          });
          return;
        }
        let from = 0;
        for (const c of pending) {
          if (c.tail === '') {
            c.resolve(c.lenient ? c.lenient(c.headResult!) : c.asWritten);
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
      const stuck = alonePacket && error instanceof QueryTimeoutError ? conn?.threadId : undefined;
      if (conn !== undefined) await this.host.abandon(conn, error);
      if (stuck !== undefined) await this.host.kill(stuck);
      const unanswered = group.filter((c) => !c.answered);
      if (group.length > 1 && !(committing && isConnectionError(error)) && !(error instanceof QueryTimeoutError)) {
        // Not a lost COMMIT: nothing of the group was written. Each goes alone on the full path.
        for (const c of unanswered) c.resolve(null);
      } else {
        for (const c of unanswered) c.reject(error);
      }
    }
  }

  private counted(commits: number): void {
    this.counts.transactions++;
    this.counts.commits += commits;
    this.counts.largest = Math.max(this.counts.largest, commits);
  }

  /**
   * A group whose child ends start their siblings together (see `groupStarts`): its INSERTs, the
   * starts, the other commits' statements, COMMIT. When a sibling did not start, the packet stops
   * before COMMIT; back at the savepoint, every commit's own statements decide, child by child.
   */
  private async commitStarting(conn: PoolConnection, pending: Waiting[], starts: GroupStarts): Promise<void> {
    const inserts = groupTail(pending.map((c) => ({ rows: c.rows!, after: [] }))).statements;
    const others = groupTail(pending.map((c) => (c.start === undefined ? afterOf(c) : { rows: [], after: [] })));
    let results: unknown[];
    try {
      [results] = (await conn.query([...inserts, ...starts.statements, ...others.statements, 'COMMIT'].join(';\n'))) as unknown as [unknown[]];
    } catch (error) {
      if (!hasErrno(error, ER_STOPPED)) throw error;
      const own = groupTail(pending.map(afterOf));
      const [back] = (await conn.query([BACK_TO_STARTS, ...own.statements, 'COMMIT'].join(';\n'))) as unknown as [unknown[]];
      this.counted(pending.length);
      pending.forEach((c, i) => finishWith(c, back, 1 + own.afterAt[i]!, 1 + (own.afterAt[i + 1] ?? back.length - 2)));
      return;
    }
    this.counted(pending.length);
    const started = new Map<string, unknown>();
    for (const read of starts.reads) {
      const rows = results[inserts.length + read.at];
      if (Array.isArray(rows)) for (const row of rows as Array<{ id?: unknown }>) started.set(String(row.id), row);
    }
    const from = inserts.length + starts.statements.length;
    pending.forEach((c, i) => {
      if (c.start === undefined) return finishWith(c, results, from + others.afterAt[i]!, from + (others.afterAt[i + 1] ?? results.length - 1 - from));
      const row = started.get(c.start.id);
      c.resolve(c.finish ? c.finish(row === undefined ? [] : [[row]]) : c.asWritten);
    });
  }

  /**
   * A commit alone, in one packet (see `onePacket`). A check that stopped it means an UPDATE
   * matched no row: COMMIT was never reached, so the transaction is rolled back and the answer
   * is `null`. A connection mysql2 had seen close sent nothing: `resend` tries a fresh one.
   */
  private async commitAlone(
    conn: PoolConnection,
    c: Waiting,
    text: string,
    retry: boolean,
    resend: () => Promise<void>,
  ): Promise<void> {
    let results: unknown[];
    try {
      [results] = (await conn.query(text)) as unknown as [unknown[]];
      if (c.lenient) {
        this.counted(1);
        return c.resolve(c.lenient(results as unknown as ResultSetHeader));
      }
    } catch (error) {
      if (hasErrno(error, ER_STOPPED)) {
        await conn.query('ROLLBACK');
        c.resolve(null);
        return;
      }
      if (retry && isUnsent(error)) return resend();
      throw error;
    }
    this.counted(1);
    if (c.tail === '') return c.resolve(c.asWritten);
    // START TRANSACTION, each UPDATE and its check, then the tail's statements.
    const from = 1 + 2 * c.updates!.length;
    c.resolve(c.finish ? c.finish(results.slice(from, from + c.tailStatements)) : c.asWritten);
  }
}

const MATCHED_ONE_ROW = stopUnlessRows(1);

/**
 * A commit as one packet: START TRANSACTION, each UPDATE followed by its check, the tail and
 * COMMIT, so that nothing is written unless every UPDATE matched its row. Null when the text
 * may not fit the server's packet limit: it then goes in two packets.
 */
export function onePacket(c: PreparedCommit<unknown>, limit: number): string | null {
  if (c.updates === undefined) return null;
  const parts = ['START TRANSACTION'];
  for (const update of c.updates) parts.push(update, MATCHED_ONE_ROW);
  if (c.tail !== '') parts.push(c.tail);
  parts.push('COMMIT');
  const text = parts.join(';\n');
  // A UTF-16 unit is at most 3 bytes of UTF-8: count the bytes only when that bound is over.
  return 3 * text.length <= limit || Buffer.byteLength(text) <= limit ? text : null;
}

/** A command mysql2 refused because it had seen the socket close: nothing reached the server. */
function isUnsent(error: unknown): boolean {
  return error instanceof Error && error.message.includes('closed state');
}

function hasErrno(error: unknown, errno: number): boolean {
  return typeof error === 'object' && error !== null && (error as { errno?: unknown }).errno === errno;
}

/** A commit's statements after its rows, for a group's tail that holds no rows. */
function afterOf(c: PreparedCommit<unknown>): CommitTail {
  return { rows: [], after: c.after ?? [], ...(c.afterStatements !== undefined ? { afterStatements: c.afterStatements } : {}) };
}

/** Answers a commit from the results of its statements, `from` to `to` (exclusive). */
function finishWith(c: Waiting, results: unknown[], from: number, to: number): void {
  c.resolve(c.finish ? c.finish(results.slice(from, to)) : c.asWritten);
}

/** A commit's part of a group's tail: its rows and statements after them, or its whole tail when it gave no rows. */
function tailOf(c: PreparedCommit<unknown>): CommitTail {
  if (c.rows !== undefined) return { rows: c.rows, after: c.after ?? [] };
  return { rows: [], after: c.tail === '' ? [] : [c.tail], afterStatements: c.tailStatements };
}
