import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config.js';
import { generate } from '../src/generate.js';
import { GenerateSession } from '../src/session.js';
import { tempDir } from './support.js';

function machine(name: string, className: string, options: { order2?: number; base?: string } = {}): string {
  const head = options.base ? `import { ${options.base} } from './base.js';\n` : '';
  return `import { Machine, Step, type StepContext } from '@fsmkit/decorators';
${head}
export interface ${className}Data {
  n: number;
}

@Machine({ name: '${name}' })
export class ${className} ${options.base ? `extends ${options.base} ` : ''}{
  @Step(1)
  async one(ctx: StepContext<${className}Data>): Promise<void> {
    ctx.data.n += 1;
  }

  @Step(${options.order2 ?? 2})
  async two(ctx: StepContext<${className}Data>): Promise<void> {
    ctx.data.n += 2;
  }
}
`;
}

function project() {
  const root = tempDir();
  mkdirSync(join(root, 'src'));
  const file = (name: string) => join(root, 'src', name);
  writeFileSync(file('a.machine.ts'), machine('alpha', 'Alpha'));
  writeFileSync(file('b.machine.ts'), machine('beta', 'Beta'));
  const config = resolveConfig({ include: ['src/**/*.machine.ts'], outDir: 'gen' }, { root, cwd: root });
  return { root, file, config, out: join(root, 'gen') };
}

/** Every file under `dir` with its content. */
function snapshot(dir: string): Record<string, string> {
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  return Object.fromEntries(files.map((e) => join(e.parentPath, e.name)).sort().map((p) => [relative(dir, p), readFileSync(p, 'utf8')]));
}

describe('GenerateSession', () => {
  it('renaming a machine in place removes its old files and snapshot, writes a migration that drops its tables, and leaves what a full run leaves', async () => {
    const { root, file, config, out } = project();
    const session = new GenerateSession(config);
    expect((await session.run()).ok).toBe(true);

    writeFileSync(file('b.machine.ts'), machine('gamma', 'Beta'));
    const update = await session.update([file('b.machine.ts')]);
    expect(update.ok).toBe(true);
    expect(update.reread).toEqual([file('b.machine.ts')]);
    expect(existsSync(join(out, 'beta.runner.ts'))).toBe(false);
    expect(existsSync(join(out, 'migrations', 'meta', 'beta.snapshot.json'))).toBe(false);
    expect(existsSync(join(out, 'gamma.runner.ts'))).toBe(true);
    expect(readdirSync(join(out, 'migrations'))).toContain('0001_beta_drop.sql');

    const check = await generate({ cwd: root, include: ['src/**/*.machine.ts'], outDir: 'gen', check: true });
    expect(check.stale).toEqual([]);
  });

  it('writes nothing while any machine has an error, then everything changed meanwhile once it is fixed', async () => {
    const { file, config, out } = project();
    const session = new GenerateSession(config);
    await session.run();
    const before = snapshot(out);

    writeFileSync(file('a.machine.ts'), machine('alpha', 'Alpha', { order2: 1 }));
    const broken = await session.update([file('a.machine.ts')]);
    expect(broken.diagnostics.map((d) => d.code)).toEqual(['FSM_E_ORDER_DUPLICATE']);
    writeFileSync(file('b.machine.ts'), machine('beta', 'Beta', { order2: 3 }));
    const stillBroken = await session.update([file('b.machine.ts')]);
    expect(stillBroken.ok).toBe(false);
    expect(stillBroken.reread).toEqual([file('b.machine.ts')]);
    expect(snapshot(out)).toEqual(before);

    writeFileSync(file('a.machine.ts'), machine('alpha', 'Alpha', { order2: 4 }));
    const fixed = await session.update([file('a.machine.ts')]);
    expect(fixed.ok).toBe(true);
    // beta's change, made while alpha was broken, is written now too.
    expect(readFileSync(join(out, 'beta.runner.ts'), 'utf8')).toContain('order: 3');
    expect(readFileSync(join(out, 'alpha.runner.ts'), 'utf8')).toContain('order: 4');
  });

  it('takes a deleted folder for every file that was in it', async () => {
    const { file, config, out } = project();
    mkdirSync(file('sub'));
    writeFileSync(file('sub/d.machine.ts'), machine('delta', 'Delta'));
    writeFileSync(file('sub/types.ts'), 'export interface Shared {\n  n: number;\n}\n');
    writeFileSync(file('b.machine.ts'), machine('beta', 'Beta').replace("@Machine({ name: 'beta' })", "import type { Shared } from './sub/types.js';\n@Machine({ name: 'beta' })"));
    const session = new GenerateSession(config);
    expect((await session.run()).machines).toBe(3);

    rmSync(file('sub'), { recursive: true });
    const update = await session.update([file('sub')]);
    expect(update.machines).toBe(2);
    // beta imports a file that was in the folder: it is read again.
    expect(update.reread).toEqual([file('b.machine.ts')]);
    expect(existsSync(join(out, 'delta.runner.ts'))).toBe(false);
    expect(readdirSync(join(out, 'migrations'))).toContain('0001_delta_drop.sql');
  });

  it('reads again the machines whose base class file changed, and no others', async () => {
    const { file, config, out } = project();
    writeFileSync(file('base.ts'), 'export class Base {\n  async helper(): Promise<void> {}\n}\n');
    writeFileSync(file('c.machine.ts'), machine('gamma', 'Gamma', { base: 'Base' }));
    const session = new GenerateSession(config);
    expect((await session.run()).ok).toBe(true);

    writeFileSync(
      file('base.ts'),
      "import { Step } from '@fsmkit/decorators';\nexport class Base {\n  @Step(3)\n  async three(): Promise<void> {}\n}\n",
    );
    const update = await session.update([file('base.ts')]);
    expect(update.reread).toEqual([file('c.machine.ts')]);
    expect(readFileSync(join(out, 'gamma.runner.ts'), 'utf8')).toContain("'three'");

    const none = await session.update([join(file('..'), 'README.md')]);
    expect(none.reread).toEqual([]);
    expect(none.written).toEqual([]);
  });
});
