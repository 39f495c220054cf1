import { describe, expect, it } from 'vitest';
import { groupHead, mergedFence, mergedUpdate, type FenceUpdate, type RowUpdate } from '../src/group-head.js';

const row = (id: string, version: number, set: Array<[string, string]>, unpaused = true, table = '`t`'): RowUpdate => ({ table, id: `'${id}'`, version: String(version), set, unpaused });
const head = (r: RowUpdate) => ({ head: `UPDATE ${r.table} ... ${r.id}`, statements: 1, row: r });
const fence = (key: string, token: number, table = '`lock`', set = '`owner` = NULL'): FenceUpdate => ({ table, set, key: `'${key}'`, token: String(token) });
const fencedHead = (r: RowUpdate, ...fences: FenceUpdate[]) => ({ head: `UPDATE lock ...;\n${head(r).head}`, statements: 1 + fences.length, row: r, fences });

describe('mergedUpdate', () => {
  it('writes each column by id, keeps a column a row does not write, and matches each row at its version and pause flag', () => {
    expect(mergedUpdate([row('a', 1, [['`x`', "'1'"], ['`y`', '2']]), row('b', 4, [['`x`', "'3'"]], false)])).toBe(
      "UPDATE `t` SET `x` = CASE `id` WHEN 'a' THEN '1' WHEN 'b' THEN '3' ELSE `x` END, `y` = CASE `id` WHEN 'a' THEN 2 ELSE `y` END, `version` = `version` + 1 " +
        "WHERE `id` IN ('a', 'b') AND CASE `id` WHEN 'a' THEN `version` = 1 AND `pause_requested` = 0 WHEN 'b' THEN `version` = 4 ELSE 0 END",
    );
  });
});

describe('groupHead', () => {
  it('sends heads without a row first, then one UPDATE per table of two or more rows', () => {
    const fenced = { head: 'UPDATE `lock` ...;\nUPDATE `t` ...', statements: 2 };
    const [a, b, c] = [row('a', 1, []), row('b', 1, [], true, '`u`'), row('c', 1, [])];
    const out = groupHead([head(a), fenced, head(b), head(c)], true);
    expect(out.map((h) => [h.statements, h.commits])).toEqual([[2, [1]], [1, [2]], [1, [0, 3]]]);
    expect(out[2]!.text).toBe(mergedUpdate([a, c]));
  });

  it('merges nothing when told not to, or when two commits name one id', () => {
    const [a, b] = [row('a', 1, []), row('b', 1, [])];
    expect(groupHead([head(a), head(b)], false).map((h) => h.commits)).toEqual([[0], [1]]);
    expect(groupHead([head(a), head(row('a', 2, []))], true).map((h) => h.commits)).toEqual([[0], [1]]);
  });

  it('merges fenced commits too: their fences as one UPDATE per lock table and what it writes, before the instance UPDATEs', () => {
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((id) => row(id, 1, []));
    const [fa, fb, fg, fc] = [fence('user:a', 5), fence('user:b', 6), fence('global', 7, '`glock`'), fence('user:c', 8, '`lock`', '`token` = `token`')];
    const out = groupHead([fencedHead(a!, fa), head(d!), fencedHead(b!, fb, fg), fencedHead(c!, fc)], true);
    expect(out.map((h) => [h.text, h.commits, h.matches])).toEqual([
      [mergedFence([fa, fb]), [0, 2], 2],
      [mergedFence([fg]), [2], 1],
      [mergedFence([fc]), [3], 1],
      [mergedUpdate([a!, d!, b!, c!]), [0, 1, 2, 3], 4],
    ]);
    expect(mergedFence([fa, fb])).toBe(
      "UPDATE `lock` SET `owner` = NULL WHERE `lock_key` IN ('user:a', 'user:b') AND CASE `lock_key` WHEN 'user:a' THEN `token` = 5 WHEN 'user:b' THEN `token` = 6 ELSE 0 END AND `expires_at` > UTC_TIMESTAMP(3)",
    );
  });

  it('leaves a commit fencing a key another merged commit fences to its own statements', () => {
    const [a, b, c] = ['a', 'b', 'c'].map((id) => row(id, 1, []));
    const out = groupHead([fencedHead(a!, fence('user:x', 5)), fencedHead(b!, fence('user:x', 6)), head(c!)], true);
    expect(out.map((h) => [h.commits, h.matches])).toEqual([[[1], 1], [[0], 1], [[0, 2], 2]]);
  });
});
