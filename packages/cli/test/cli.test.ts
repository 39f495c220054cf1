import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import { commands, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main, type Command} from '../src/index.js';
import { recorder } from './support/io.js';

const cliRoot = fileURLToPath(new URL('../', import.meta.url));
const app = join(cliRoot, 'test', 'fixtures', 'app');

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fsm-cli-test-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The app fixture in a temp folder, with a config that needs no package to load. */
function appCopy(): string {
  const dir = tempDir();
  cpSync(join(app, 'src'), join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, 'fsm.config.mjs'), "export default { include: ['src/**/*.machine.ts'], outDir: 'gen' };\n");
  return dir;
}

describe('fsm', () => {
  it('prints usage and exits 2 without a command or with an unknown one', async () => {
    const none = recorder(cliRoot);
    expect(await main([], none)).toBe(EXIT_USAGE);
    expect(none.stderr).toMatch(/^Usage: fsm <command>/);
    const unknown = recorder(cliRoot);
    expect(await main(['frobnicate'], unknown)).toBe(EXIT_USAGE);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    expect(unknown.stderr).toContain('  generate  ');
  });

  it('prints help on stdout and exits 0', async () => {
    const top = recorder(cliRoot);
    expect(await main(['--help'], top)).toBe(EXIT_OK);
    expect(top.stdout).toContain('generate');
    const sub = recorder(cliRoot);
    expect(await main(['generate', '--help'], sub)).toBe(EXIT_OK);
    expect(sub.stdout).toContain('--check');
  });

  it('exits 2 with the command usage on a bad option, and on a missing config', async () => {
    const bad = recorder(cliRoot);
    expect(await main(['generate', '--chek'], bad)).toBe(EXIT_USAGE);
    expect(bad.stderr).toContain("Unknown option '--chek'");
    expect(bad.stderr).toContain('Usage: fsm generate');
    const noConfig = recorder(tempDir());
    expect(await main(['generate'], noConfig)).toBe(EXIT_USAGE);
    expect(noConfig.stderr).toContain('no fsm.config.ts');
  });

  it('generate writes the artefacts and exits 0; --check then passes', async () => {
    const dir = appCopy();
    const io = recorder(dir);
    expect(await main(['generate'], io)).toBe(EXIT_OK);
    expect(io.stdout).toBe('fsm generate: 1 machine -> gen (9 written, 0 unchanged)\n');
    expect(readdirSync(join(dir, 'gen'))).toContain('shipment.runner.ts');
    const check = recorder(dir);
    expect(await main(['generate', '--check'], check)).toBe(EXIT_OK);
    expect(check.stdout).toBe('fsm generate --check: 9 files in gen are up to date\n');
  });

  it('generate --check exits 1 naming every stale file, and writes nothing', async () => {
    const dir = appCopy();
    await main(['generate'], recorder(dir));
    const source = join(dir, 'src', 'shipment.machine.ts');
    writeFileSync(source, readFileSync(source, 'utf8').replace("'dhl' | 'ups'", "'dhl' | 'ups' | 'fedex'"));
    rmSync(join(dir, 'gen', 'shipment.mmd'));
    const io = recorder(dir);
    expect(await main(['generate', '--check'], io)).toBe(EXIT_FAILURE);
    expect(io.stderr).toBe(
      [
        '  changed  gen/model.json',
        '  changed  gen/shipment.events.schema.json',
        '  missing  gen/shipment.mmd',
        // The runner exports the data's JSON Schema.
        '  changed  gen/shipment.runner.ts',
        'fsm generate --check: 4 files out of date in gen: run `fsm generate`',
        '',
      ].join('\n'),
    );
    expect(existsSync(join(dir, 'gen', 'shipment.mmd'))).toBe(false);
  });

  it('generate exits 1 and prints every diagnostic when a source is wrong, writing nothing', async () => {
    const dir = appCopy();
    const source = join(dir, 'src', 'shipment.machine.ts');
    writeFileSync(source, readFileSync(source, 'utf8').replace('@Step(2)', '@Step(1)').replace("'shipment'", "'ship ment!'"));
    const io = recorder(dir);
    expect(await main(['generate'], io)).toBe(EXIT_FAILURE);
    const lines = io.stderr.trimEnd().split('\n');
    expect(lines.filter((l) => /^src\/shipment\.machine\.ts:\d+:\d+ {2}FSM_E_/.test(l)).map((l) => l.split('  ')[1])).toEqual([
      'FSM_E_NAME_INVALID',
      'FSM_E_ORDER_DUPLICATE',
    ]);
    expect(lines.at(-1)).toBe('fsm generate: 2 errors; nothing was written');
    expect(existsSync(join(dir, 'gen'))).toBe(false);
  });

  it('takes --include, --out and --config from the command line', async () => {
    const dir = appCopy();
    const io = recorder(dir);
    expect(await main(['generate', '--include', 'src/*.ts', '--out', 'elsewhere', '--config', 'fsm.config.mjs'], io)).toBe(EXIT_OK);
    expect(readdirSync(join(dir, 'elsewhere'))).toContain('shipment.sql');
  });

  it('runs a command added to the table', async () => {
    const hello: Command = { name: 'hello', summary: 'says hello', usage: 'Usage: fsm hello', run: async (args, io) => (io.out(`hello ${args.join(' ')}\n`), 0) };
    const io = recorder(cliRoot);
    expect(await main(['hello', 'world'], io, [...commands, hello])).toBe(EXIT_OK);
    expect(io.stdout).toBe('hello world\n');
  });

  it('bin/fsm.mjs runs from the sources with a TS config that imports @fsmkit/cli', async () => {
    const out = tempDir();
    const run = (...args: string[]) =>
      promisify(execFile)(process.execPath, [join(cliRoot, 'bin', 'fsm.mjs'), ...args], { cwd: app });
    const { stdout } = await run('generate', '--out', out);
    expect(stdout).toBe(`fsm generate: 1 machine -> ${out} (9 written, 0 unchanged)\n`);
    expect(readFileSync(join(out, 'shipment.sql'), 'utf8')).toContain('CREATE TABLE IF NOT EXISTS `app_shipment` (');
    await expect(run('generate', '--check', '--out', out)).resolves.toMatchObject({ stdout: expect.stringContaining('up to date') });
    await expect(run('nope')).rejects.toMatchObject({ code: EXIT_USAGE });
  }, 60_000);
});
