/**
 * The UPDATEs a group of commits sends first. A commit's instance UPDATE costs the server a
 * statement each (parse, open, plan, lock): the UPDATEs of a group's commits on one table go
 * as one, each column a `CASE` on the id, which costs the server about a third less per row.
 */

/** A commit's instance UPDATE in parts, values inlined: one row by id, at an expected version. */
export interface RowUpdate {
  /** The table, quoted. */
  table: string;
  /** The id, as a literal. */
  id: string;
  /** The version it must hold, as a literal. */
  version: string;
  /** Quoted column and the expression written to it; `version` is always incremented and is not among them. */
  set: ReadonlyArray<readonly [string, string]>;
  /** Matches only while the stored pause flag is clear. */
  unpaused: boolean;
}

/** What a commit starts with: its UPDATEs as text, and the same instance UPDATE in parts when it may be merged. */
export interface CommitHead {
  /** `;`-separated UPDATEs, each of which must match one row. */
  head: string;
  /** How many statements `head` holds. */
  statements: number;
  /** Its instance UPDATE alone (`head` holds nothing else), for merging; absent: never merged. */
  row?: RowUpdate;
}

/** Statements to send, and the commits each stands for. */
export interface HeadStatements {
  /** One commit's `head` (every statement must match one row), or a merged UPDATE (it must match one row per commit). */
  text: string;
  statements: number;
  commits: number[];
}

/**
 * The group's UPDATEs: the heads of commits that are not merged, in commit order, then one
 * UPDATE per table for the commits with a `row` on it (when `merge` and two or more, with
 * distinct ids). Such an UPDATE matching fewer rows than commits does not tell which one was
 * refused: the caller sends the group again unmerged.
 */
export function groupHead(commits: readonly CommitHead[], merge: boolean): HeadStatements[] {
  const byTable = new Map<string, number[]>();
  if (merge) {
    commits.forEach((c, i) => {
      if (c.row === undefined) return;
      const list = byTable.get(c.row.table);
      if (list === undefined) byTable.set(c.row.table, [i]);
      else list.push(i);
    });
    for (const [table, list] of byTable) {
      if (list.length < 2 || new Set(list.map((i) => commits[i]!.row!.id)).size < list.length) byTable.delete(table);
    }
  }
  const merged = new Set([...byTable.values()].flat());
  const out: HeadStatements[] = [];
  commits.forEach((c, i) => {
    if (!merged.has(i)) out.push({ text: c.head, statements: c.statements, commits: [i] });
  });
  for (const list of byTable.values()) out.push({ text: mergedUpdate(list.map((i) => commits[i]!.row!)), statements: 1, commits: list });
  return out;
}

/** One UPDATE of several rows of one table, each row written as its own UPDATE would write it. */
export function mergedUpdate(rows: readonly RowUpdate[]): string {
  const columns = new Map<string, string[]>();
  for (const r of rows) {
    for (const [column, value] of r.set) {
      const whens = columns.get(column);
      const when = `WHEN ${r.id} THEN ${value}`;
      if (whens === undefined) columns.set(column, [when]);
      else whens.push(when);
    }
  }
  const set = [...columns].map(([column, whens]) => `${column} = CASE \`id\` ${whens.join(' ')} ELSE ${column} END`);
  const matches = rows.map((r) => `WHEN ${r.id} THEN \`version\` = ${r.version}${r.unpaused ? ' AND `pause_requested` = 0' : ''}`);
  return (
    `UPDATE ${rows[0]!.table} SET ${set.join(', ')}, \`version\` = \`version\` + 1 ` +
    `WHERE \`id\` IN (${rows.map((r) => r.id).join(', ')}) AND CASE \`id\` ${matches.join(' ')} ELSE 0 END`
  );
}

/**
 * Bytes a row may add to a merged UPDATE beyond its own UPDATE's text: per column its id
 * literal and `WHEN … THEN`, and its match condition. An upper bound, for the grouper's packet limit.
 */
export function mergeOverhead(row: RowUpdate): number {
  return 64 * (row.set.length + 2) + 2 * row.id.length;
}
