/**
 * The statements a group of commits sends after its UPDATEs. The server parses, opens and
 * locks per statement, so the rows of every commit that go to one table go as one multi-row
 * INSERT: a group of n steps sends one history INSERT, not n.
 */

/** Rows of one commit for one table, each row a tuple of literals (`(…, …)`). */
export interface InsertedRows {
  /** The INSERT's text up to and including `VALUES `: rows with the same `into` share one statement. */
  into: string;
  tuples: string[];
}

/** What a commit adds after its UPDATEs. */
export interface CommitTail {
  /** Its rows, by table. */
  rows: InsertedRows[];
  /** Its statements after its INSERTs (a child's end), in order; each commit's stay together. */
  after: string[];
  /** How many statements `after` holds, when an entry holds several; default one each. */
  afterStatements?: number;
}

export interface GroupTail {
  statements: string[];
  /** Where each commit's `after` statements' results start among the results of `statements`. */
  afterAt: number[];
}

/**
 * One INSERT per `into`, in the order the targets first appear, each with its rows in commit
 * order (so auto-increment ids, as the outbox's, follow the commits); then each commit's
 * `after` statements, in commit order. Their results are read back by commit with `afterAt`.
 */
export function groupTail(commits: readonly CommitTail[]): GroupTail {
  const byTarget = new Map<string, string[]>();
  for (const c of commits) {
    for (const r of c.rows) {
      if (r.tuples.length === 0) continue;
      const tuples = byTarget.get(r.into);
      if (tuples === undefined) byTarget.set(r.into, [...r.tuples]);
      else tuples.push(...r.tuples);
    }
  }
  const statements: string[] = [];
  for (const [into, tuples] of byTarget) statements.push(into + tuples.join(', '));
  const afterAt: number[] = [];
  let at = 0;
  for (const c of commits) {
    afterAt.push(statements.length + at);
    statements.push(...c.after);
    at += (c.afterStatements ?? c.after.length) - c.after.length;
  }
  return { statements, afterAt };
}
