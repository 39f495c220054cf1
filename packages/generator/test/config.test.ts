import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, resolveConfig } from '../src/config.js';
import { fixture, tempDir } from './support.js';

describe('config', () => {
  it('loads fsm.config.ts through tsx, with defineConfig from the package, and resolves paths from its folder', async () => {
    const root = fixture('shop');
    const config = await loadConfig({ cwd: root });
    expect(readdirSync(root).filter((f) => f.includes('fsm.config'))).toEqual(['fsm.config.ts']);
    expect(config).toEqual({
      root,
      configFile: join(root, 'fsm.config.ts'),
      include: ['src/**/*.machine.ts'],
      exclude: [],
      outDir: join(root, 'src', 'generated'),
      tablePrefix: 'fsm_',
    });
  });

  it('loads a TS config that imports another TS file (through tsx), leaving no file behind', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'globs.ts'), "export const include: string[] = ['machines/*.ts'];\n");
    writeFileSync(join(dir, 'fsm.config.ts'), "import { include } from './globs.ts';\nexport default { include, outDir: 'gen' as string };\n");
    const config = await loadConfig({ cwd: dir });
    expect(config.include).toEqual(['machines/*.ts']);
    expect(readdirSync(dir).sort()).toEqual(['fsm.config.ts', 'globs.ts']);
  });

  it('loads an .mjs config given with --config, relative to cwd', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'conf'));
    mkdirSync(join(dir, 'templates'));
    writeFileSync(
      join(dir, 'conf', 'fsm.config.mjs'),
      "export default { include: ['../src/*.ts'], outDir: '../gen', tablePrefix: 'app_', templates: '../templates' };\n",
    );
    const config = await loadConfig({ cwd: dir, config: 'conf/fsm.config.mjs' });
    expect(config).toMatchObject({
      root: join(dir, 'conf'),
      include: ['../src/*.ts'],
      outDir: join(dir, 'gen'),
      tablePrefix: 'app_',
      templates: join(dir, 'templates'),
    });
  });

  it('lets command-line values win, relative to cwd', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'app'));
    writeFileSync(join(dir, 'app', 'fsm.config.mjs'), "export default { include: ['src/*.ts'] };\n");
    const config = await loadConfig({ cwd: dir, config: 'app/fsm.config.mjs', overrides: { include: ['lib/*.ts'], outDir: 'out' } });
    expect(config.include).toEqual(['../lib/*.ts']);
    expect(config.outDir).toBe(join(dir, 'out'));
  });

  it('runs without a config file when --include is given', async () => {
    const dir = tempDir();
    const config = await loadConfig({ cwd: dir, overrides: { include: ['src/*.ts'] } });
    expect(config).toEqual({ root: dir, include: ['src/*.ts'], exclude: [], outDir: join(dir, 'src', 'generated'), tablePrefix: 'fsm_' });
  });

  it('says what is wrong with a config', async () => {
    const dir = tempDir();
    await expect(loadConfig({ cwd: dir })).rejects.toThrow(/no fsm\.config\.ts in/);
    await expect(loadConfig({ cwd: dir, config: 'missing.mjs' })).rejects.toBeInstanceOf(ConfigError);
    writeFileSync(join(dir, 'broken.mjs'), 'export default {;\n');
    await expect(loadConfig({ cwd: dir, config: 'broken.mjs' })).rejects.toThrow(/cannot load/);
    writeFileSync(join(dir, 'none.mjs'), 'export const x = 1;\n');
    await expect(loadConfig({ cwd: dir, config: 'none.mjs' })).rejects.toThrow(/no default export/);
    const context = { root: dir, cwd: dir };
    expect(() => resolveConfig({ include: [] }, context)).toThrow(/include must list at least one glob/);
    expect(() => resolveConfig({ include: 'src' }, context)).toThrow(/include must be an array/);
    expect(() => resolveConfig({ include: ['a'], tablePrefix: 'x; DROP' }, context)).toThrow(ConfigError);
    expect(() => resolveConfig({ include: ['a'], templates: 'nowhere' }, context)).toThrow(/templates folder/);
    expect(() => resolveConfig({ include: ['a'], outDir: 3 }, context)).toThrow(/outDir must be a non-empty string/);
  });
});
