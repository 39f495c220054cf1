import { inboxDdl, inboxTables, quoteId, type SchemaOptions } from './schema.js';

/** Statements on the inbox and its lock table, built once from validated names. */
export class InboxSql {
  readonly ddl: string[];
  /** Locks the (machine, message, key) row, creating it when missing; held until the transaction ends. */
  readonly lockPair: string;
  readonly byMessageId: string;
  /** The oldest unexpired message nobody took for a machine, message and key, row-locked. */
  readonly pending: string;
  readonly take: string;
  /** A message row: taken already (`taken_by` given) or waiting for a wait, until `expires_at`. */
  readonly insert: string;
  /** A batch of a machine's expired messages and those taken before a time (values: machine, time, limit). */
  readonly prune: string;

  constructor(options: SchemaOptions) {
    const t = inboxTables(options);
    const inbox = quoteId(t.inbox);
    this.ddl = inboxDdl(options);
    this.lockPair = `INSERT INTO ${quoteId(t.lock)} (\`machine\`, \`message\`, \`wait_key\`) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE \`machine\` = \`machine\``;
    this.byMessageId = `SELECT \`taken_by\` FROM ${inbox} WHERE \`message_id\` = ?`;
    this.pending =
      `SELECT \`id\`, \`payload\`, \`message_id\` FROM ${inbox} WHERE \`machine\` = ? AND \`message\` = ? AND \`wait_key\` = ? ` +
      'AND `taken_at` IS NULL AND `expires_at` > UTC_TIMESTAMP(3) ORDER BY `id` LIMIT 1 FOR UPDATE';
    this.take = `UPDATE ${inbox} SET \`taken_by\` = ?, \`taken_at\` = UTC_TIMESTAMP(3) WHERE \`id\` = ?`;
    this.insert =
      `INSERT INTO ${inbox} (\`machine\`, \`message\`, \`wait_key\`, \`message_id\`, \`payload\`, \`created_at\`, \`expires_at\`, \`taken_by\`, \`taken_at\`) ` +
      'VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND, ?, IF(? IS NULL, NULL, UTC_TIMESTAMP(3)))';
    this.prune = `DELETE FROM ${inbox} WHERE \`machine\` = ? AND (\`expires_at\` <= UTC_TIMESTAMP(3) OR \`taken_at\` < ?) LIMIT ?`;
  }
}
