import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main } from '../src/index.js';
import { recorder } from './support/io.js';

function tempPackage(manifest: string | null = '{\n    "name": "shop",\n    "scripts": { "test": "vitest" }\n}\n'): string {
  const dir = mkdtempSync(join(tmpdir(), 'fsm-init-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  if (manifest !== null) writeFileSync(join(dir, 'package.json'), manifest);
  return dir;
}

const read = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8');

describe('fsm init', () => {
  it('writes the config, a sample machine, a tsconfig and the scripts, and prints what to install', async () => {
    const dir = tempPackage();
    const io = recorder(dir);
    expect(await main(['init', '--mysql', '--kafka', '--table-prefix', 'shop_'], io)).toBe(EXIT_OK);
    expect(read(dir, 'fsm.config.ts')).toContain("include: ['src/**/*.machine.ts'],\n  outDir: 'src/generated',\n  tablePrefix: 'shop_',");
    expect(read(dir, 'src/hello.machine.ts')).toContain("@Machine({ name: 'hello', topic: 'hello.fsm' })");
    expect(JSON.parse(read(dir, 'tsconfig.json'))).toMatchObject({ compilerOptions: { module: 'NodeNext' } });
    const pkg = JSON.parse(read(dir, 'package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts).toEqual({
      test: 'vitest',
      'fsm:generate': 'fsm generate',
      'fsm:migrate': 'fsm migrate',
      'fsm:worker': 'fsm worker',
      'fsm:relay': 'fsm relay',
    });
    // The file keeps its four-space indentation.
    expect(read(dir, 'package.json')).toContain('\n    "name": "shop",');
    expect(io.stdout).toContain('npm install @fsmkit/runtime @fsmkit/cli @fsmkit/mysql @fsmkit/kafka kafkajs\n');
    expect(io.stdout).toContain('npm install -D @fsmkit/generator typescript tsx @types/node\n');
  });

  it('overwrites nothing that exists, and says what it kept', async () => {
    const dir = tempPackage('{ "name": "shop", "scripts": { "fsm:generate": "custom generate" } }');
    writeFileSync(join(dir, 'fsm.config.mjs'), 'export default { include: ["lib/*.ts"] };\n');
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', 'hello.machine.ts'), '// mine\n');
    writeFileSync(join(dir, 'tsconfig.json'), '{ "mine": true }\n');
    writeFileSync(join(dir, 'pnpm-lock.yaml'), '');
    const before = ['fsm.config.mjs', 'src/hello.machine.ts', 'tsconfig.json', 'package.json'].map((f) => read(dir, f));

    const io = recorder(dir);
    expect(await main(['init'], io)).toBe(EXIT_OK);
    expect(['fsm.config.mjs', 'src/hello.machine.ts', 'tsconfig.json', 'package.json'].map((f) => read(dir, f))).toEqual(before);
    expect(io.stdout).toContain('  kept     fsm.config.mjs (exists)\n');
    expect(io.stdout).toContain('  kept     src/hello.machine.ts (exists)\n');
    expect(io.stdout).toContain('  kept     script fsm:generate (exists: custom generate)\n');
    expect(() => read(dir, 'fsm.config.ts')).toThrow();
    expect(io.stdout).toContain('pnpm add @fsmkit/runtime\n  pnpm add -D @fsmkit/cli @fsmkit/generator');
  });

  it('run twice, the second run changes nothing', async () => {
    const dir = tempPackage();
    expect(await main(['init', '--mysql'], recorder(dir))).toBe(EXIT_OK);
    const files = ['fsm.config.ts', 'src/hello.machine.ts', 'tsconfig.json', 'package.json'];
    const first = files.map((f) => read(dir, f));
    const again = recorder(dir);
    expect(await main(['init', '--mysql', '--kafka'], again)).toBe(EXIT_OK);
    expect(files.map((f) => read(dir, f)).slice(0, 3)).toEqual(first.slice(0, 3));
    expect(again.stdout).not.toContain('created');
    expect(again.stdout).toContain('  added    script fsm:relay: fsm relay\n');
  });

  it('exits 1 outside a package and 2 on a bad prefix or folder', async () => {
    const none = recorder(tempPackage(null));
    expect(await main(['init'], none)).toBe(EXIT_FAILURE);
    expect(none.stderr).toContain('no package.json');
    const bad = recorder(tempPackage());
    expect(await main(['init', '--table-prefix', 'Shop-'], bad)).toBe(EXIT_USAGE);
    expect(bad.stderr).toContain('--table-prefix: table prefix "Shop-" must match');
    const outside = recorder(tempPackage());
    expect(await main(['init', '--src', '../elsewhere'], outside)).toBe(EXIT_USAGE);
  });
});
