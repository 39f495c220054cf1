import {
  CHILDREN_WAIT,
  QUEUED_CHILD,
  checkHistoryOptions,
  checkPruneOptions,
  FsmError,
  type ClaimOptions,
  type Commit,
  type CommitResult,
  type Delivery,
  type DeliveryOutcome,
  type FsmEvent,
  type HistoryOptions,
  type HistoryRecord,
  type InstanceRecord,
  type InstanceStatus,
  type LeaseRenewal,
  type ListFilter,
  type PruneOptions,
  type PruneResult,
  type MachineStats,
  type StatsOptions,
  type Store,
} from '@fsmkit/runtime';
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { checkPauseReason, Encoder, MEDIUMTEXT_BYTES } from './encode.js';
import { historyQuery } from './history-query.js';
import { InboxSql } from './inbox-sql.js';
import { inlineValues } from './inline-values.js';
import { listQuery } from './list-query.js';
import { statsFromRows, statsQueries } from './stats-query.js';
import { MachineSql, SharedSql } from './machine-sql.js';
import { createPool, defaultUrl, type PoolSettings } from './pool.js';
import { PACKET_MARGIN, splitRows } from './packet-split.js';
import { pooledStatement, withDeadline } from './pooled.js';
import {
  historyFromRow,
  historyValues,
  insertValues,
  instanceFromRow,
  outboxValues,
  updateValues,
  ALL_UPDATE_COLUMNS,
  changedColumns,
  pickColumns,
  type EncodedEvent,
  type EncodedHistory,
  type EncodedInstance,
  type HistoryRow,
  type InstanceRow,
  type SqlValue,
  LEASE_OWNER_CHARS,
} from './rows.js';
import { GLOBAL_KEY, storedLockKey } from './lock-key.js';
import { GroupCommitter, type GroupCommitOptions } from './group-commit.js';
import { mergeOverhead } from './group-head.js';
import { groupTail } from './group-tail.js';
import type { SiblingStart } from './group-start.js';
import { MysqlLocker, type MysqlLockerOptions } from './locker.js';
import { addColumnSql, addIndexSql, columnsAddedSince, indexesAddedSince } from './layout.js';
import { machineDdl, machineTables, sharedDdl, type SchemaOptions, type TableNames } from './schema.js';
import { isConnectionError, QueryTimeoutError, storeError, type ErrorScope } from './store-error.js';
import { outboxCommitted } from './outbox-signal.js';

/** MySQL's "duplicate entry" (a unique key). */
const ER_DUP_ENTRY = 1062;
/** MySQL's "deadlock found": the server rolled the victim's transaction back. */
const ER_LOCK_DEADLOCK = 1213;
/** Attempts of a delivery chosen as a deadlock's victim. */
const DEADLOCK_RETRIES = 5;
/** MySQL's "duplicate column name". */
const ER_DUP_FIELDNAME = 1060;
const ER_DUP_KEYNAME = 1061;

export interface MysqlStoreOptions extends PoolSettings {
  /**
   * A pool to use instead of creating one from `url`; the store leaves it open on close. It must
   * read and write dates in UTC as Date objects (`timezone: 'Z'`, no `dateStrings`): `createPool`
   * makes such a pool.
   */
  pool?: Pool;
  /** Prefix of every table name. Default `fsm_`. */
  tablePrefix?: string;
  /** Longest wait for the database per call (a commit's whole transaction counts as one). Default 30 000; 0: none. */
  queryTimeoutMs?: number;
  /** Largest serialized instance data accepted, in bytes. Default and maximum: MEDIUMTEXT's 16 MiB - 1. */
  maxStateBytes?: number;
  /**
   * Commits that arrive while `lanes` transactions are being written wait and go together in
   * one transaction (see GroupCommitter). False: every commit is its own transaction. Only on
   * the store's own pool (a caller's pool commits statement by statement).
   */
  groupCommit?: GroupCommitOptions | false;
}

/**
 * Largest total of text values (characters) sent as one multi-statement commit; a larger commit
 * sends its statements one by one. Either way no packet outgrows the server's
 * max_allowed_packet: a batch that would is sent statement by statement, and INSERTs are split.
 */
const BATCH_CHARS = 1_000_000;

/** What a commit adds to its group's texts besides its statements: separators, START TRANSACTION and COMMIT. */
const COMMIT_OVERHEAD = 32;

/** MySQL's default max_allowed_packet, should the server not say. */
const DEFAULT_MAX_PACKET = 4_194_304;

/** Ids per `IN (...)` list in `currentStates`. */
const IDS_PER_QUERY = 500;

/** What the group committer answers for a take that was written (a take has no commit result of its own). */
const TAKEN: CommitResult = { pauseRequested: false, pauseReason: null };

/**
 * Id columns are ASCII (ids are UUIDs); comparing one with other text is an error in MySQL, not "no
 * match", so such ids are answered as absent without asking.
 */
const ASCII = /^[ -~]*$/;
const storableId = (id: string): boolean => ASCII.test(id);

type Rows = RowDataPacket[];

export function createMysqlStore(options: MysqlStoreOptions = {}): MysqlStore {
  return new MysqlStore(options);
}

/**
 * The production store: one table per machine plus its history table, and the shared outbox,
 * written together in one READ COMMITTED transaction per commit.
 */
export class MysqlStore implements Store {
  readonly pool: Pool;
  private readonly ownsPool: boolean;
  private readonly schema: SchemaOptions;
  private readonly shared: SharedSql;
  private readonly machines = new Map<string, MachineSql>();
  private readonly encoder: Encoder;
  private readonly timeout: number;
  /** Lockers made by `locker()`: told when a commit releases a key, to wake their waiters. */
  private readonly lockers = new Set<MysqlLocker>();
  private readonly sessionSettings: Pick<PoolSettings, 'url' | 'connectTimeoutMs'>;
  private sharedLocker: MysqlLocker | undefined;
  private packetLimit: Promise<number> | undefined;
  private readonly grouper: GroupCommitter;
  private readonly inbox: InboxSql;
  private inboxReady: Promise<void> | undefined;

  constructor(options: MysqlStoreOptions = {}) {
    this.schema = options.tablePrefix === undefined ? {} : { tablePrefix: options.tablePrefix };
    this.shared = new SharedSql(this.schema);
    this.encoder = new Encoder(Math.min(options.maxStateBytes ?? MEDIUMTEXT_BYTES, MEDIUMTEXT_BYTES));
    this.timeout = options.queryTimeoutMs ?? 30_000;
    this.ownsPool = options.pool === undefined;
    this.pool = options.pool ?? createPool(options);
    // Lockers open sessions of their own on the same database; a caller's pool names none.
    this.sessionSettings = this.ownsPool ? { url: options.url ?? defaultUrl(), ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }) } : {};
    this.inbox = new InboxSql(this.schema);
    const scope = { operation: 'commit' };
    this.grouper = new GroupCommitter(
      {
        pool: this.pool,
        timeoutMs: this.timeout,
        packetLimit: async () => (await this.maxPacket(scope)) - PACKET_MARGIN,
        abandon: (conn, error) => this.abandon(conn, error),
        // Unknown thread: the session had already ended. Any other failure leaves the outcome unknown, as the timeout says.
        kill: (threadId) =>
          pooledStatement(this.pool, this.timeout, (conn) => conn.query(`KILL CONNECTION ${Math.floor(threadId)}`)).then(
            () => undefined,
            () => undefined,
          ),
      },
      options.groupCommit === false ? { lanes: Number.MAX_SAFE_INTEGER, maxSize: 1 } : options.groupCommit,
    );
  }

  /** Transactions the store's commits went in, and how many commits they held (group commit). */
  get groupCommits(): Readonly<{ transactions: number; commits: number; largest: number }> {
    return this.grouper.counts;
  }

  /** Creates the shared tables and those of each machine when missing, with the generator's DDL. */
  async ensureSchema(models: Array<{ name: string }>): Promise<void> {
    // Validate every name first: a bad one stops everything before any SQL runs.
    for (const model of models) this.sql(model.name);
    const statements = [...sharedDdl(this.schema), ...this.inbox.ddl, ...models.flatMap((m) => machineDdl(m, this.schema))];
    try {
      for (const statement of statements) await this.deadline(this.pool.query(statement));
      for (const model of models) {
        await this.addMissingColumns(machineTables(model.name, this.schema));
        // Waiting instances of an earlier release had no due time and were claimed anyway; now a
        // wait without a due time is never claimed: make theirs due.
        await this.deadline(this.pool.query(this.sql(model.name).dueUnmarkedWaits));
      }
    } catch (cause) {
      throw storeError({ operation: 'create the tables of', machine: models.map((m) => m.name).join(', ') }, cause);
    }
  }

  /**
   * Tables created by an earlier release keep their columns under CREATE TABLE IF NOT EXISTS:
   * add the columns and indexes later layouts brought.
   */
  private async addMissingColumns(tables: TableNames): Promise<void> {
    await this.addMissing(tables, 'COLUMNS', 'COLUMN_NAME', ER_DUP_FIELDNAME, columnsAddedSince(1).map((c) => ({ table: c.table, name: c.column, ddl: addColumnSql(tables, c) })));
    await this.addMissing(tables, 'STATISTICS', 'INDEX_NAME', ER_DUP_KEYNAME, indexesAddedSince(1).map((i) => ({ table: i.table, name: i.index, ddl: addIndexSql(tables, i) })));
  }

  /** Runs the DDL of each column or index that information_schema does not list; one added meanwhile by another process is what was wanted. */
  private async addMissing(
    tables: TableNames,
    view: 'COLUMNS' | 'STATISTICS',
    nameColumn: 'COLUMN_NAME' | 'INDEX_NAME',
    duplicate: number,
    wanted: Array<{ table: keyof TableNames; name: string; ddl: string }>,
  ): Promise<void> {
    const [rows] = await this.deadline(
      this.pool.query<RowDataPacket[]>(
        `SELECT DISTINCT \`TABLE_NAME\` AS t, \`${nameColumn}\` AS n FROM information_schema.${view} WHERE \`TABLE_SCHEMA\` = DATABASE() AND \`TABLE_NAME\` IN (?, ?)`,
        [tables.instances, tables.history],
      ),
    );
    const present = new Set(rows.map((r) => `${String(r['t'])}.${String(r['n'])}`));
    for (const added of wanted) {
      if (present.has(`${tables[added.table]}.${added.name}`)) continue;
      try {
        await this.deadline(this.pool.query(added.ddl));
      } catch (error) {
        if ((error as { errno?: number }).errno !== duplicate) throw error;
      }
    }
  }

  async insert(record: InstanceRecord, events: FsmEvent[], history: HistoryRecord[] = []): Promise<void> {
    const scope = { operation: 'insert', machine: record.machine, id: record.id };
    const sql = this.sql(record.machine);
    const instance = this.encoder.instance(scope, record);
    const encoded = events.map((e) => this.encoder.event(scope, e));
    const rows = history.map((h) => this.encoder.history(scope, h));
    if (encoded.length === 0 && rows.length === 0) {
      await this.write(scope, sql.insert, insertValues(instance));
      return;
    }
    await this.transaction(scope, async (conn) => {
      await this.run(conn, sql.insert, insertValues(instance));
      if (rows.length > 0) await this.insertRows(conn, scope, (n) => sql.insertHistory(n), rows.map(historyValues));
      if (encoded.length > 0) await this.insertOutbox(conn, scope, encoded, record.updatedAt);
    });
    if (encoded.length > 0) outboxCommitted(this.shared.tables.outbox);
  }

  async commit(c: Commit): Promise<CommitResult> {
    const { record } = c;
    const scope = { operation: 'commit', machine: record.machine, id: record.id };
    const sql = this.sql(record.machine);
    const instance = this.encoder.instance(scope, record);
    const history = c.history.map((h) => this.encoder.history(scope, h));
    const events = c.events.map((e) => this.encoder.event(scope, e));
    const fenced = c.fence !== undefined && c.fence.length > 0;
    // A commit that begins a message wait looks in the inbox in its own transaction.
    const quick = c.wait ? null : await this.quickCommit(scope, sql, c, instance, history, events);
    if (quick !== null) return this.afterRelease(c, quick);
    if (c.wait) await this.ensureInbox(scope);
    const result = await this.retryDeadlock(() => this.transaction(scope, async (conn) => {
      let received: InstanceRecord | null = null;
      if (c.wait) {
        // The (message, key) lock first, as `deliver` takes it: one of the two sees the other.
        await this.run(conn, this.inbox.lockPair, [record.machine, c.wait.message, c.wait.key]);
        const [rows] = await conn.execute<Rows>(this.inbox.pending, [record.machine, c.wait.message, c.wait.key]);
        const row = rows[0];
        if (row !== undefined) {
          received = c.wait.take(record, { payload: row['payload'] as string, messageId: row['message_id'] as string | null });
          if (received !== null) await this.run(conn, this.inbox.take, [record.id, row['id'] as number]);
        }
      }
      if (fenced && c.releaseLocks) await this.releaseFence(conn, scope, c.fence!);
      else if (fenced) await this.checkFence(conn, scope, c.fence!);
      const fresh = c.spawn !== undefined && c.spawn.length > 0 && (await this.spawn(conn, scope, c.spawn));
      // The children first, then the parent's row: a child's end takes them in the same order.
      // Children all stored by this transaction have not ended (nor run): none to count.
      const ended = c.joinCheck && !(fresh && c.joinCheck.ended === 0) ? await this.countEnded(conn, record.id, c.joinCheck.machines) : null;
      const written = received
        ? { ...(await this.update(conn, sql, { ...c, record: received }, this.encoder.instance(scope, received))), received: true }
        : await this.update(conn, sql, c, instance);
      if (history.length > 0) await this.insertRows(conn, scope, (n) => sql.insertHistory(n), history.map(historyValues));
      if (events.length > 0) await this.insertOutbox(conn, scope, events, record.updatedAt);
      let started: Rows | undefined;
      for (const statement of this.childEnded(c)) [started] = await conn.query<Rows>(statement);
      if (ended !== null && ended !== c.joinCheck!.ended) await conn.execute(sql.dueNow, [record.id]);
      return c.childEnded?.lease && started !== undefined ? withStarted(written, [started]) : written;
    }));
    return this.afterRelease(c, result);
  }

  /**
   * A transaction chosen as a deadlock's victim was rolled back whole, nothing of it written: it
   * runs again, a few times, rather than failing a drive that would then wait for its lease to run
   * out (a parent's join check against its children's grouped commits, say).
   */
  private async retryDeadlock<T>(work: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        if (attempt >= DEADLOCK_RETRIES || !hasErrno(error, ER_LOCK_DEADLOCK)) throw error;
      }
    }
  }

  /**
   * One transaction: the instance waiting for the message and key (`ix_wait`, row-locked) takes
   * it, written as `take` makes it (timer cancelled, wait key cleared); nobody waiting, the
   * message goes to the inbox under the (message, key) lock that a commit beginning such a wait
   * also takes, after looking once more. A message id seen before is a duplicate.
   */
  async deliver(machine: string, d: Delivery): Promise<DeliveryOutcome> {
    const sql = this.sql(machine);
    const scope = { operation: 'deliver a message to', machine };
    await this.ensureInbox(scope);
    for (let attempt = 1; ; attempt++) {
      try {
        // Usually someone waits: the wait was committed, and a conditional UPDATE on its version takes it.
        const taken = this.ownsPool ? await this.deliverBatched(scope, sql, d) : await this.transaction(scope, (conn) => this.deliverToWaiting(conn, sql, scope, d));
        if (taken !== null) return taken;
        return await this.transaction(scope, (conn) => this.deliverLocked(conn, sql, scope, d));
      } catch (error) {
        // Two deliveries of one id at once: the second is the duplicate.
        if (d.messageId !== null && hasErrno(error, ER_DUP_ENTRY)) return { kind: 'duplicate', instanceId: null };
        // Chosen as a deadlock's victim: rolled back whole, so it is delivered again from the start.
        if (attempt < DEADLOCK_RETRIES && hasErrno(error, ER_LOCK_DEADLOCK)) continue;
        throw error;
      }
    }
  }

  /** Within a transaction: the instance waiting now takes the message; null when none does (or another call took it first). */
  private async deliverToWaiting(conn: PoolConnection, sql: MachineSql, scope: ErrorScope, d: Delivery): Promise<DeliveryOutcome | null> {
    if (d.messageId !== null) {
      const seen = await this.duplicate(conn, d.messageId);
      if (seen) return seen;
    }
    const [rows] = await conn.execute<Rows>(sql.selectWaiting, [d.message, d.key]);
    const take = this.takeUpdate(sql, scope, d, rows[0]);
    if (take === null) return null;
    if ((await conn.query<ResultSetHeader>(take.update))[0].affectedRows !== 1) return null;
    if (take.insert !== null) await conn.query(take.insert);
    return take.outcome;
  }

  /**
   * Nobody waited when first looked: under the (message, key) lock, which a commit beginning such
   * a wait takes too, look once more (a wait committed meanwhile is seen now), else keep the
   * message in the inbox.
   */
  private async deliverLocked(conn: PoolConnection, sql: MachineSql, scope: ErrorScope, d: Delivery): Promise<DeliveryOutcome> {
    await this.run(conn, this.inbox.lockPair, [sql.machine, d.message, d.key]);
    const taken = await this.deliverToWaiting(conn, sql, scope, d);
    if (taken) return taken;
    await this.run(conn, this.inbox.insert, [sql.machine, d.message, d.key, d.messageId, d.payload, Math.round(d.inboxTtlMs * 1000), null, null]);
    return { kind: 'inboxed' };
  }

  /** The UPDATE (on the version read) that hands the message to `row`, and the inbox row that keeps its id; null when it does not wait for it. */
  private takeUpdate(sql: MachineSql, scope: ErrorScope, d: Delivery, row: RowDataPacket | undefined): { update: string; insert: string | null; outcome: DeliveryOutcome } | null {
    if (row === undefined) return null;
    const stored = instanceFromRow(row as InstanceRow);
    const record = d.take(stored, { payload: d.payload, messageId: d.messageId });
    if (record === null) return null;
    // Only what the take changes (status, wait, lease, times): the data is not rewritten.
    const columns = changedColumns(record, stored);
    const values = pickColumns(updateValues(this.encoder.instance(scope, record)), columns);
    return {
      update: inlineValues(sql.updateKeepingColumns(columns), [...values, stored.id, stored.version]),
      insert:
        d.messageId === null
          ? null
          : inlineValues(this.inbox.insert, [sql.machine, d.message, d.key, d.messageId, d.payload, Math.round(d.inboxTtlMs * 1000), stored.id, stored.id]),
      outcome: { kind: 'taken', record: { ...record, pauseRequested: stored.pauseRequested, pauseReason: stored.pauseReason } },
    };
  }

  /**
   * `deliverToWaiting` in as few round trips as a pool of ours allows: the reads, then the take
   * through the group committer (the UPDATE, and with a message id the inbox row once it
   * matched), so that deliveries arriving together share one transaction and one log flush with
   * each other and with the steps committing meanwhile.
   */
  private async deliverBatched(scope: ErrorScope, sql: MachineSql, d: Delivery): Promise<DeliveryOutcome | null> {
    const withId = d.messageId !== null;
    const reads = [...(withId ? [this.inbox.byMessageId] : []), sql.selectWaiting].join(';\n');
    const sets = await this.read(scope, reads, [...(withId ? [d.messageId] : []), d.message, d.key], false);
    const results = (withId ? sets : [sets]) as unknown as Rows[];
    if (withId && results[0]![0] !== undefined) return { kind: 'duplicate', instanceId: (results[0]![0]['taken_by'] as string | null) ?? null };
    const take = this.takeUpdate(sql, scope, d, results[results.length - 1]![0]);
    if (take === null) return null;
    if (Math.max(take.update.length, take.insert?.length ?? 0) <= BATCH_CHARS) {
      const grouped = await this.grouper
        .submit({
          head: take.update,
          statements: 1,
          tail: take.insert ?? '',
          tailStatements: take.insert === null ? 0 : 1,
          bytes: 3 * (take.update.length + (take.insert?.length ?? 0)) + COMMIT_OVERHEAD,
          asWritten: TAKEN,
        })
        .catch((error: unknown) => {
          throw storeError(scope, error);
        });
      if (grouped !== null) return take.outcome;
      // Not written: another call took it first, or the group failed as a whole. Alone, it tells which.
    }
    if (take.insert === null) return (await this.writeText(scope, take.update)).affectedRows === 1 ? take.outcome : null;
    return this.transaction(scope, async (conn) => {
      if ((await conn.query<ResultSetHeader>(take.update))[0].affectedRows !== 1) return null;
      await conn.query(take.insert!);
      return take.outcome;
    });
  }

  private async duplicate(conn: PoolConnection, messageId: string): Promise<DeliveryOutcome | null> {
    const [rows] = await conn.execute<Rows>(this.inbox.byMessageId, [messageId]);
    return rows[0] === undefined ? null : { kind: 'duplicate', instanceId: (rows[0]['taken_by'] as string | null) ?? null };
  }

  /** Creates the inbox tables once per store when missing (a database made by an earlier release has none). */
  private ensureInbox(scope: ErrorScope): Promise<void> {
    this.inboxReady ??= (async () => {
      for (const ddl of this.inbox.ddl) await this.deadline(this.pool.query(ddl));
    })().catch((cause: unknown) => {
      this.inboxReady = undefined;
      throw storeError({ ...scope, operation: `create the inbox tables to ${scope.operation}` }, cause);
    });
    return this.inboxReady;
  }

  async children(machine: string, parentId: string): Promise<Array<{ id: string; status: InstanceStatus }>> {
    if (!storableId(parentId)) return [];
    const rows = await this.read({ operation: 'read the children of', machine, id: parentId }, this.sql(machine).children, [parentId], true);
    return rows.map((row) => ({ id: row['id'] as string, status: row['status'] as InstanceStatus }));
  }

  /**
   * Stores children with their first events; INSERT IGNORE leaves a child that exists as it is
   * (a step run again after a crash derives the same ids), and then adds no events.
   */
  /** Stores the children; true when none of them existed before. */
  private async spawn(conn: PoolConnection, scope: ErrorScope, spawn: NonNullable<Commit['spawn']>): Promise<boolean> {
    let fresh = true;
    const byMachine = new Map<string, NonNullable<Commit['spawn']>>();
    for (const child of spawn) {
      const list = byMachine.get(child.record.machine) ?? [];
      list.push(child);
      byMachine.set(child.record.machine, list);
    }
    for (const [machine, children] of byMachine) {
      const sql = this.sql(machine);
      const childScope = { ...scope, machine };
      const encoded = children.map((child) => this.encoder.instance(childScope, child.record));
      const budget = (await this.maxPacket(scope, conn)) - PACKET_MARGIN;
      let inserted = 0;
      const values = encoded.map(insertValues);
      // As text with the values inlined: a statement of thousands of placeholders costs far more
      // to prepare (and to bind) than to parse once.
      for (const chunk of splitRows(values, budget)) {
        inserted += (await conn.query<ResultSetHeader>(inlineValues(sql.insertInstances(chunk.length), chunk.flat())))[0].affectedRows;
      }
      // A visit's children are stored all together or not at all: some existed, so all did, with their events.
      if (inserted < children.length) {
        fresh = false;
        continue;
      }
      const events = children.flatMap((child) => child.events.map((e) => this.encoder.event({ ...childScope, id: child.record.id }, e)));
      if (events.length > 0) await this.insertOutbox(conn, scope, events, new Date());
    }
    return fresh;
  }

  /**
   * A child's end: start the sibling queued behind it, and make its parent due when it waits for
   * children (see `countEnded` for why no end is missed).
   */
  private childEnded(c: Commit): string[] {
    const link = c.childEnded;
    if (link === undefined || !storableId(link.parentId)) return [];
    const parent = this.sql(link.parentMachine);
    const own = this.sql(c.record.machine);
    const wakeValues = [link.wake ? 1 : 0, link.parentId, `${CHILDREN_WAIT}%`];
    if (link.next === null || !storableId(link.next)) return ['SET @fsm_started = 0', inlineValues(parent.wakeParent, wakeValues)];
    const start = link.lease
      ? inlineValues(own.startQueuedLeased, [link.lease.owner.slice(0, LEASE_OWNER_CHARS), Math.round(link.lease.leaseMs * 1000), link.next, QUEUED_CHILD])
      : inlineValues(own.startQueued, [link.next, QUEUED_CHILD]);
    // The started sibling's own end wakes the parent: only a child that started none (the last of its chain) or failed does;
    // of a map's chains, only the last to end (each counts its visit's children left under the parent's row lock).
    const wake =
      link.siblings === undefined || !storableId(link.siblings)
        ? [inlineValues(parent.wakeParent, wakeValues)]
        : [inlineValues(parent.lockForWake, [link.parentId]), inlineValues(parent.wakeParentLast(own), [...wakeValues, link.wake ? 1 : 0, link.parentId, `${link.siblings}%`])];
    // The sibling as stored, read back last (see `withStarted`): its new owner drives it without reading it again.
    return [start, 'SET @fsm_started = ROW_COUNT()', ...wake, ...(link.lease ? [inlineValues(own.selectStarted, [link.next])] : [])];
  }

  /**
   * A map child's end that starts its sibling leased to the writer, in parts: in a group, such
   * starts go together, and a child whose sibling started needs nothing else (see `groupStarts`).
   * Not one that failed: it wakes its parent in any case.
   */
  private siblingStart(c: Commit): SiblingStart | undefined {
    const link = c.childEnded;
    if (link?.lease === undefined || link.wake || link.next === null || link.siblings === undefined) return undefined;
    if (![link.parentId, link.next, link.siblings].every(storableId)) return undefined;
    const own = this.sql(c.record.machine);
    const owner = link.lease.owner.slice(0, LEASE_OWNER_CHARS);
    const micros = Math.round(link.lease.leaseMs * 1000);
    return {
      key: `${c.record.machine}\n${micros}\n${owner}`,
      id: link.next,
      start: (ids) => inlineValues(own.startQueuedIn(ids.length), [owner, micros, ...ids, QUEUED_CHILD]),
      read: (ids) => inlineValues(own.selectIn(ids.length), ids),
    };
  }

  /**
   * A parent's join check: its children that ended, counted under shared locks held until the
   * commit ends. A child's end in flight finishes first and is counted; a later one waits for
   * this commit and then finds the parent waiting, and wakes it. Either way none is missed.
   */
  private async countEnded(conn: PoolConnection, id: string, machines: string[]): Promise<number> {
    let ended = 0;
    for (const machine of machines) {
      const [rows] = await conn.execute<Rows>(this.sql(machine).countEnded, [id, QUEUED_CHILD]);
      ended += Number(rows[0]?.['n'] ?? 0);
    }
    return ended;
  }

  async get(machine: string, id: string): Promise<InstanceRecord | undefined> {
    const sql = this.sql(machine);
    if (!storableId(id)) return undefined;
    const rows = await this.read({ operation: 'get', machine, id }, sql.selectById, [id], true);
    const row = rows[0];
    return row && instanceFromRow(row as InstanceRow);
  }

  async list(machine: string, filter: ListFilter = {}): Promise<InstanceRecord[]> {
    const query = listQuery(this.sql(machine), filter);
    if (query === null) return [];
    // Filters vary in shape: client-side placeholders, so no server statement per shape.
    const rows = await this.read({ operation: 'list', machine }, query.sql, query.params, false);
    return rows.map((row) => instanceFromRow(row as InstanceRow));
  }

  async history(machine: string, id: string, options?: HistoryOptions): Promise<HistoryRecord[]> {
    const sql = this.sql(machine);
    const o = checkHistoryOptions(options);
    if (!storableId(id) || o.limit === 0) return [];
    const scope = { operation: 'read the history of', machine, id };
    const plain = o.limit === undefined && o.afterSeq === undefined && o.since === undefined && o.order === 'asc' && o.withData;
    // The whole history is one prepared statement; pages vary in shape, so they go as text.
    const query = plain ? { sql: sql.selectHistory, params: [id] } : historyQuery(sql, id, o);
    const rows = await this.read(scope, query.sql, query.params, plain);
    return rows.map((row) => historyFromRow(machine, row as HistoryRow));
  }

  /**
   * Deletes finished instances last updated before `olderThan`, with their history, a batch
   * per short transaction: the batch's rows are locked (`SKIP LOCKED`: never waits for a
   * commit in flight, and a row being written is not finished anyway), then their history and
   * the rows themselves are deleted.
   */
  async prune(machine: string, options: PruneOptions): Promise<PruneResult> {
    const sql = this.sql(machine);
    const o = checkPruneOptions(options);
    const scope = { operation: 'prune', machine };
    const total: PruneResult = { instances: 0, historyRows: 0, inboxRows: 0 };
    await this.ensureInbox(scope);
    for (;;) {
      const deleted = await this.write(scope, this.inbox.prune, [machine, o.olderThan, o.batchSize]);
      total.inboxRows += deleted.affectedRows;
      if (deleted.affectedRows < o.batchSize) break;
    }
    for (;;) {
      const batch = await this.transaction(scope, async (conn) => {
        const [rows] = await conn.query<Rows>(inlineValues(sql.pruneSelect(o.statuses.length, o.batchSize), [...o.statuses, o.olderThan]));
        const ids = rows.map((row) => row['id'] as string);
        if (ids.length === 0) return { selected: 0, instances: 0, historyRows: 0 };
        const [history] = await conn.query<ResultSetHeader>(inlineValues(sql.deleteHistory(ids.length), ids));
        const [instances] = await conn.query<ResultSetHeader>(inlineValues(sql.deleteInstances(ids.length), ids));
        return { selected: ids.length, instances: instances.affectedRows, historyRows: history.affectedRows };
      });
      total.instances += batch.instances;
      total.historyRows += batch.historyRows;
      if (batch.selected < o.batchSize) return total;
    }
  }

  async requestPause(machine: string, id: string, reason: string | null): Promise<boolean> {
    const scope = { operation: 'request a pause of', machine, id };
    const sql = this.sql(machine);
    checkPauseReason(scope, reason);
    if (!storableId(id)) return false;
    // Setting a flag is idempotent, so a lost connection may be retried like a read.
    const result = await this.write(scope, sql.requestPause, [reason, id], true);
    return result.affectedRows > 0;
  }

  async currentStates(machine: string, ids: string[]): Promise<Map<string, string>> {
    const sql = this.sql(machine);
    const found = new Map<string, string>();
    const asked = ids.filter(storableId);
    for (let start = 0; start < asked.length; start += IDS_PER_QUERY) {
      const chunk = asked.slice(start, start + IDS_PER_QUERY);
      const rows = await this.read({ operation: 'read the states of', machine }, sql.currentStates(chunk.length), chunk, false);
      for (const row of rows) found.set(row['id'] as string, row['current_state'] as string);
    }
    // In the caller's order, as the memory store answers.
    const states = new Map<string, string>();
    for (const id of ids) {
      const state = found.get(id);
      if (state !== undefined) states.set(id, state);
    }
    return states;
  }

  /**
   * Claims runnable instances for a worker in one short READ COMMITTED transaction:
   * `SELECT ... FOR UPDATE SKIP LOCKED`, then a lease to `owner`. Concurrent claimers, in any
   * process on any host, skip each other's rows and never get the same instance. Given the
   * machine's lock, it passes over instances whose lock is held and takes one per lock key:
   * the others would only wait for it.
   */
  async claim(machine: string, options: ClaimOptions): Promise<string[]> {
    const sql = this.sql(machine);
    const lock = options.lock ?? { scope: 'none' };
    const perUser = lock.scope === 'local' && lock.by !== 'type';
    // A lock of the whole machine type, or of the system: one instance at a time anyway.
    const limit = lock.scope === 'none' || perUser ? Math.floor(options.limit) : Math.min(1, Math.floor(options.limit));
    if (!(limit > 0)) return [];
    const owner = options.owner.slice(0, LEASE_OWNER_CHARS);
    const free = this.shared.lockFree(lock, machine);
    const oldest = Math.min(limit, Math.max(0, Math.floor(options.oldest ?? 0)));
    return this.transaction({ operation: 'claim instances of', machine }, async (conn) => {
      const ids: string[] = [];
      const users = new Set<string>();
      const take = (rows: Rows, room: number) => {
        for (const row of rows) {
          if (ids.length >= room) break;
          if (perUser) {
            const user = String(row['user_id'] ?? '');
            if (users.has(user)) continue;
            users.add(user);
          }
          ids.push(row['id'] as string);
        }
      };
      const select = async (which: 'continuing' | 'ready', order: 'priority' | 'oldest', count: number, due: 'set' | 'none' | 'any') => {
        // Client-side placeholders: a prepared LIMIT ? is refused by some servers.
        const text = sql.claimQuery(which, free?.sql ?? null, order, ids.length, due);
        const [rows] = await conn.query<Rows>(inlineValues(text, [...(free?.params ?? []), ...ids, count]));
        return rows;
      };
      // Each lane asks its queries for their best and merges them here (rows not taken are only
      // locked until this short transaction ends). The aging lane first: the instances due the
      // longest, whatever their priority; then the rest by priority.
      if (oldest > 0) {
        const queries = (['continuing', 'ready'] as const).flatMap((which) => (['set', 'none'] as const).map((due) => [which, due] as const));
        const rows: Rows = [];
        for (const [which, due] of queries) rows.push(...(await select(which, 'oldest', oldest, due)));
        take(rows.sort(agingOrder), oldest);
      }
      if (ids.length < limit) {
        const count = limit - ids.length;
        const rows = [...(await select('continuing', 'priority', count, 'any')), ...(await select('ready', 'priority', count, 'any'))];
        take(rows.sort(claimOrder), limit);
      }
      if (ids.length > 0) await conn.query(inlineValues(sql.lease(ids.length), [owner, Math.round(options.leaseMs * 1000), ...ids]));
      return ids;
    });
  }

  async renewLease(machine: string, id: string, lease: LeaseRenewal): Promise<boolean> {
    const sql = this.sql(machine);
    if (!storableId(id)) return false;
    const values = [Math.round(lease.leaseMs * 1000), id, lease.owner.slice(0, LEASE_OWNER_CHARS), lease.version];
    // Extending a lease is idempotent, so a lost connection may be retried like a read.
    const result = await this.write({ operation: 'renew the lease of', machine, id }, sql.renewLease, values, true);
    return result.affectedRows === 1;
  }

  async unclaim(machine: string, ids: string[], owner: string): Promise<void> {
    const sql = this.sql(machine);
    const asked = ids.filter(storableId);
    if (asked.length === 0) return;
    await this.write({ operation: 'unclaim instances of', machine }, sql.unclaim(asked.length), [owner.slice(0, LEASE_OWNER_CHARS), ...asked], true);
  }

  /**
   * A locker on this store's pool and tables, whose tokens this store's commits check; the one
   * a runner on this store uses by default. Without options, always the same locker, so that
   * every runner of the store wakes the others' waiters at once.
   */
  locker(options: Omit<MysqlLockerOptions, 'pool' | 'tablePrefix' | keyof PoolSettings> = {}): MysqlLocker {
    const shared = Object.keys(options).length === 0;
    if (shared && this.sharedLocker !== undefined) return this.sharedLocker;
    // On a pool of ours (multi-statement, FOUND_ROWS), its takeovers go with the commits.
    const locker = new MysqlLocker({ queryTimeoutMs: this.timeout, ...options, ...this.sessionSettings, ...this.schema, pool: this.pool }, this.ownsPool ? this.grouper : undefined);
    this.lockers.add(locker);
    if (shared) this.sharedLocker = locker;
    return locker;
  }

  /** Computed in SQL (see stats-query.ts): three aggregate statements, run side by side. */
  async stats(machine: string, options: StatsOptions = {}): Promise<MachineStats> {
    const q = statsQueries(this.sql(machine).tables, options);
    const scope = { operation: 'compute the statistics of', machine };
    const [counts, timeline, durations] = await Promise.all([q.counts, q.timeline, q.durations].map((s) => this.read(scope, s.sql, s.params, false)));
    return statsFromRows(machine, options, { counts: counts!, timeline: timeline!, durations: durations! });
  }

  async close(): Promise<void> {
    // Its lockers' own sessions first (they leave the shared pool open).
    await Promise.all([...this.lockers].map((locker) => locker.close()));
    if (this.ownsPool) await this.pool.end();
  }

  private sql(machine: string): MachineSql {
    let sql = this.machines.get(machine);
    if (sql === undefined) {
      sql = new MachineSql(machine, this.schema);
      this.machines.set(machine, sql);
    }
    return sql;
  }

  /**
   * The UPDATE of a commit, in one round trip in the usual case: it assumes the stored pause
   * flag is clear (or is being cleared), so it knows the flag after the UPDATE without reading
   * it. When the UPDATE matches no row, the row is read under lock to tell a missing row, a
   * stale version and a pending pause request apart.
   */
  private async update(conn: PoolConnection, sql: MachineSql, c: Commit, instance: EncodedInstance): Promise<CommitResult> {
    const r = c.record;
    const values = updateValues(instance);
    const update = fastUpdate(sql, c, values, ALL_UPDATE_COLUMNS);
    const fast = () => this.run(conn, update.text, update.values);
    const asWritten = update.asWritten;
    if ((await fast()).affectedRows === 1) return asWritten;

    const [rows] = await conn.execute<Rows>(sql.lockRow, [r.id]);
    const row = rows[0];
    const context = { machine: r.machine, id: r.id, expected: c.expectedVersion };
    if (row === undefined) {
      throw new FsmError('FSM_NOT_FOUND', `no ${r.machine} instance ${r.id} to commit; it was deleted or never inserted`, { context });
    }
    const stored = row['version'] as number;
    if (stored !== c.expectedVersion) {
      throw new FsmError(
        'FSM_STALE_VERSION',
        `${r.machine} instance ${r.id} changed since it was read (expected version ${c.expectedVersion}, stored ${stored}); reload it and try again`,
        { context: { ...context, actual: stored } },
      );
    }
    if (!c.clearPauseRequest && row['pause_requested'] === 1) {
      // Someone asked for a pause: keep their flag and reason, and tell the caller.
      await this.run(conn, sql.updateKeeping, [...values, r.id, c.expectedVersion]);
      return { pauseRequested: true, pauseReason: row['pause_reason'] as string | null };
    }
    // The row is locked and current now, so the same UPDATE matches.
    await fast();
    return asWritten;
  }

  /**
   * A write under a lock is accepted only while the writer's lease is live: same token, not
   * expired by the database clock. An expired lease is refused even when nobody took the lock
   * since, so a holder that stalled past its lease never writes after the fact.
   */
  /** Wakes this store's lockers' waiters on keys a commit released, and says it released them. */
  private afterRelease(c: Commit, result: CommitResult): CommitResult {
    if (c.events.length > 0 || c.spawn?.some((child) => child.events.length > 0)) outboxCommitted(this.shared.tables.outbox);
    if (!c.releaseLocks || c.fence === undefined || c.fence.length === 0) return result;
    for (const { key, token } of c.fence) for (const locker of this.lockers) locker.released(key, token);
    return { ...result, locksReleased: true };
  }

  /**
   * The fence check of a drive's last commit, ending the leases at the same time: a row is
   * updated only while the writer's lease is live, and stays locked until this commit ends, so
   * the lock is free exactly when the instance's last state is written. Saves a round trip and
   * a log flush per drive over a separate release.
   */
  private async releaseFence(conn: PoolConnection, scope: ErrorScope, fence: NonNullable<Commit['fence']>): Promise<void> {
    for (const { key, token } of fence) {
      const ended = await this.run(conn, this.shared.fenceUpdate(key === GLOBAL_KEY, true), [storedLockKey(key), token]);
      // Not live any more: the check tells why.
      if (ended.affectedRows !== 1) await this.checkFence(conn, scope, [{ key, token }]);
    }
  }

  /**
   * A commit in as few round trips as the pool allows, for the usual case where the fast UPDATE
   * matches: an unfenced instance-only commit is one autocommit UPDATE; otherwise, on a pool of
   * ours (multi-statement), the group committer sends `START TRANSACTION`, the fence UPDATEs and
   * the instance UPDATE, the INSERTs and COMMIT in one round trip when the commit goes alone
   * (checked so that nothing is written unless every UPDATE matched), in two when it shares a
   * transaction, where statement by statement takes four or more. On our pools the instance UPDATE
   * writes only the columns that changed since `previous`. Null when an UPDATE matched no row,
   * or the commit is too large to send at once: nothing was written, and the full path tells a
   * lost lock, a stale version, a pending pause and a missing row apart.
   */
  private async quickCommit(
    scope: ErrorScope,
    sql: MachineSql,
    c: Commit,
    instance: EncodedInstance,
    history: EncodedHistory[],
    events: EncodedEvent[],
  ): Promise<CommitResult | null> {
    // Children to store and a join to check take the full path; a child's end rides along below.
    if ((c.spawn !== undefined && c.spawn.length > 0) || c.joinCheck !== undefined) return null;
    const ended = this.childEnded(c);
    if (ended.length > 0 && !this.ownsPool) return null;
    const fence = c.fence ?? [];
    const alone = fence.length === 0 && history.length === 0 && events.length === 0 && ended.length === 0;
    if (alone && (!this.ownsPool || c.record.serializedState.length > BATCH_CHARS)) {
      // One prepared UPDATE of every column: on a caller's pool, or with data too large to inline.
      const update = fastUpdate(sql, c, updateValues(instance), ALL_UPDATE_COLUMNS);
      return (await this.write(scope, update.text, update.values)).affectedRows === 1 ? update.asWritten : null;
    }
    // The fence UPDATEs count a row whose values stay as they were: that needs the FOUND_ROWS flag of our pools.
    if (!this.ownsPool) return null;
    // Only the columns that changed: a narrower UPDATE costs the server less. Its text varies
    // with the columns, so it goes as text with its values inlined, never as a prepared statement.
    const columns = changedColumns(c.record, c.previous);
    const update = fastUpdate(sql, c, pickColumns(updateValues(instance), columns), columns);
    if (alone) {
      const text = inlineValues(update.text, update.values);
      return (await this.writeText(scope, text)).affectedRows === 1 ? update.asWritten : null;
    }
    const rowValues = [history.map(historyValues), events.map((e) => outboxValues(e, c.record.updatedAt))];
    let chars = 0;
    for (const v of [...update.values, ...rowValues.flat(2)]) if (typeof v === 'string') chars += v.length;
    if (chars > BATCH_CHARS) return null;
    // Each lease it ends goes, in the same UPDATE, to a waiter of this process when there is one.
    const release = c.releaseLocks === true;
    const handovers = release ? fence.map((f) => this.handoverOf(f.key, f.token)) : [];
    const ends = fence.map((_, i) => handovers[i]?.next ?? release);
    let outcome: boolean | 'unknown' = false;
    try {
      const updates = [
        ...fence.map((f, i) => inlineValues(this.shared.fenceUpdate(f.key === GLOBAL_KEY, ends[i]!), [storedLockKey(f.key), f.token])),
        inlineValues(update.text, update.values),
      ];
      const headText = updates.join(';\n');
      // Rows inlined one by one, so that a group can put them in its own multi-row INSERTs.
      const rows = [sql.historyRows, this.shared.outboxRows].map((insert, i) => ({ into: insert.into, tuples: rowValues[i]!.map((v) => inlineValues(insert.row, v)) }));
      const tailStatements = groupTail([{ rows, after: ended }]).statements;
      const tailText = tailStatements.join(';\n');
      // A UTF-16 unit is at most 3 bytes of UTF-8: measure the texts only when that bound does not
      // fit the packet limit. Too large: the full path, whose INSERTs are split to fit.
      const limit = (await this.maxPacket(scope)) - PACKET_MARGIN;
      let bytes = 3 * Math.max(headText.length, tailText.length) + COMMIT_OVERHEAD;
      if (bytes > limit) {
        bytes = Math.max(Buffer.byteLength(headText), Buffer.byteLength(tailText)) + COMMIT_OVERHEAD;
        if (bytes > limit) return null;
      }
      // Its fence and instance UPDATEs in parts: a group merges them with those of others.
      const row = sql.updateRow(c.clearPauseRequest ? 'clearing' : 'unpaused', columns, update.values);
      const fences = fence.map((f, i) => this.shared.fenceParts(f.key === GLOBAL_KEY, ends[i]!, storedLockKey(f.key), f.token));
      bytes += mergeOverhead(row, fences);
      const start = this.siblingStart(c);
      const written = await this.grouper
        .submit({
          head: headText,
          statements: updates.length,
          updates,
          tail: tailText,
          tailStatements: tailStatements.length,
          rows,
          after: ended,
          row,
          ...(fences.length > 0 ? { fences } : {}),
          ...(start !== undefined ? { start } : {}),
          bytes,
          asWritten: update.asWritten,
          // A child's end that started its sibling leased to the writer reads it back last (see `withStarted`).
          ...(c.childEnded?.lease ? { finish: (results: unknown[]) => withStarted(update.asWritten, results) } : {}),
        })
        .catch((error: unknown) => {
          // A connection lost under COMMIT leaves open whether it was written: the waiters read the row.
          outcome = 'unknown';
          throw storeError(scope, error);
        });
      outcome = written !== null;
      return written;
    } finally {
      // Not written (the full path then ends the leases as a release does): each waiter tries again itself.
      for (const h of handovers) h?.settle(outcome);
    }
  }

  /** A waiter on `key` in one of this store's lockers, to hand the lease to (see `MysqlLocker.handover`). */
  private handoverOf(key: string, token: number): ReturnType<MysqlLocker['handover']> {
    for (const locker of this.lockers) {
      const handover = locker.handover(key, token);
      if (handover !== null) return handover;
    }
    return null;
  }

  private async checkFence(conn: PoolConnection, scope: ErrorScope, fence: NonNullable<Commit['fence']>): Promise<void> {
    const keys = fence.map((f) => storedLockKey(f.key));
    const [rows] = await conn.execute<Rows>(this.shared.fenceTokens(keys.length), [...keys, ...keys]);
    const held = new Map(rows.map((row) => [row['lock_key'] as string, { token: Number(row['token']), live: Number(row['live']) === 1 }]));
    for (const { key, token } of fence) {
      const current = held.get(storedLockKey(key));
      if (current?.token === token && current.live) continue;
      const why =
        current === undefined
          ? "this store's tables hold no such lock: it was taken with another locker (a runner on this store uses store.locker() unless given one), or swept since"
          : current.token === token
            ? 'its lease expired'
            : `another holder took it (token ${current.token})`;
      throw new FsmError(
        'FSM_LOCK_LOST',
        `lock ${key} of ${scope.machine} instance ${scope.id} was lost (token ${token}): ${why}, so nothing was written; the instance continues from its last committed step`,
        { context: { ...scope, key, token, stored: current?.token ?? null } },
      );
    }
  }

  private async insertOutbox(conn: PoolConnection, scope: ErrorScope, events: EncodedEvent[], fallbackTime: Date): Promise<void> {
    await this.insertRows(conn, scope, (n) => this.shared.insertOutbox(n), events.map((e) => outboxValues(e, fallbackTime)));
  }

  /** Rows as few multi-row INSERTs as the server's max_allowed_packet lets through. */
  private async insertRows(conn: PoolConnection, scope: ErrorScope, text: (rows: number) => string, rows: SqlValue[][]): Promise<void> {
    const budget = (await this.maxPacket(scope, conn)) - PACKET_MARGIN;
    for (const chunk of splitRows(rows, budget)) await this.run(conn, text(chunk.length), chunk.flat());
  }

  /**
   * The server's max_allowed_packet, read once per store (a connection's value is fixed when it
   * opens); within a transaction, on its connection: another from the pool could wait for it.
   */
  private maxPacket(scope: ErrorScope, conn?: PoolConnection): Promise<number> {
    const text = 'SELECT @@max_allowed_packet AS `limit`';
    this.packetLimit ??= (conn === undefined ? this.read(scope, text, [], false) : conn.query<Rows>(text).then(([rows]) => rows)).then(
      (rows) => Number(rows[0]?.['limit']) || DEFAULT_MAX_PACKET,
      (error: unknown) => {
        this.packetLimit = undefined;
        throw error;
      },
    );
    return this.packetLimit;
  }

  // Statements use mysql2's plain (sql, values) form: its options-object form, which per-statement
  // timeouts need, costs more client CPU than the rest of a commit's JavaScript together. The
  // deadline is one timer per call instead.

  private async run(conn: PoolConnection, sql: string, values: SqlValue[]): Promise<ResultSetHeader> {
    const [result] = await conn.execute<ResultSetHeader>(sql, values);
    return result;
  }

  /** One statement outside a transaction (autocommit). */
  private async write(scope: ErrorScope, sql: string, values: SqlValue[], retry = false): Promise<ResultSetHeader> {
    try {
      return await this.once((conn) => conn.execute<ResultSetHeader>(sql, values), retry);
    } catch (cause) {
      throw storeError(scope, cause);
    }
  }

  /** One statement, values inlined, outside a transaction (autocommit); not retried. */
  private async writeText(scope: ErrorScope, text: string): Promise<ResultSetHeader> {
    try {
      return await this.once((conn) => conn.query<ResultSetHeader>(text), false);
    } catch (cause) {
      throw storeError(scope, cause);
    }
  }

  /** A read: prepared, or as text with its values inlined (for texts whose shape varies). */
  private async read(scope: ErrorScope, sql: string, values: SqlValue[], prepared: boolean): Promise<Rows> {
    try {
      return await this.once((conn) => (prepared ? conn.execute<Rows>(sql, values) : conn.query<Rows>(inlineValues(sql, values))), true);
    } catch (cause) {
      throw storeError(scope, cause);
    }
  }

  /**
   * Runs a statement within the deadline, once more on a fresh connection when the pooled one
   * turns out to be dead (killed, server restarted). Only for statements that may run twice.
   */
  private async once<T>(statement: (conn: PoolConnection) => Promise<[T, unknown]>, retry: boolean): Promise<T> {
    try {
      return await pooledStatement(this.pool, this.timeout, statement);
    } catch (error) {
      if (!retry || !isLostConnection(error)) throw error;
      return await pooledStatement(this.pool, this.timeout, statement);
    }
  }

  private deadline<T>(work: Promise<T>, onExpire?: () => void): Promise<T> {
    return withDeadline(work, this.timeout, onExpire);
  }

  /**
   * BEGIN ... COMMIT on one pooled connection, within one deadline. Any failure rolls back; a
   * connection that failed or ran out of time is destroyed rather than returned, and the server
   * rolls its transaction back.
   */
  private async transaction<T>(scope: ErrorScope, work: (conn: PoolConnection) => Promise<T>): Promise<T> {
    let conn: PoolConnection | undefined;
    let expired = false;
    const attempt = async (): Promise<T> => {
      const acquired = await this.begin(true);
      if (expired) {
        // The caller has been told it failed: this connection must not write anything.
        acquired.destroy();
        throw new QueryTimeoutError(this.timeout);
      }
      conn = acquired;
      const result = await work(acquired);
      await acquired.query('COMMIT');
      return result;
    };
    try {
      const result = await this.deadline(attempt(), () => (expired = true));
      conn!.release();
      return result;
    } catch (error) {
      if (conn !== undefined) await this.abandon(conn, error);
      throw storeError(scope, error);
    }
  }

  /** A connection with an open transaction; nothing has been written yet, so a dead one is replaced once. */
  private async begin(retry: boolean): Promise<PoolConnection> {
    const conn = await this.pool.getConnection();
    try {
      if (!this.ownsPool) {
        // A caller's pool keeps its own session settings: set the level for this transaction only.
        await conn.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
      }
      await conn.query('START TRANSACTION');
      return conn;
    } catch (error) {
      await this.abandon(conn, error);
      if (retry && isLostConnection(error)) return this.begin(false);
      throw error;
    }
  }

  private async abandon(conn: PoolConnection, error: unknown): Promise<void> {
    if (isConnectionError(error)) {
      conn.destroy();
      return;
    }
    try {
      await this.deadline(conn.query('ROLLBACK'));
      conn.release();
    } catch {
      conn.destroy();
    }
  }
}

/**
 * The UPDATE of a commit that assumes the stored pause flag is clear (or is being cleared),
 * with the flag and reason the row holds once it matches.
 */
function fastUpdate(
  sql: MachineSql,
  c: Commit,
  values: SqlValue[],
  columns: number,
): { text: string; values: SqlValue[]; asWritten: CommitResult } {
  const r = c.record;
  return c.clearPauseRequest
    ? {
        text: sql.update('clearing', columns),
        values: [...values, r.pauseReason, r.id, c.expectedVersion],
        asWritten: { pauseRequested: false, pauseReason: r.pauseReason },
      }
    : {
        text: sql.update('unpaused', columns),
        values: [...values, r.pauseRequested ? 1 : 0, r.pauseReason, r.id, c.expectedVersion],
        asWritten: { pauseRequested: r.pauseRequested, pauseReason: r.pauseReason },
      };
}

/**
 * The commit's result, with the sibling a child's end started leased to the writer when the
 * last statement read it back (`childEnded` with a lease), so that its new owner need not.
 */
function withStarted(result: CommitResult, results: unknown): CommitResult {
  // The only result set among the statements' results (the others are OK packets).
  const rows = Array.isArray(results) ? (results as unknown[]).findLast((r) => Array.isArray(r)) : undefined;
  const row = Array.isArray(rows) ? (rows[0] as InstanceRow | undefined) : undefined;
  return row === undefined || row.id === undefined ? result : { ...result, started: instanceFromRow(row) };
}

/** A dead connection, as opposed to a slow one: a timed-out statement may have run. */
function isLostConnection(error: unknown): boolean {
  return isConnectionError(error) && !(error instanceof QueryTimeoutError);
}

function hasErrno(error: unknown, errno: number): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) if ((e as { errno?: number }).errno === errno) return true;
  return false;
}

const running = (r: RowDataPacket) => (r['status'] === 'running' ? 0 : 1);
const underWay = (r: RowDataPacket) => (r['status'] === 'ready' ? 1 : 0);
const due = (r: RowDataPacket) => (r['next_run_at'] instanceof Date ? r['next_run_at'].getTime() : Number.NEGATIVE_INFINITY);
const byId = (a: RowDataPacket, b: RowDataPacket) => (String(a['id']) < String(b['id']) ? -1 : String(a['id']) > String(b['id']) ? 1 : 0);

/**
 * The priority lane's order, as the memory store's `claimOrder`: takeovers (running, lease run
 * out) first, then the highest priority, instances under way before new ones, the earliest due
 * (none first), the id.
 */
function claimOrder(a: RowDataPacket, b: RowDataPacket): number {
  return running(a) - running(b) || Number(b['priority']) - Number(a['priority']) || underWay(a) - underWay(b) || due(a) - due(b) || byId(a, b);
}

/** Due since: the due time, or for an instance to run at once, its creation. */
const dueSince = (r: RowDataPacket) => (r['next_run_at'] instanceof Date ? r['next_run_at'] : (r['created_at'] as Date)).getTime();

/** The aging lane's order, as the memory store's: takeovers first, then due the longest. */
function agingOrder(a: RowDataPacket, b: RowDataPacket): number {
  return running(a) - running(b) || dueSince(a) - dueSince(b) || byId(a, b);
}
