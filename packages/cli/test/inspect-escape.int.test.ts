import { createMysqlStore, type MysqlStore } from '@fsmkit/mysql';
import { createRunner, defineMachine } from '@fsmkit/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { printable } from '../src/printable.js';
import { EXIT_OK, main } from '../src/index.js';
import { dropTablesWithPrefix, MYSQL_URL, mysqlUnavailable, testPool, uniquePrefix, type Pool } from './support/mysql.js';
import { recorder } from './support/io.js';

const unavailable = await mysqlUnavailable();

// eslint-disable-next-line no-control-regex -- what a terminal would act on
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const RED = '\x1b[31m';
const CLEAR = '\x1b[2J';

describe('printable', () => {
  it('escapes control characters, separators and bidi overrides, and leaves other text alone', () => {
    expect(printable(`a${RED}b\nc\r\td\0\x7f\x9b\u2028\u202e`)).toBe('a\\x1b[31mb\\nc\\r\\td\\x00\\x7f\\x9b\\u2028\\u202e');
    expect(printable('plain é 😀 \\ "quoted"')).toBe('plain é 😀 \\ "quoted"');
  });
});

describe.skipIf(unavailable !== null)('fsm inspect on hostile text', () => {
  const prefix = uniquePrefix();
  let pool: Pool;
  let store: MysqlStore;
  let id = '';
  const spoof = `${RED}evil${CLEAR}\n  status    done, forward, at ship\u202e`;
  const hostile = defineMachine<{ note: string }>({
    name: 'hostile',
    steps: { first: { order: 1 } },
    methods: {
      first: (ctx) => {
        ctx.pause(spoof);
        throw Object.assign(new Error(spoof), { name: `Err${RED}` });
      },
    },
  });
  const inspect = async (...args: string[]) => {
    const io = recorder();
    const code = await main(['inspect', '--url', MYSQL_URL, '--table-prefix', prefix, '-m', 'hostile', ...args], io);
    return { code, ...io };
  };

  beforeAll(async () => {
    pool = testPool();
    store = createMysqlStore({ tablePrefix: prefix, poolSize: 2 });
    await store.ensureSchema([{ name: 'hostile' }]);
    id = (await createRunner(hostile, { store }).start({ note: spoof }, { userId: spoof })).id;
  });
  afterAll(async () => {
    await store?.close();
    await dropTablesWithPrefix(pool, prefix);
    await pool?.end();
  });

  it('escapes ids, users, errors, pause reasons, data and history in every view', async () => {
    const list = await inspect();
    const one = await inspect('--id', id);
    expect([list.code, one.code]).toEqual([EXIT_OK, EXIT_OK]);
    for (const out of [list.stdout, one.stdout]) {
      for (const line of out.split('\n')) expect(line, JSON.stringify(line)).not.toMatch(CONTROL);
      expect(out).toContain('\\x1b[31mevil\\x1b[2J\\n  status    done');
    }
    // One line per field: the spoofed status line stays inside the user's.
    expect(one.stdout.split('\n').filter((l) => l.startsWith('  status '))).toHaveLength(1);
    expect(one.stdout).toMatch(/ {2}error {5}Err\\x1b\[31m: \\x1b\[31mevil/);

    await pool.query(`UPDATE \`${prefix}hostile\` SET serialized_state = ? WHERE id = ?`, [`not json ${RED}\n${CLEAR}`, id]);
    const raw = await inspect('--id', id);
    for (const line of raw.stdout.split('\n')) expect(line).not.toMatch(CONTROL);
    expect(raw.stdout).toContain('not json \\x1b[31m\\n\\x1b[2J');

    const missing = await inspect('--id', `${RED}x`);
    expect(missing.stderr).toContain('no hostile instance \\x1b[31mx');
    expect(missing.stderr).not.toMatch(CONTROL);
  });

  it('keeps --json valid JSON with every such character escaped', async () => {
    const json = await inspect('--id', id, '--json');
    expect(json.stdout.replace(/\n/g, ' ')).not.toMatch(CONTROL);
    expect(JSON.parse(json.stdout).instance.userId).toBe(spoof);
    const list = await inspect('--json');
    expect(list.stdout.replace(/\n/g, ' ')).not.toMatch(CONTROL);
    expect((JSON.parse(list.stdout) as Array<{ userId: string }>)[0]!.userId).toBe(spoof);
  });
});
