import { FsmError, uuidv7, type AcquireOptions, type Lease, type Locker } from '@fsmkit/runtime';
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { GroupCommitter } from './group-commit.js';
import { inlineValues } from './inline-values.js';
import { LockAnnouncer } from './lock-announce.js';
import { GLOBAL_KEY, storedLockKey } from './lock-key.js';
import { notifyLockName, notifyScope } from './lock-session.js';
import { LockWatch, type WatchOutcome } from './lock-watch.js';
import { checkedSharedTables, type LeaseHandover } from './machine-sql.js';
import { createPool, defaultUrl, type PoolSettings } from './pool.js';
import { pooledStatement } from './pooled.js';
import { quoteId } from './schema.js';
import { isConnectionError, storeError } from './store-error.js';

export interface MysqlLockerOptions extends PoolSettings {
  /** A pool to use instead of creating one from `url` (the store's, say); left open on close. */
  pool?: Pool;
  /** Prefix of the lock tables; must be the store's, whose commits check the tokens. Default `fsm_`. */
  tablePrefix?: string;
  /**
   * First pause between attempts in `wait` mode, doubled after each refusal up to `maxPollMs`,
   * when no release can wake the waiter: its holder did not announce the lease (yet), or every
   * waiting session is in use. Default 5.
   */
  pollMs?: number;
  /** Default 100. */
  maxPollMs?: number;
  /**
   * Sessions of their own (outside the pool) on which this locker announces the leases it
   * holds, so that waiters in other processes learn of a release at once (see LockAnnouncer).
   * Default 1; 0: announce nothing. Needs `url`: with a pool given and no `url`, nothing is announced.
   */
  announceSessions?: number;
  /**
   * A session sends at most one statement per interval, and announces leases older than one:
   * what a waiter elsewhere may wait beyond a release (up to twice this when the lease was
   * younger). Default 50.
   */
  announceEveryMs?: number;
  /**
   * Sessions of their own on which `wait` mode blocks until a lease announced by another
   * process ends (one per key waited for); a waiter finding none free polls. Default 4; 0: poll.
   */
  waitSessions?: number;
  /**
   * Rows whose lease ended (released or expired) longer ago than this are deleted, checked as
   * often, from `acquire`. Default 600 000 (10 minutes); 0: never.
   */
  sweepMs?: number;
  /**
   * Longest wait for the database per statement; a connection that does not answer in time is
   * destroyed. Default 30 000; 0: none.
   */
  queryTimeoutMs?: number;
}

/** The holder of a lock, as its row says. */
export interface LockHolder {
  key: string;
  owner: string | null;
  instanceId: string | null;
  machine: string | null;
  token: number;
  lockedAt: Date;
  expiresAt: Date;
  /** False when the lease has run out by the database clock: the next acquire takes it over. */
  live: boolean;
}

/** Ids that fit `state_machine_id` (ASCII CHAR(36)); others are not recorded there. */
const STORABLE_ID = /^[ -~]{1,36}$/;
const OWNER_CHARS = 128;
const MACHINE_CHARS = 48;

/** Microseconds since the epoch by the database clock: where new tokens start, so they grow even after a row is deleted. */
const NOW_US = "TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6))";
const EXPIRED = '`expires_at` <= UTC_TIMESTAMP(3)';
const ER_LOCK_DEADLOCK = 1213;

export function createMysqlLocker(options: MysqlLockerOptions = {}): MysqlLocker {
  return new MysqlLocker(options);
}

/**
 * Locks as leases in the `global_lock` (key `global`) and `local_lock` (every other key) tables.
 *
 * - Acquire takes the key's row over when its lease has ended by the database clock, so hosts
 *   with skewed clocks agree: one UPDATE, or an INSERT for a key without a row. A store's
 *   locker (`store.locker()`) sends that UPDATE through the store's group committer: takeovers
 *   arriving together share a transaction and a log flush with each other and with commits,
 *   and a held key refuses only its own. Each acquisition
 *   gets a new token, at least one more than the row's last and never below the database clock
 *   in microseconds, so tokens keep growing even when a row is deleted and inserted again.
 * - Release ends the lease (no owner, expiry now) and keeps the row with its token: deleting and
 *   re-inserting keys makes InnoDB's duplicate-key gap locks deadlock under concurrency. So an
 *   idle system has lock rows but no lease: every row has no owner and an expiry in the past.
 *   `sweep()` deletes rows idle for long, such as those of users gone quiet.
 * - Renew extends a live lease of the same owner and token; an ended lease is lost for good.
 * - MysqlStore commits check the token and expiry inside their transaction (`fence`), so a
 *   holder whose lease ran out cannot write, whether or not someone took the lock since.
 */
export class MysqlLocker implements Locker {
  readonly pool: Pool;
  private readonly ownsPool: boolean;
  private readonly global: string;
  private readonly local: string;
  private readonly pollMs: number;
  private readonly maxPollMs: number;
  private readonly sweepMs: number;
  private readonly timeout: number;
  private nextSweep: number;
  private readonly waiters = new Map<string, Set<(released: boolean) => void>>();
  /** Waiters in `wait` mode by key, oldest first, that a releasing commit may hand the lease to (see `handover`). */
  private readonly offers = new Map<string, Set<Offer>>();
  /**
   * Leases this locker handed out and has not seen end, by key, with when they run out. A new
   * acquire of one of them waits (offering to take it over) at once, rather than first trying a
   * takeover that cannot succeed, and reads the row again only once the lease has run out: until
   * then its release or handover in this process is what ends the wait. One that ran out unseen
   * costs an acquire a poll, no more.
   */
  private readonly heldHere = new Map<string, { token: number; expiresAt: number }>();
  /** Keys handed over by a commit, with the token that commit ended: its `released` call wakes nobody. */
  private readonly handedOver = new Map<string, number>();
  /** Attempts under way by key; the first in `wait` mode is told of a release of the key meanwhile that woke no waiter. */
  private readonly attempts = new Map<string, Set<{ waits: boolean; released: boolean }>>();
  /** What the names of this locker's announcements start from; null: it has no sessions of its own. */
  private readonly scope: string | null;
  private readonly announcer: LockAnnouncer | null;
  private readonly watch: LockWatch | null;
  private readonly takeover: { global: string; local: string };

  /**
   * `group`: the group committer of the store whose pool this is (`store.locker()`), through
   * which takeovers share transactions and log flushes with each other and with commits.
   */
  constructor(
    options: MysqlLockerOptions = {},
    private readonly group?: GroupCommitter,
  ) {
    const tables = checkedSharedTables(options.tablePrefix === undefined ? {} : { tablePrefix: options.tablePrefix });
    this.global = quoteId(tables.globalLock);
    this.local = quoteId(tables.localLock);
    this.pollMs = Math.max(1, options.pollMs ?? 5);
    this.maxPollMs = Math.max(this.pollMs, options.maxPollMs ?? 100);
    this.sweepMs = options.sweepMs ?? 600_000;
    this.timeout = options.queryTimeoutMs ?? 30_000;
    this.nextSweep = Date.now() + this.sweepMs;
    this.ownsPool = options.pool === undefined;
    this.pool = options.pool ?? createPool(options);
    const url = options.url ?? (this.ownsPool ? defaultUrl() : undefined);
    const session = url === undefined ? null : { url, connectTimeoutMs: options.connectTimeoutMs ?? 10_000 };
    const announceSessions = options.announceSessions ?? 1;
    const waitSessions = options.waitSessions ?? 4;
    this.scope = url === undefined ? null : notifyScope(url, tables.localLock);
    this.announcer = session && announceSessions > 0 ? new LockAnnouncer(session, announceSessions, Math.max(1, options.announceEveryMs ?? 50), this.timeout) : null;
    this.watch = session && waitSessions > 0 ? new LockWatch(session, waitSessions, this.timeout) : null;
    const takeover = (table: string) =>
      `UPDATE ${table} SET \`state_machine_id\` = ?, \`machine\` = ?, \`owner\` = ?, \`lock_timestamp\` = UTC_TIMESTAMP(3),
           \`token\` = LAST_INSERT_ID(GREATEST(\`token\` + 1, ${NOW_US})), \`expires_at\` = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND
         WHERE \`lock_key\` = ? AND ${EXPIRED}`;
    this.takeover = { global: takeover(this.global), local: takeover(this.local) };
  }

  async acquire(key: string, owner: string, options: AcquireOptions): Promise<Lease | null> {
    const table = this.table(key);
    const stored = storedLockKey(key);
    const name = this.nameOf(stored);
    const deadline = Date.now() + options.timeoutMs;
    this.maybeSweep();
    // While it waits, a commit of this process ending the lease may hand it over at once.
    const offer = options.mode === 'wait' ? leaseValues(owner, options) : undefined;
    let pause = this.pollMs;
    // Whether the key has a row: unknown (null) until a read or an attempt tells.
    let exists: boolean | null = null;
    // Try at once the first time and when a release woke us; after a timed pause, a plain
    // read tells first whether another attempt can succeed, without locking the row. A key
    // this process holds is neither tried nor read first by a waiter: its release or handover
    // comes here.
    let heldHere = options.mode === 'wait' && this.heldHere.has(key);
    for (let tryNow = !heldHere; ; heldHere = false) {
      if (options.signal?.aborted) return null;
      let free = tryNow;
      if (!free && !heldHere) {
        const holder = await this.holder(key);
        exists = holder !== null;
        free = !holder?.live;
      }
      if (free) {
        const missed = this.trying(key, options.mode === 'wait');
        let token: number;
        try {
          token = await this.tryAcquire(table, stored, owner, options, exists !== true);
        } finally {
          missed.done();
        }
        if (token !== 0) {
          const expiresAt = Date.now() + options.leaseMs;
          if (name !== null) this.announcer?.announce(name, token, expiresAt);
          this.heldHere.set(key, { token, expiresAt });
          return { key, owner, token, expiresAt: new Date(expiresAt) };
        }
        exists = true;
        // A release of the key in this process while we tried woke nobody: try again now.
        if (missed.released() && Date.now() < deadline) {
          tryNow = true;
          pause = this.pollMs;
          continue;
        }
      }
      if (options.mode === 'skip') return null;
      const now = Date.now();
      if (options.mode === 'fail' || now >= deadline) throw await this.refusal(key, options);
      // Another process's lease: block until it ends (or this process's release comes first).
      const watch = this.watchFor(table, stored, name);
      if (watch !== null) {
        const waited = await this.pauseFor(key, deadline - now, options.signal, watch, offer);
        if (typeof waited === 'number' && (await this.handedToMe(key, waited, offer!))) return this.handed(key, owner, Math.abs(waited), options);
        // Nobody announces the lease: it ended before the watch began (try now), or its holder
        // has not announced it yet, or cannot (poll). A handover that did not happen: try now.
        if (typeof waited === 'number' || waited === 'released' || waited === 'lapsed' || (waited === 'unannounced' && !(await this.holder(key))?.live)) {
          tryNow = true;
          pause = this.pollMs;
          continue;
        }
      }
      // A lease of this process ends here, by its release or handover: no read before it runs out.
      const here = this.heldHere.get(key);
      const localUntil = here !== undefined && here.expiresAt > now ? here.expiresAt : null;
      const ms = localUntil !== null ? localUntil - now + 1 : pause * (0.5 + Math.random());
      const paused = await this.pauseFor(key, Math.min(ms, deadline - now), options.signal, undefined, offer);
      if (typeof paused === 'number' && (await this.handedToMe(key, paused, offer!))) return this.handed(key, owner, Math.abs(paused), options);
      tryNow = paused === 'released' || typeof paused === 'number';
      if (localUntil === null) pause = Math.min(pause * 2, this.maxPollMs);
    }
  }

  async renew(lease: Lease, leaseMs: number): Promise<boolean> {
    const [result] = await this.run('renew', lease.key, (conn) =>
      conn.execute<ResultSetHeader>(
        `UPDATE ${this.table(lease.key)} SET \`expires_at\` = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND
         WHERE \`lock_key\` = ? AND \`token\` = ? AND \`owner\` = ? AND \`expires_at\` > UTC_TIMESTAMP(3)`,
        [Math.round(leaseMs * 1000), storedLockKey(lease.key), lease.token, lease.owner.slice(0, OWNER_CHARS)],
      ),
    );
    const name = this.announcer ? this.nameOf(storedLockKey(lease.key)) : null;
    if (result.affectedRows !== 1) {
      if (name !== null) this.announcer!.withdraw(name, lease.token);
      this.forget(lease.key, lease.token);
      return false;
    }
    lease.expiresAt = new Date(Date.now() + leaseMs);
    const here = this.heldHere.get(lease.key);
    if (here?.token === lease.token) here.expiresAt = lease.expiresAt.getTime();
    if (name !== null) this.announcer!.renewed(name, lease.token, lease.expiresAt.getTime());
    return true;
  }

  async release(lease: Lease): Promise<void> {
    // Ending a lease twice is harmless: a dead connection is retried once.
    await this.run('release', lease.key, (conn) =>
      conn.execute<ResultSetHeader>(
        `UPDATE ${this.table(lease.key)} SET \`owner\` = NULL, \`expires_at\` = LEAST(\`expires_at\`, UTC_TIMESTAMP(3))
         WHERE \`lock_key\` = ? AND \`token\` = ?`,
        [storedLockKey(lease.key), lease.token],
      ),
    );
    this.released(lease.key, lease.token);
  }

  /** The row of `key`: its holder, or its last one when `live` is false; null when the key has no row. */
  async holder(key: string): Promise<LockHolder | null> {
    const [rows] = await this.run('read', key, (conn) =>
      conn.execute<RowDataPacket[]>(
        `SELECT \`owner\`, \`state_machine_id\`, \`machine\`, \`token\`, \`lock_timestamp\`, \`expires_at\`, \`expires_at\` > UTC_TIMESTAMP(3) AS \`live\`
         FROM ${this.table(key)} WHERE \`lock_key\` = ?`,
        [storedLockKey(key)],
      ),
    );
    const row = rows[0];
    if (row === undefined) return null;
    return {
      key,
      owner: row['owner'] as string | null,
      instanceId: row['state_machine_id'] as string | null,
      machine: row['machine'] as string | null,
      token: Number(row['token']),
      lockedAt: row['lock_timestamp'] as Date,
      expiresAt: row['expires_at'] as Date,
      live: Number(row['live']) === 1,
    };
  }

  /**
   * Deletes the rows whose lease ended (released, or expired: a holder that crashed) more than
   * `idleMs` ago; returns how many. Safe at any time: an ended lease can neither write nor be
   * renewed, and tokens keep growing from the database clock when a key comes back.
   */
  async sweep(idleMs = this.sweepMs): Promise<number> {
    let deleted = 0;
    for (const table of [this.global, this.local]) {
      const [result] = await this.run('sweep', table, (conn) =>
        conn.execute<ResultSetHeader>(`DELETE FROM ${table} WHERE \`expires_at\` <= UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND`, [
          Math.round(idleMs * 1000),
        ]),
      );
      deleted += result.affectedRows;
    }
    return deleted;
  }

  /** Ends this locker's own sessions (its names are given back), and its pool when it made it. */
  async close(): Promise<void> {
    await Promise.all([this.announcer?.close(), this.watch?.close()]);
    if (this.ownsPool) await this.pool.end();
  }

  /**
   * The lease of `token` on `key` ended (any lease of this locker, without a token): wakes one
   * waiter of this process at once, rather than at its next poll, and gives back the lease's
   * announcement, which wakes those of other processes. Called on release, and by the store
   * when a commit released the key.
   */
  released(key: string, token?: number): void {
    // Handed over by that commit: the lease goes on under its next holder, announced by it.
    if (token !== undefined && this.handedOver.get(key) === token) {
      this.handedOver.delete(key);
      return;
    }
    this.forget(key, token);
    if (this.announcer) this.announcer.withdraw(this.nameOf(storedLockKey(key))!, token);
    const queue = this.waiters.get(key);
    const first = queue?.values().next().value;
    if (first) first(true);
    else {
      // Else one trying now, which would have missed it and waited for its next poll, tries again.
      for (const attempt of this.attempts.get(key) ?? []) {
        if (!attempt.waits) continue;
        attempt.released = true;
        break;
      }
    }
  }

  /**
   * For a commit that ends the lease of `key` at `token`: the oldest waiter of this process in
   * `wait` mode, taken out of its wait, and what the commit's fence UPDATE writes to hand it the
   * lease (the ended token plus one) in the same statement. One transaction and one log flush
   * then do what a release and the waiter's takeover did in two. The commit must call `settle`
   * once its outcome is known: `true` when it committed, `false` when nothing was written, and
   * `'unknown'` when it failed in a way that leaves that open (a connection lost under COMMIT):
   * the waiter then reads the row, and takes the lease if the row names it. Null when nobody
   * waits here.
   */
  handover(key: string, token: number): { next: LeaseHandover; settle(outcome: boolean | 'unknown'): void } | null {
    for (const offer of this.offers.get(key) ?? []) {
      if (!offer.take()) continue;
      return {
        next: offer.values,
        settle: (outcome) => {
          if (outcome === true) this.handedOver.set(key, token);
          // Not written: the waiter tries at once, as after a release.
          offer.settle(outcome === true ? token + 1 : outcome === 'unknown' ? -(token + 1) : 0);
        },
      };
    }
    return null;
  }

  /**
   * Whether the lease of `token` is this waiter's: a handover that committed (a positive token),
   * or one of unknown outcome (negative) whose row names this waiter, live, at that token.
   */
  private async handedToMe(key: string, token: number, offer: LeaseHandover): Promise<boolean> {
    if (token > 0) return true;
    const row = await this.holder(key).catch(() => null);
    return row !== null && row.live && row.token === -token && row.owner === offer.owner && row.instanceId === offer.instanceId;
  }

  /** A lease handed over by a commit of this process (see `handover`): announced, or given back when the wait was aborted meanwhile. */
  private async handed(key: string, owner: string, token: number, options: AcquireOptions): Promise<Lease | null> {
    const lease: Lease = { key, owner, token, expiresAt: new Date(Date.now() + options.leaseMs) };
    this.heldHere.set(key, { token, expiresAt: lease.expiresAt.getTime() });
    const name = this.nameOf(storedLockKey(key));
    if (name !== null) this.announcer?.announce(name, token, lease.expiresAt.getTime());
    if (options.signal?.aborted) {
      await this.release(lease);
      return null;
    }
    return lease;
  }

  /** The lease of `token` on `key` (any, without a token) ended, as far as this locker knows. */
  private forget(key: string, token?: number): void {
    if (token === undefined || this.heldHere.get(key)?.token === token) this.heldHere.delete(key);
  }

  /** An attempt on `key` under way: `released()` says whether a release came meanwhile that woke nobody. */
  private trying(key: string, waits: boolean): { done(): void; released(): boolean } {
    let set = this.attempts.get(key);
    if (set === undefined) this.attempts.set(key, (set = new Set()));
    const attempt = { waits, released: false };
    set.add(attempt);
    return {
      done: () => {
        set.delete(attempt);
        if (set.size === 0 && this.attempts.get(key) === set) this.attempts.delete(key);
      },
      released: () => attempt.released,
    };
  }

  /**
   * A watch on the lease's announcement when another process may hold it (this process's
   * own release wakes the waiters here) and a waiting session is free; else null.
   */
  private watchFor(table: string, stored: string, name: string | null): Promise<WatchOutcome> | null {
    if (this.watch === null || name === null || this.announcer?.holds(name) === true) return null;
    return this.watch.watch(name, table, stored);
  }

  /**
   * Sleeps until the next poll or an abort (`lapsed`), a release of `key` in this process
   * (`released`), or the end of `watch` (its outcome), whichever comes first. With `offer`, a
   * commit of this process ending the lease may hand it over meanwhile: then the new token
   * (negative when the commit's outcome is unknown: the row tells).
   * Once a commit took the offer, only that commit's outcome ends the pause.
   */
  private pauseFor(key: string, ms: number, signal: AbortSignal | undefined, watch?: Promise<WatchOutcome>, offer?: LeaseHandover): Promise<WatchOutcome | number> {
    return new Promise((resolve) => {
      let queue = this.waiters.get(key);
      if (!queue) this.waiters.set(key, (queue = new Set()));
      const timer = setTimeout(done, Math.max(1, ms));
      const aborted = () => done();
      signal?.addEventListener('abort', aborted, { once: true });
      const wake = (released: boolean) => done(released ? 'released' : 'lapsed');
      queue.add(wake);
      void watch?.then(done);
      const { waiters, offers } = this;
      let settled = false;
      let handing = false;
      let offered: Set<Offer> | undefined;
      const mine: Offer | undefined =
        offer === undefined
          ? undefined
          : {
              values: offer,
              take: () => {
                if (settled || handing) return false;
                handing = true;
                leave();
                return true;
              },
              settle: (token) => {
                if (settled) return;
                settled = true;
                resolve(token === 0 ? 'released' : token);
              },
            };
      if (mine !== undefined) {
        offered = offers.get(key);
        if (!offered) offers.set(key, (offered = new Set()));
        offered.add(mine);
      }
      function leave() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', aborted);
        queue!.delete(wake);
        if (queue!.size === 0 && waiters.get(key) === queue) waiters.delete(key);
        if (offered !== undefined) {
          offered.delete(mine!);
          if (offered.size === 0 && offers.get(key) === offered) offers.delete(key);
        }
      }
      function done(outcome: WatchOutcome = 'lapsed') {
        if (settled || handing) return;
        settled = true;
        leave();
        resolve(outcome);
      }
      // Aborted while it tried: the abort event has come and gone.
      if (signal?.aborted) done();
    });
  }

  /** The user-level lock that announces a lease of the key (see LockAnnouncer). */
  private nameOf(storedKey: string): string | null {
    return this.scope === null ? null : notifyLockName(this.scope, storedKey);
  }

  private table(key: string): string {
    return key === GLOBAL_KEY ? this.global : this.local;
  }

  /**
   * Takes the key's row over when its lease has ended (the usual case: rows stay after
   * release), else inserts it when the key has none; 0 when it is held. The new token comes
   * back as the statement's insert id, through LAST_INSERT_ID(expr).
   */
  private async tryAcquire(table: string, key: string, owner: string, options: AcquireOptions, mayBeNew: boolean): Promise<number> {
    const { instanceId, machine, owner: who, leaseUs } = leaseValues(owner, options);
    const update = table === this.global ? this.takeover.global : this.takeover.local;
    const values = [instanceId, machine, who, leaseUs, key];
    const grouped = this.group === undefined ? null : await this.groupedTakeover(key, inlineValues(update, values));
    if (grouped === null) {
      const [takeover] = await this.run('acquire', key, (conn) => conn.execute<ResultSetHeader>(update, values));
      if (takeover.affectedRows === 1) return Number(takeover.insertId);
    } else if (grouped !== 0) return grouped;
    if (!mayBeNew) return 0;
    // No row, or a live one: a duplicate key (someone holds it, or inserted it just now) is ignored.
    const [inserted] = await this.run('acquire', key, (conn) =>
      conn.execute<ResultSetHeader>(
        `INSERT IGNORE INTO ${table} (\`id\`, \`lock_key\`, \`state_machine_id\`, \`machine\`, \`owner\`, \`token\`, \`lock_timestamp\`, \`expires_at\`)
         VALUES (?, ?, ?, ?, ?, LAST_INSERT_ID(${NOW_US}), UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND)`,
        [uuidv7(), key, instanceId, machine, who, leaseUs],
      ),
    );
    return inserted.affectedRows === 1 ? Number(inserted.insertId) : 0;
  }

  /**
   * The takeover through the store's group committer: its token, 0 when the key is held or has
   * no row, null when it was not written (its group failed as a whole, or a deadlock or a lost
   * connection that the caller's own statement retries).
   */
  private async groupedTakeover(key: string, text: string): Promise<number | null> {
    try {
      return await this.group!.submit<number>({
        head: text,
        statements: 1,
        tail: '',
        tailStatements: 0,
        bytes: 3 * text.length + 32,
        asWritten: 0,
        lenient: (result) => (result.affectedRows === 1 ? Number(result.insertId) : 0),
      });
    } catch (error) {
      if ((error as { errno?: unknown }).errno === ER_LOCK_DEADLOCK || isConnectionError(error)) return null;
      throw storeError({ operation: `acquire lock ${key}` }, error);
    }
  }

  private async refusal(key: string, options: AcquireOptions): Promise<FsmError> {
    const holder = await this.holder(key);
    const by = holder?.instanceId ? `${holder.machine ?? 'an'} instance ${holder.instanceId}` : 'another instance';
    const context = { key, holder: holder?.instanceId ?? null, owner: holder?.owner ?? null, expiresAt: holder?.expiresAt ?? null };
    if (options.mode === 'fail') {
      return new FsmError('FSM_LOCK_BUSY', `lock "${key}" is held by ${by}; try again later`, { context });
    }
    return new FsmError('FSM_LOCK_TIMEOUT', `waited ${options.timeoutMs} ms for lock "${key}", still held by ${by}`, {
      context: { ...context, timeoutMs: options.timeoutMs },
    });
  }

  private maybeSweep(): void {
    if (this.sweepMs <= 0 || Date.now() < this.nextSweep) return;
    this.nextSweep = Date.now() + this.sweepMs;
    // Housekeeping only: a failure changes nothing and the next sweep tries again.
    this.sweep().catch(() => undefined);
  }

  /**
   * Runs a statement again when it was rolled back as a deadlock victim (new keys are inserted
   * next to others), or once more on a fresh connection when the pooled one was dead. Renew,
   * release and reads are idempotent; an acquire that landed before its connection died finds
   * its own row live on the second try, and waits at worst for that lease to end.
   */
  private async run<T>(operation: string, key: string, statement: (conn: PoolConnection) => Promise<[T, unknown]>): Promise<[T]> {
    let lostConnection = false;
    for (let attempt = 1; ; attempt++) {
      try {
        return [await pooledStatement(this.pool, this.timeout, statement)];
      } catch (error) {
        const deadlock = (error as { errno?: unknown }).errno === ER_LOCK_DEADLOCK && attempt < 5;
        const retry = deadlock || (!lostConnection && isConnectionError(error));
        if (!retry) throw storeError({ operation: `${operation} lock ${key}` }, error);
        lostConnection ||= !deadlock;
      }
    }
  }
}

/** A waiter's offer to take a lease over from a commit of this process (see `MysqlLocker.handover`). */
interface Offer {
  values: LeaseHandover;
  /** Takes the waiter out of its wait for the commit; false when the wait ended meanwhile. */
  take(): boolean;
  /** The commit's outcome: the new token; 0 when nothing was handed over; minus the token when that is not known. */
  settle(token: number): void;
}

/** What a lease row records of its holder, cut to fit its columns. */
function leaseValues(owner: string, options: AcquireOptions): LeaseHandover {
  return {
    instanceId: STORABLE_ID.test(options.instanceId) ? options.instanceId : null,
    machine: options.machine?.slice(0, MACHINE_CHARS) ?? null,
    owner: owner.slice(0, OWNER_CHARS),
    leaseUs: Math.round(options.leaseMs * 1000),
  };
}
