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

/** A fence UPDATE in parts, literals inlined: the lease row of a key, at a token, still live. */
export interface FenceUpdate {
  /** The lock table, quoted. */
  table: string;
  /** What the UPDATE writes (ending the lease, or nothing). */
  set: string;
  key: string;
  token: string;
}

/** What a commit starts with: its UPDATEs as text, and the same UPDATEs in parts when it may be merged. */
export interface CommitHead {
  /** `;`-separated UPDATEs, each of which must match one row. */
  head: string;
  /** How many statements `head` holds. */
  statements: number;
  /** Its instance UPDATE (`head` holds nothing else but `fences`), for merging; absent: never merged. */
  row?: RowUpdate;
  /** Its fence UPDATEs, which `head` sends before `row`'s. */
  fences?: readonly FenceUpdate[];
}

/** Statements to send, and the commits each stands for. */
export interface HeadStatements {
  /** One commit's `head` (every statement must match one row), or a merged UPDATE. */
  text: string;
  statements: number;
  commits: number[];
  /** Rows each statement must match: one for a commit's own, one per row or fence for a merged one. */
  matches: number;
}

/**
 * The group's UPDATEs: the heads of commits that are not merged, in commit order, then for the
 * commits with a `row` on a table shared by two or more of them (when `merge`, with distinct
 * ids): their fence UPDATEs as one per lock table, then one UPDATE per instance table. A merged
 * UPDATE matching fewer rows than it should does not tell which commit was refused: the caller
 * sends the group again unmerged.
 */
export function groupHead(commits: readonly CommitHead[], merge: boolean): HeadStatements[] {
  const byTable = new Map<string, number[]>();
  if (merge) {
    // A key fenced by two commits (a stale token beside the live one) would match one row at
    // most in one merged UPDATE: the later commit keeps its own statements.
    const fenced = new Set<string>();
    commits.forEach((c, i) => {
      if (c.row === undefined) return;
      const keys = (c.fences ?? []).map((f) => `${f.table}.${f.key}`);
      if (keys.some((k) => fenced.has(k)) || new Set(keys).size < keys.length) return;
      for (const k of keys) fenced.add(k);
      const list = byTable.get(c.row.table);
      if (list === undefined) byTable.set(c.row.table, [i]);
      else list.push(i);
    });
    for (const [table, list] of byTable) {
      if (list.length < 2 || new Set(list.map((i) => commits[i]!.row!.id)).size < list.length) byTable.delete(table);
    }
  }
  const merged = [...byTable.values()].flat();
  const mergedSet = new Set(merged);
  const out: HeadStatements[] = [];
  commits.forEach((c, i) => {
    if (!mergedSet.has(i)) out.push({ text: c.head, statements: c.statements, commits: [i], matches: 1 });
  });
  // Fences first, as in a commit's own head: by lock table and what they write.
  const fences = new Map<string, { fences: FenceUpdate[]; commits: number[] }>();
  for (const i of merged) {
    for (const f of commits[i]!.fences ?? []) {
      const at = `${f.table} ${f.set}`;
      let entry = fences.get(at);
      if (entry === undefined) fences.set(at, (entry = { fences: [], commits: [] }));
      entry.fences.push(f);
      if (entry.commits[entry.commits.length - 1] !== i) entry.commits.push(i);
    }
  }
  for (const entry of fences.values()) out.push({ text: mergedFence(entry.fences), statements: 1, commits: entry.commits, matches: entry.fences.length });
  for (const list of byTable.values()) out.push({ text: mergedUpdate(list.map((i) => commits[i]!.row!)), statements: 1, commits: list, matches: list.length });
  return out;
}

/** One fence UPDATE of several keys of one lock table, each at its own token. */
export function mergedFence(fences: readonly FenceUpdate[]): string {
  const { table, set } = fences[0]!;
  const tokens = fences.map((f) => `WHEN ${f.key} THEN \`token\` = ${f.token}`).join(' ');
  return (
    `UPDATE ${table} SET ${set} WHERE \`lock_key\` IN (${fences.map((f) => f.key).join(', ')}) ` +
    `AND CASE \`lock_key\` ${tokens} ELSE 0 END AND \`expires_at\` > UTC_TIMESTAMP(3)`
  );
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
 * literal and `WHEN … THEN`, and its match condition; likewise its fences. An upper bound, for
 * the grouper's packet limit.
 */
export function mergeOverhead(row: RowUpdate, fences: readonly FenceUpdate[] = []): number {
  let bytes = 64 * (row.set.length + 2) + 2 * row.id.length;
  // A fence's key is written twice when merged; keys need not be ASCII.
  for (const f of fences) bytes += 48 + 3 * f.key.length;
  return bytes;
}
