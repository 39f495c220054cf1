/**
 * The MySQL schema of fsmkit, as SQL text. Driver-free on purpose: the generator writes it to
 * `.sql` files and the store runs the same text in `ensureSchema`, so the two never drift.
 * Valid on MySQL 8 and MariaDB 10.11.
 */
import { NAME_PATTERN, type MachineModel } from '@fsmkit/decorators';

export interface SchemaOptions {
  /** Prefix of every table name. Default `fsm_`. Tests use a unique one each. */
  tablePrefix?: string;
}

export const DEFAULT_TABLE_PREFIX = 'fsm_';
const PREFIX_PATTERN = /^[a-z][a-z0-9_]{0,15}$/;
/** MySQL and MariaDB refuse longer table names. */
const MAX_IDENTIFIER = 64;

/** Table names, derived from validated parts only; nothing user-written is spliced unchecked. */
export interface TableNames {
  instances: string;
  history: string;
}

export interface SharedTableNames {
  globalLock: string;
  localLock: string;
  outbox: string;
  migrations: string;
}

export function tablePrefix(options: SchemaOptions = {}): string {
  const prefix = options.tablePrefix ?? DEFAULT_TABLE_PREFIX;
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new TypeError(`table prefix "${prefix}" must match ${PREFIX_PATTERN}`);
  }
  return prefix;
}

export function machineTables(machine: string, options: SchemaOptions = {}): TableNames {
  if (!NAME_PATTERN.test(machine)) {
    throw new TypeError(`machine name "${machine}" must match ${NAME_PATTERN} before it reaches SQL`);
  }
  const base = tablePrefix(options) + machine;
  const history = `${base}_history`;
  if (history.length > MAX_IDENTIFIER) {
    throw new TypeError(`table name "${history}" is longer than MySQL's ${MAX_IDENTIFIER} characters: shorten the machine name or the table prefix`);
  }
  return { instances: base, history };
}

export function sharedTables(options: SchemaOptions = {}): SharedTableNames {
  const prefix = tablePrefix(options);
  return {
    globalLock: `${prefix}global_lock`,
    localLock: `${prefix}local_lock`,
    outbox: `${prefix}outbox`,
    migrations: `${prefix}migrations`,
  };
}

/** Backtick-quotes an identifier that has already been validated. */
export function quoteId(name: string): string {
  return '`' + name.replace(/`/g, '``') + '`';
}

const TABLE_OPTIONS = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin';

/** The instance table (the requirement's columns first, then the runtime's) and the history table. */
export function machineDdl(model: Pick<MachineModel, 'name'>, options: SchemaOptions = {}): string[] {
  const t = machineTables(model.name, options);
  return [
    `CREATE TABLE IF NOT EXISTS ${quoteId(t.instances)} (
  \`id\` CHAR(36) CHARACTER SET ascii NOT NULL,
  \`name\` VARCHAR(48) NOT NULL,
  \`user_id\` VARCHAR(191) NULL,
  \`current_state\` VARCHAR(64) NOT NULL,
  \`direction\` ENUM('forward','backward') NOT NULL DEFAULT 'forward',
  \`resume_from_step\` INT NULL,
  \`save_after_step\` TINYINT(1) NOT NULL DEFAULT 1,
  \`kafka_event_topic\` VARCHAR(249) NULL,
  \`serialized_state\` MEDIUMTEXT NOT NULL,
  \`created_at\` DATETIME(3) NOT NULL,
  \`updated_at\` DATETIME(3) NOT NULL,
  \`is_global_lock\` TINYINT(1) NOT NULL DEFAULT 0,
  \`is_local_lock\` TINYINT(1) NOT NULL DEFAULT 0,
  \`status\` VARCHAR(16) NOT NULL,
  \`version\` INT UNSIGNED NOT NULL,
  \`definition_hash\` CHAR(16) CHARACTER SET ascii NOT NULL,
  \`definition_version\` INT NOT NULL DEFAULT 1,
  \`pause_requested\` TINYINT(1) NOT NULL DEFAULT 0,
  \`pause_reason\` VARCHAR(1024) NULL,
  \`last_error\` TEXT NULL,
  \`attempts\` INT NOT NULL DEFAULT 0,
  \`next_run_at\` DATETIME(3) NULL,
  \`lease_owner\` VARCHAR(128) NULL,
  \`lease_expires_at\` DATETIME(3) NULL,
  \`history_seq\` INT NOT NULL DEFAULT 0,
  \`event_seq\` INT NOT NULL DEFAULT 0,
  \`takeovers\` INT NOT NULL DEFAULT 0,
  \`priority\` INT NOT NULL DEFAULT 0,
  \`wait_message\` VARCHAR(64) NULL,
  \`wait_key\` VARCHAR(191) NULL,
  \`waiting_for\` TEXT NULL,
  \`parent_machine\` VARCHAR(48) NULL,
  \`parent_id\` CHAR(36) CHARACTER SET ascii NULL,
  \`chained_from\` VARCHAR(1024) NULL,
  PRIMARY KEY (\`id\`),
  KEY \`ix_user\` (\`user_id\`, \`id\`),
  KEY \`ix_state\` (\`current_state\`, \`id\`),
  KEY \`ix_status_next\` (\`status\`, \`next_run_at\`),
  KEY \`ix_updated\` (\`updated_at\`),
  KEY \`ix_wait\` (\`wait_message\`, \`wait_key\`),
  KEY \`ix_parent\` (\`parent_id\`, \`id\`),
  KEY \`ix_claim\` (\`status\`, \`priority\` DESC, \`next_run_at\`)
) ${TABLE_OPTIONS}`,
    `CREATE TABLE IF NOT EXISTS ${quoteId(t.history)} (
  \`id\` CHAR(36) CHARACTER SET ascii NOT NULL,
  \`instance_id\` CHAR(36) CHARACTER SET ascii NOT NULL,
  \`seq\` INT NOT NULL,
  \`handler\` VARCHAR(64) NOT NULL,
  \`step\` VARCHAR(64) NOT NULL,
  \`direction\` ENUM('forward','backward') NOT NULL,
  \`state_before\` VARCHAR(64) NOT NULL,
  \`state_after\` VARCHAR(64) NOT NULL,
  \`data_before\` MEDIUMTEXT NOT NULL,
  \`data_after\` MEDIUMTEXT NOT NULL,
  \`metadata\` TEXT NULL,
  \`error\` TEXT NULL,
  \`attempt\` INT NOT NULL DEFAULT 1,
  \`started_at\` DATETIME(3) NOT NULL,
  \`finished_at\` DATETIME(3) NOT NULL,
  \`transition\` VARCHAR(64) NULL,
  \`actor\` VARCHAR(191) NULL,
  \`result\` TEXT NULL,
  PRIMARY KEY (\`id\`),
  UNIQUE KEY \`uq_instance_seq\` (\`instance_id\`, \`seq\`)
) ${TABLE_OPTIONS}`,
  ];
}

/**
 * Tables every machine shares: the requirement's global lock table (ID, StateMachineID,
 * LockTimestamp) plus lease columns, the local lock table, the event outbox and the
 * migration journal. StateMachineID cannot be a declared foreign key: instances live in one
 * table per machine type.
 */
export function sharedDdl(options: SchemaOptions = {}): string[] {
  const t = sharedTables(options);
  const lockTable = (name: string) => `CREATE TABLE IF NOT EXISTS ${quoteId(name)} (
  \`id\` CHAR(36) CHARACTER SET ascii NOT NULL,
  \`lock_key\` VARCHAR(191) NOT NULL,
  \`state_machine_id\` CHAR(36) CHARACTER SET ascii NULL,
  \`machine\` VARCHAR(48) NULL,
  \`owner\` VARCHAR(128) NULL,
  \`token\` BIGINT UNSIGNED NOT NULL DEFAULT 0,
  \`lock_timestamp\` DATETIME(3) NOT NULL,
  \`expires_at\` DATETIME(3) NOT NULL,
  PRIMARY KEY (\`id\`),
  UNIQUE KEY \`uq_lock_key\` (\`lock_key\`)
) ${TABLE_OPTIONS}`;
  return [
    lockTable(t.globalLock),
    lockTable(t.localLock),
    `CREATE TABLE IF NOT EXISTS ${quoteId(t.outbox)} (
  \`id\` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  \`event_id\` CHAR(36) CHARACTER SET ascii NOT NULL,
  \`topic\` VARCHAR(249) NOT NULL,
  \`message_key\` VARCHAR(191) NOT NULL,
  \`machine\` VARCHAR(48) NOT NULL,
  \`instance_id\` CHAR(36) CHARACTER SET ascii NOT NULL,
  \`sequence\` INT NOT NULL,
  \`event_type\` VARCHAR(32) NOT NULL,
  \`payload\` MEDIUMTEXT NOT NULL,
  \`headers\` TEXT NULL,
  \`created_at\` DATETIME(3) NOT NULL,
  \`claimed_by\` VARCHAR(128) NULL,
  \`claimed_until\` DATETIME(3) NULL,
  \`sent_at\` DATETIME(3) NULL,
  \`attempts\` INT NOT NULL DEFAULT 0,
  \`last_error\` TEXT NULL,
  PRIMARY KEY (\`id\`),
  UNIQUE KEY \`uq_event\` (\`event_id\`),
  KEY \`ix_pending\` (\`sent_at\`, \`id\`),
  KEY \`ix_instance\` (\`instance_id\`, \`sequence\`)
) ${TABLE_OPTIONS}`,
    `CREATE TABLE IF NOT EXISTS ${quoteId(t.migrations)} (
  \`name\` VARCHAR(191) NOT NULL,
  \`checksum\` CHAR(64) CHARACTER SET ascii NOT NULL,
  \`applied_at\` DATETIME(3) NOT NULL,
  PRIMARY KEY (\`name\`)
) ${TABLE_OPTIONS}`,
  ];
}

export { addColumnSql, addIndexSql, columnsAddedSince, indexesAddedSince, LAYOUT_COLUMNS, LAYOUT_INDEXES, layoutUpgradeSql, TABLE_LAYOUT, type AddedColumn, type AddedIndex } from './layout.js';

/** `<prefix>outbox_failed`: kept out of `sharedTables`, whose list a database made by an earlier release matches. */
export function outboxFailedTable(options: SchemaOptions = {}): string {
  return `${tablePrefix(options)}outbox_failed`;
}

/**
 * The table of refused outbox events: one row per instance whose earliest unsent event the
 * broker refused, with the count of refusals, the last error, when it may be tried again and,
 * once it is a dead letter, when it was set aside. Not part of `sharedDdl`, whose text a
 * database's migration journal already holds: the outbox creates it when missing (an added
 * table, so a database made by an earlier release keeps working without an ALTER).
 */
export function outboxFailedDdl(options: SchemaOptions = {}): string {
  return `CREATE TABLE IF NOT EXISTS ${quoteId(outboxFailedTable(options))} (
  \`instance_id\` CHAR(36) CHARACTER SET ascii NOT NULL,
  \`outbox_id\` BIGINT UNSIGNED NOT NULL,
  \`event_id\` CHAR(36) CHARACTER SET ascii NOT NULL,
  \`topic\` VARCHAR(249) NOT NULL,
  \`failures\` INT NOT NULL,
  \`error\` TEXT NOT NULL,
  \`failed_at\` DATETIME(3) NOT NULL,
  \`retry_at\` DATETIME(3) NOT NULL,
  \`dead_at\` DATETIME(3) NULL,
  PRIMARY KEY (\`instance_id\`),
  KEY \`ix_dead\` (\`dead_at\`, \`outbox_id\`)
) ${TABLE_OPTIONS}`;
}

/** `<prefix>inbox` and `<prefix>inbox_lock`: kept out of `sharedTables` for the same reason as `outboxFailedTable`. */
export function inboxTables(options: SchemaOptions = {}): { inbox: string; lock: string } {
  const prefix = tablePrefix(options);
  return { inbox: `${prefix}inbox`, lock: `${prefix}inbox_lock` };
}

/**
 * The message inbox: messages delivered while no instance waited for them (taken by a wait that
 * begins before `expires_at`), and messages delivered with an id (`message_id`, unique: the same
 * id twice has one effect). The lock table holds one row per machine, message and key, locked by
 * `deliver` and by a commit that begins a wait on them, so the two never miss each other. Added
 * tables (created when missing), as `outboxFailedDdl`.
 */
export function inboxDdl(options: SchemaOptions = {}): string[] {
  const t = inboxTables(options);
  return [
    `CREATE TABLE IF NOT EXISTS ${quoteId(t.inbox)} (
  \`id\` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  \`machine\` VARCHAR(48) NOT NULL,
  \`message\` VARCHAR(64) NOT NULL,
  \`wait_key\` VARCHAR(191) NOT NULL,
  \`message_id\` VARCHAR(191) NULL,
  \`payload\` MEDIUMTEXT NOT NULL,
  \`created_at\` DATETIME(3) NOT NULL,
  \`expires_at\` DATETIME(3) NOT NULL,
  \`taken_by\` CHAR(36) CHARACTER SET ascii NULL,
  \`taken_at\` DATETIME(3) NULL,
  PRIMARY KEY (\`id\`),
  UNIQUE KEY \`uq_message_id\` (\`message_id\`),
  KEY \`ix_pending\` (\`machine\`, \`message\`, \`wait_key\`, \`taken_at\`, \`id\`),
  KEY \`ix_expires\` (\`expires_at\`)
) ${TABLE_OPTIONS}`,
    `CREATE TABLE IF NOT EXISTS ${quoteId(t.lock)} (
  \`machine\` VARCHAR(48) NOT NULL,
  \`message\` VARCHAR(64) NOT NULL,
  \`wait_key\` VARCHAR(191) NOT NULL,
  PRIMARY KEY (\`machine\`, \`message\`, \`wait_key\`)
) ${TABLE_OPTIONS}`,
  ];
}
