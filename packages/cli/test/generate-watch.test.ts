import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GenerateResult } from '@fsmkit/generator';
import { describe, expect, it, onTestFinished } from 'vitest';
import { EXIT_OK, EXIT_USAGE, main } from '../src/index.js';
import { runGenerate } from '../src/commands/generate.js';
import { recorder } from './support/io.js';

const fsmBin = fileURLToPath(new URL('../bin/fsm.mjs', import.meta.url));
const LONG_AGO = new Date('2001-01-01T00:00:00Z');

function machine(name: string, options: { dataFrom?: string; step2?: string; order2?: number } = {}): string {
  const pascal = name[0]!.toUpperCase() + name.slice(1);
  const data = options.dataFrom ? 'SharedData' : `${pascal}Data`;
  const head = options.dataFrom
    ? `import type { SharedData } from '${options.dataFrom}';\n`
    : `export interface ${pascal}Data {\n  count: number;\n}\n`;
  return `import { Machine, Step, type StepContext } from '@fsmkit/decorators';
${head}
@Machine({ name: '${name}', topic: 'watch.${name}' })
export class ${pascal}Machine {
  @Step(1)
  async first(ctx: StepContext<${data}>): Promise<void> {
    ctx.data.count += 1;
  }

  @Step(${options.order2 ?? 2}${options.step2 ? `, ${options.step2}` : ''})
  async second(ctx: StepContext<${data}>): Promise<void> {
    ctx.data.count += 2;
  }
}
`;
}

/** Three machines, two of which take their data type from one shared file. */
function project(): { dir: string; src: string; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'fsm-watch-test-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'types.ts'), 'export interface SharedData {\n  count: number;\n}\n');
  writeFileSync(join(src, 'alpha.machine.ts'), machine('alpha', { dataFrom: './types.js' }));
  writeFileSync(join(src, 'beta.machine.ts'), machine('beta', { dataFrom: './types.js' }));
  writeFileSync(join(src, 'gamma.machine.ts'), machine('gamma'));
  writeFileSync(join(dir, 'fsm.config.mjs'), "export default { include: ['src/**/*.machine.ts'], outDir: 'gen' };\n");
  return { dir, src, out: join(dir, 'gen') };
}

/** `fsm generate --watch` in-process, with a way to wait for the run a change makes. */
async function startWatch(dir: string) {
  const io = recorder(dir);
  const stop = new AbortController();
  const runs: Array<GenerateResult | undefined> = [];
  const waiting = new Set<() => void>();
  const exited = runGenerate(['--watch'], io, stop.signal, (result) => {
    runs.push(result);
    for (const wake of waiting) wake();
  });
  onTestFinished(async (ctx) => {
    // On a failure, what the watch printed tells which change it missed.
    if (ctx.task.result?.state === 'fail') console.log(`watch stdout:\n${io.stdout}\nwatch stderr:\n${io.stderr}`);
    stop.abort();
    await exited;
  });
  /** Resolves with the first run from now on that `test` accepts. */
  const run = (test: (r: GenerateResult | undefined) => boolean) => {
    const from = runs.length;
    return new Promise<GenerateResult | undefined>((resolve) => {
      const wake = () => {
        const i = runs.findIndex((r, i) => i >= from && test(r));
        if (i < 0) return;
        waiting.delete(wake);
        resolve(runs[i]);
      };
      waiting.add(wake);
    });
  };
  while (!io.stdout.includes('watching for changes')) await new Promise((r) => setTimeout(r, 10));
  return { io, runs, run, stop: () => (stop.abort(), exited) };
}

const rereading = (file: string) => (r: GenerateResult | undefined) => r?.reread.includes(file) ?? false;

/** Output files (relative) whose mtime moved since `ageAll`. */
function touched(out: string): string[] {
  return (readdirSync(out, { recursive: true }) as string[])
    .filter((f) => statSync(join(out, f)).isFile() && statSync(join(out, f)).mtimeMs !== LONG_AGO.getTime())
    .sort();
}

function ageAll(out: string): void {
  for (const f of readdirSync(out, { recursive: true }) as string[]) utimesSync(join(out, f), LONG_AGO, LONG_AGO);
}

/** The output on disk is what a full run makes: `--check` finds nothing stale. */
async function expectUpToDate(dir: string): Promise<void> {
  const check = recorder(dir);
  expect(await main(['generate', '--check'], check)).toBe(EXIT_OK);
}

// A budget for loading the compiler and the first run, not a timing assertion.
describe('fsm generate --watch', { timeout: 60_000 }, () => {
  it('rewrites only the files of the machine whose source changed, and the files made from every machine', async () => {
    const { dir, src, out } = project();
    const watch = await startWatch(dir);
    expect(watch.io.stdout).toContain('fsm generate: 3 machines -> gen (');
    ageAll(out);

    const file = join(src, 'gamma.machine.ts');
    const next = watch.run(rereading(file));
    writeFileSync(file, machine('gamma', { step2: '{ timeoutMs: 5000 }' }));
    const result = await next;

    expect(result!.reread).toEqual([file]);
    // The timeout is in the runner's model and in model.json; nothing else of gamma's, nobody else's.
    expect(touched(out)).toEqual(['gamma.runner.ts', 'model.json']);
    expect(readFileSync(join(out, 'gamma.runner.ts'), 'utf8')).toContain('5000');
    expect(watch.io.stdout).toContain('fsm generate: 3 machines -> gen (2 written, ');
    await expectUpToDate(dir);
  });

  it('reads again every machine that imports a changed file, and only those', async () => {
    const { dir, src, out } = project();
    const watch = await startWatch(dir);
    ageAll(out);

    const types = join(src, 'types.ts');
    const next = watch.run((r) => (r?.reread.length ?? 0) > 0);
    writeFileSync(types, 'export interface SharedData {\n  count: number;\n  label?: string;\n}\n');
    const result = await next;

    expect(result!.reread).toEqual([join(src, 'alpha.machine.ts'), join(src, 'beta.machine.ts')]);
    expect(touched(out).filter((f) => f.startsWith('gamma'))).toEqual([]);
    expect(readFileSync(join(out, 'alpha.events.schema.json'), 'utf8')).toContain('"label"');
    expect(readFileSync(join(out, 'beta.events.schema.json'), 'utf8')).toContain('"label"');
    await expectUpToDate(dir);
  });

  it('prints an error as a normal run does, writes nothing, goes on watching and recovers after the fix', async () => {
    const { dir, src, out } = project();
    const watch = await startWatch(dir);
    ageAll(out);
    const file = join(src, 'beta.machine.ts');

    const broken = watch.run(rereading(file));
    writeFileSync(file, machine('beta', { dataFrom: './types.js', order2: 1 }));
    const failed = await broken;
    expect(failed!.ok).toBe(false);
    expect(touched(out)).toEqual([]);

    // The same diagnostics, byte for byte, as `fsm generate` prints for the same sources.
    const normal = recorder(dir);
    expect(await main(['generate'], normal)).not.toBe(EXIT_OK);
    expect(normal.stderr).toContain('FSM_E_ORDER_DUPLICATE');
    expect(normal.stderr).toMatch(/^src\/beta\.machine\.ts:\d+:\d+ {2}FSM_E_ORDER_DUPLICATE/m);
    expect(watch.io.stderr.endsWith(normal.stderr)).toBe(true);

    const fixed = watch.run((r) => (r?.ok ?? false) && r!.reread.includes(file));
    writeFileSync(file, machine('beta', { dataFrom: './types.js', step2: '{ timeoutMs: 7000 }' }));
    const recovered = await fixed;
    expect(recovered!.diagnostics).toEqual([]);
    expect(readFileSync(join(out, 'beta.runner.ts'), 'utf8')).toContain('7000');
    expect(touched(out)).toEqual(['beta.runner.ts', 'model.json']);
    await expectUpToDate(dir);
  });

  it('writes the files of a new machine file, and removes those of a deleted one with a migration that drops its tables', async () => {
    const { dir, src, out } = project();
    const watch = await startWatch(dir);

    const added = join(src, 'delta.machine.ts');
    const adding = watch.run(rereading(added));
    writeFileSync(added, machine('delta'));
    const first = await adding;
    expect(first!.machines).toBe(4);
    for (const f of ['delta.runner.ts', 'delta.sql', 'delta.mmd', 'delta.events.schema.json', 'migrations/meta/delta.snapshot.json'])
      expect(existsSync(join(out, f))).toBe(true);
    expect(readFileSync(join(out, 'index.ts'), 'utf8')).toContain("from './delta.runner.js'");
    await expectUpToDate(dir);

    const gone = join(src, 'gamma.machine.ts');
    const deleting = watch.run((r) => r?.machines === 3);
    unlinkSync(gone);
    const second = await deleting;
    expect(second!.ok).toBe(true);
    for (const f of ['gamma.runner.ts', 'gamma.sql', 'gamma.mmd', 'gamma.events.schema.json', 'migrations/meta/gamma.snapshot.json'])
      expect(existsSync(join(out, f))).toBe(false);
    expect(readdirSync(join(out, 'migrations'))).toContain('0001_gamma_drop.sql');
    expect(readFileSync(join(out, 'index.ts'), 'utf8')).not.toContain('gamma');
    await expectUpToDate(dir);
  });

  it('refuses --watch with --check', async () => {
    const { dir, out } = project();
    const io = recorder(dir);
    expect(await main(['generate', '--watch', '--check'], io)).toBe(EXIT_USAGE);
    expect(io.stderr).toContain('--check and --watch cannot be used together');
    expect(existsSync(out)).toBe(false);
  });

  it('stops cleanly on SIGINT, with exit code 0', async () => {
    const { dir } = project();
    const child = spawn(process.execPath, [fsmBin, 'generate', '--watch'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let signalled = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      // One signal: a second one acts as usual and ends the process at once.
      if (signalled || !stdout.includes('watching for changes')) return;
      signalled = true;
      child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(stdout).toContain('fsm generate: 3 machines -> gen (');
    expect(stdout).toContain('fsm generate: stopped watching\n');
    expect(code).toBe(0);
  });
});
