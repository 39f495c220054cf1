import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main} from '../src/index.js';
import { dropTablesWithPrefix, MYSQL_URL, mysqlUnavailable, tablesWithPrefix, testPool, uniquePrefix, type Pool, type Rows } from './support/mysql.js';
import { recorder } from './support/io.js';

const unavailable = await mysqlUnavailable();
const app = fileURLToPath(new URL('./fixtures/app/', import.meta.url));

/** The app fixture in a temp folder, generated, with its own table prefix. */
async function generatedApp(prefix: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'fsm-migrate-cli-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(app, 'src'), join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, 'fsm.config.mjs'), `export default { include: ['src/**/*.machine.ts'], outDir: 'gen', tablePrefix: '${prefix}' };\n`);
  expect(await main(['generate'], recorder(dir))).toBe(EXIT_OK);
  return dir;
}

describe.skipIf(unavailable !== null)('fsm migrate', () => {
  const prefixes: string[] = [];
  let pool: Pool;
  const prefix = () => {
    const p = uniquePrefix();
    prefixes.push(p);
    return p;
  };

  beforeAll(() => {
    pool = testPool();
  });
  afterAll(async () => {
    for (const p of prefixes) await dropTablesWithPrefix(pool, p);
    await pool.end();
  });

  it('applies the generated files once each, in order, with the config giving folder and prefix', async () => {
    const p = prefix();
    const dir = await generatedApp(p);
    mkdirSync(join(dir, 'gen', 'migrations'), { recursive: true });
    writeFileSync(join(dir, 'gen', 'migrations', '0001_rush.sql'), `ALTER TABLE \`${p}shipment\` ADD COLUMN \`rush\` INT NOT NULL DEFAULT 0;\n`);

    const io = recorder(dir);
    expect(await main(['migrate', '--url', MYSQL_URL], io)).toBe(EXIT_OK);
    expect(io.stdout.split('\n').slice(1)).toEqual([
      '  applied       fsm_shared.sql',
      '  applied       shipment.sql',
      '  applied       migrations/0001_rush.sql',
      'fsm migrate: 3 applied, 0 skipped, 0 changed',
      '',
    ]);
    expect(io.stdout).toMatch(new RegExp(`^fsm migrate: gen -> mysql://.* \\(journal ${p}migrations\\)\\n`));
    expect(await tablesWithPrefix(pool, p)).toEqual(
      ['global_lock', 'local_lock', 'migrations', 'outbox', 'shipment', 'shipment_history'].map((t) => p + t),
    );
    const [journal] = await pool.query(`SELECT name FROM \`${p}migrations\` ORDER BY name`);
    expect((journal as Rows).map((r) => r['name'])).toEqual(['fsm_shared.sql', 'migrations/0001_rush.sql', 'shipment.sql']);

    const again = recorder(dir);
    expect(await main(['migrate', '--url', MYSQL_URL], again)).toBe(EXIT_OK);
    expect(again.stdout).toContain('fsm migrate: 0 applied, 3 skipped, 0 changed\n');
  });

  it('--dry-run prints the statements on stdout and runs nothing', async () => {
    const p = prefix();
    const dir = await generatedApp(p);
    const io = recorder(dir);
    expect(await main(['migrate', '--dry-run'], io)).toBe(EXIT_OK);
    expect(io.stdout.startsWith('-- fsm_shared.sql\nCREATE TABLE IF NOT EXISTS `' + p + 'global_lock` (')).toBe(true);
    expect(io.stdout).toContain('\n-- shipment.sql\nCREATE TABLE IF NOT EXISTS `' + p + 'shipment` (');
    expect(io.stdout.match(/^CREATE TABLE/gm)).toHaveLength(6);
    expect(io.stderr).toContain('  would apply   shipment.sql\n');
    expect(io.stderr).toContain('fsm migrate --dry-run: 2 to apply, 0 skipped, 0 changed; nothing was run\n');
    expect(await tablesWithPrefix(pool, p)).toEqual([]);
  });

  it('exits 1 naming an applied file whose statements changed, runs it not again, still applies new ones', async () => {
    const p = prefix();
    const dir = await generatedApp(p);
    const gen = join(dir, 'gen');
    expect(await main(['migrate', '--dir', gen, '--table-prefix', p], recorder(dir))).toBe(EXIT_OK);
    mkdirSync(join(gen, 'migrations'), { recursive: true });
    writeFileSync(join(gen, 'migrations', '0001_note.sql'), `ALTER TABLE \`${p}shipment\` ADD COLUMN \`note\` VARCHAR(20) NULL;\n`);
    // A comment is no change; a statement is.
    const sql = join(gen, 'shipment.sql');
    writeFileSync(sql, `-- moved\n${readFileSync(sql, 'utf8')}CREATE TABLE \`${p}sneaky\` (id INT);\n`);

    const io = recorder(dir);
    expect(await main(['migrate', '--dir', gen, '--table-prefix', p], io)).toBe(EXIT_FAILURE);
    expect(io.stdout).toContain('  applied       migrations/0001_note.sql\n');
    expect(io.stdout).toContain('  changed       shipment.sql\n');
    expect(io.stderr).toMatch(/^fsm migrate: 1 applied file has changed since, and was not run again:\n {2}shipment\.sql {2}\(applied as [0-9a-f]{12}…, now [0-9a-f]{12}…\)\n/);
    expect(io.stderr).toContain('put the change in a new file under migrations/');
    expect(await tablesWithPrefix(pool, `${p}sneaky`)).toEqual([]);
    const [columns] = await pool.query(`SHOW COLUMNS FROM \`${p}shipment\` LIKE 'note'`);
    expect(columns).toHaveLength(1);
  });

  it('exits 2 without a config or --dir, or with a bad prefix; exits 1 when the database does not answer', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'fsm-migrate-cli-'));
    onTestFinished(() => rmSync(empty, { recursive: true, force: true }));
    const none = recorder(empty);
    expect(await main(['migrate'], none)).toBe(EXIT_USAGE);
    expect(none.stderr).toContain('pass --dir');
    const bad = recorder(empty);
    expect(await main(['migrate', '--dir', empty, '--table-prefix', 'Bad-'], bad)).toBe(EXIT_USAGE);
    expect(bad.stderr).toContain('table prefix "Bad-" must match');
    const down = recorder(empty);
    expect(await main(['migrate', '--dir', empty, '--url', 'mysql://root:secret@127.0.0.1:1/test'], down)).toBe(EXIT_FAILURE);
    expect(down.stderr).toMatch(/^fsm migrate: mysql store could not connect to migrate/);
    expect(down.stderr).not.toContain('secret');
  });
});

describe.skipIf(unavailable !== null)('fsm migrate --table-prefix', () => {
  it('puts the tables under the prefix, as the journal, whatever prefix the files were generated under', async () => {
    const pool = testPool();
    const [generatedAs, wanted] = [uniquePrefix(), uniquePrefix()];
    onTestFinished(async () => {
      for (const p of [generatedAs, wanted]) await dropTablesWithPrefix(pool, p);
      await pool.end();
    });
    const dir = await generatedApp(generatedAs);
    const gen = join(dir, 'gen');
    mkdirSync(join(gen, 'migrations'), { recursive: true });
    writeFileSync(join(gen, 'migrations', '0001_rush.sql'), `ALTER TABLE \`${generatedAs}shipment\` ADD COLUMN \`rush\` INT NOT NULL DEFAULT 0;\n`);

    expect(await main(['migrate', '--url', MYSQL_URL, '--table-prefix', wanted], recorder(dir))).toBe(EXIT_OK);
    expect(await tablesWithPrefix(pool, wanted)).toEqual(
      ['global_lock', 'local_lock', 'migrations', 'outbox', 'shipment', 'shipment_history'].map((t) => wanted + t),
    );
    expect(await tablesWithPrefix(pool, generatedAs)).toEqual([]);
    const [columns] = await pool.query(`SHOW COLUMNS FROM \`${wanted}shipment\` LIKE 'rush'`);
    expect(columns).toHaveLength(1);
    const again = recorder(dir);
    expect(await main(['migrate', '--url', MYSQL_URL, '--table-prefix', wanted], again)).toBe(EXIT_OK);
    expect(again.stdout).toContain('0 applied, 3 skipped, 0 changed');
  });
});
