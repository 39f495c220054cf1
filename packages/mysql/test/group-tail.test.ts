import { describe, expect, it } from 'vitest';
import { groupTail } from '../src/group-tail.js';

const H = 'INSERT INTO `h` (`a`) VALUES ';
const O = 'INSERT INTO `o` (`a`) VALUES ';

describe('groupTail', () => {
  it('puts the rows of every commit for one table in one INSERT, in commit order, then each commit\'s own statements', () => {
    const tail = groupTail([
      { rows: [{ into: H, tuples: ['(1)', '(2)'] }, { into: O, tuples: ['(10)'] }], after: [] },
      { rows: [{ into: H, tuples: ['(3)'] }], after: ['SET @x = 1', 'SELECT @x'] },
      { rows: [{ into: O, tuples: ['(11)', '(12)'] }, { into: H, tuples: ['(4)'] }], after: ['DO 1'] },
    ]);
    expect(tail.statements).toEqual([`${H}(1), (2), (3), (4)`, `${O}(10), (11), (12)`, 'SET @x = 1', 'SELECT @x', 'DO 1']);
    expect(tail.afterAt).toEqual([2, 2, 4]);
  });

  it('leaves out tables without rows, and sends nothing for commits without a tail', () => {
    expect(groupTail([{ rows: [{ into: H, tuples: [] }], after: [] }, { rows: [], after: [] }])).toEqual({ statements: [], afterAt: [0, 0] });
  });

  it('gives one commit alone the INSERT text of its rows', () => {
    expect(groupTail([{ rows: [{ into: H, tuples: ['(1)', '(2)'] }], after: ['DO 1'] }]).statements).toEqual([`${H}(1), (2)`, 'DO 1']);
  });

  it('counts an entry that holds several statements as that many results', () => {
    const tail = groupTail([
      { rows: [], after: ['DO 1;\nDO 2'], afterStatements: 2 },
      { rows: [{ into: H, tuples: ['(1)'] }], after: ['DO 3'] },
    ]);
    expect(tail.statements).toEqual([`${H}(1)`, 'DO 1;\nDO 2', 'DO 3']);
    expect(tail.afterAt).toEqual([1, 3]);
  });

  it('does not change the commits it merges', () => {
    const rows = [{ into: H, tuples: ['(1)'] }];
    groupTail([{ rows, after: [] }, { rows: [{ into: H, tuples: ['(2)'] }], after: [] }]);
    expect(rows[0]!.tuples).toEqual(['(1)']);
  });
});
