import { describe, expect, it } from 'vitest';
import { addColumnSql, addIndexSql, columnsAddedSince, indexesAddedSince, LAYOUT_COLUMNS, layoutUpgradeSql, machineDdl, machineTables, TABLE_LAYOUT } from '../src/schema.js';

describe('table layouts', () => {
  const [instances, history] = machineDdl({ name: 'order' });

  it('add each column as machineDdl creates it, at the end of its table', () => {
    for (const added of columnsAddedSince(1)) {
      const ddl = added.table === 'instances' ? instances! : history!;
      expect(ddl).toContain(`\`${added.column}\` ${added.definition},`);
    }
    // Appended in layout order, so upgraded tables end with the same columns as new ones.
    const lastColumns = (ddl: string) => [...ddl.matchAll(/^ {2}`(\w+)` /gm)].map((m) => m[1]);
    const tail = (table: 'instances' | 'history') => columnsAddedSince(1).filter((c) => c.table === table).map((c) => c.column);
    expect(lastColumns(instances!).slice(-tail('instances').length)).toEqual(tail('instances'));
    expect(lastColumns(history!).slice(-tail('history').length)).toEqual(tail('history'));
  });

  it('lists nothing to add from the newest layout and every later column from an older one', () => {
    expect(columnsAddedSince(TABLE_LAYOUT)).toEqual([]);
    expect(columnsAddedSince(1)).toEqual(Object.values(LAYOUT_COLUMNS).flat());
    expect(layoutUpgradeSql(machineTables('order'), TABLE_LAYOUT)).toEqual([]);
  });

  it('writes each ALTER to run only when the column is missing', () => {
    const tables = machineTables('order', { tablePrefix: 'app_' });
    const takeovers = columnsAddedSince(1)[0]!;
    expect(addColumnSql(tables, takeovers)).toBe('ALTER TABLE `app_order` ADD COLUMN `takeovers` INT NOT NULL DEFAULT 0');
    expect(layoutUpgradeSql(tables, 1).slice(0, 4)).toEqual([
      "SET @fsm_ddl = IF((SELECT COUNT(*) = 0 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'app_order' AND COLUMN_NAME = 'takeovers'), 'ALTER TABLE `app_order` ADD COLUMN `takeovers` INT NOT NULL DEFAULT 0', 'DO 0')",
      'PREPARE fsm_stmt FROM @fsm_ddl',
      'EXECUTE fsm_stmt',
      'DEALLOCATE PREPARE fsm_stmt',
    ]);
  });

  it('adds each index as machineDdl declares it, only when it is missing', () => {
    for (const added of indexesAddedSince(1)) {
      const ddl = added.table === 'instances' ? instances! : history!;
      expect(ddl).toContain(`KEY \`${added.index}\` (${added.columns})`);
    }
    const tables = machineTables('order', { tablePrefix: 'app_' });
    const wait = indexesAddedSince(2).find((i) => i.index === 'ix_wait')!;
    expect(addIndexSql(tables, wait)).toBe('ALTER TABLE `app_order` ADD KEY `ix_wait` (`wait_message`, `wait_key`)');
    expect(layoutUpgradeSql(tables, 2)).toContain(
      "SET @fsm_ddl = IF((SELECT COUNT(*) = 0 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'app_order' AND INDEX_NAME = 'ix_wait'), 'ALTER TABLE `app_order` ADD KEY `ix_wait` (`wait_message`, `wait_key`)', 'DO 0')",
    );
  });
});
