import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { headerText } from '../src/header.js';
import { BackgroundWriter } from '../src/write-background.js';
import { writeFiles, type WriteOptions, type WriteResult } from '../src/write.js';
import type { GeneratedFile } from '../src/emit/types.js';
import { tempDir } from './support.js';

const header = `// ${headerText()}\n`;
const files = [
  { path: 'a.runner.ts', content: `${header}export const a = 1;\n` },
  { path: 'b.sql', content: `-- ${headerText()}\nCREATE TABLE b (id INT);\n` },
];
const LONG_AGO = new Date('2001-01-01T00:00:00Z');

type Write = (files: readonly GeneratedFile[], options: WriteOptions) => Promise<WriteResult>;

/** The same files through the worker, added in a shuffled order as a run emits them. */
const inBackground: Write = async (files, options) => {
  const writer = new BackgroundWriter(options);
  for (const file of [...files].reverse()) writer.add([file]);
  return writer.finish(files);
};

describe.each<[string, Write]>([
  ['writeFiles', async (files, options) => writeFiles(files, options)],
  ['BackgroundWriter', inBackground],
])('%s', (_name, write) => {
  it('creates outDir and writes every file', async () => {
    const outDir = join(tempDir(), 'out', 'generated');
    const result = await write(files, { outDir });
    expect(result.written).toEqual(files.map((f) => join(outDir, f.path)));
    expect(readFileSync(join(outDir, 'b.sql'), 'utf8')).toBe(files[1]!.content);
  });

  it('does not rewrite a file whose content is unchanged: its mtime stays', async () => {
    const outDir = tempDir();
    await write(files, { outDir });
    for (const f of files) utimesSync(join(outDir, f.path), LONG_AGO, LONG_AGO);
    const changed = [files[0]!, { ...files[1]!, content: `${files[1]!.content}-- more\n` }];
    const result = await write(changed, { outDir });
    expect(result.unchanged).toEqual([join(outDir, 'a.runner.ts')]);
    expect(result.written).toEqual([join(outDir, 'b.sql')]);
    expect(statSync(join(outDir, 'a.runner.ts')).mtimeMs).toBe(LONG_AGO.getTime());
    expect(statSync(join(outDir, 'b.sql')).mtimeMs).toBeGreaterThan(LONG_AGO.getTime());
  });

  it('removes generated files that are no longer wanted, and only those', async () => {
    const outDir = tempDir();
    await write(files, { outDir });
    writeFileSync(join(outDir, 'handwritten.ts'), 'export const mine = true;\n');
    writeFileSync(join(outDir, 'old.json'), `{\n  "$comment": "${headerText()}"\n}\n`);
    mkdirSync(join(outDir, 'nested'));
    const result = await write([files[0]!], { outDir });
    expect(result.removed.sort()).toEqual([join(outDir, 'b.sql'), join(outDir, 'old.json')]);
    expect(result.stale.map((s) => s.reason)).toEqual(['extra', 'extra']);
    expect(existsSync(join(outDir, 'handwritten.ts'))).toBe(true);
    expect(existsSync(join(outDir, 'nested'))).toBe(true);
    expect(existsSync(join(outDir, 'b.sql'))).toBe(false);
  });

  it('in check mode writes nothing and names every missing, changed and extra file', async () => {
    const outDir = tempDir();
    await write(files, { outDir });
    writeFileSync(join(outDir, 'gone.mmd'), `%% ${headerText()}\n`);
    const before = statSync(join(outDir, 'a.runner.ts')).mtimeMs;
    const wanted = [
      { ...files[0]!, content: `${header}export const a = 2;\n` },
      files[1]!,
      { path: 'c.sql', content: `-- ${headerText()}\n` },
    ];
    const result = await write(wanted, { outDir, check: true });
    expect(result.stale).toEqual([
      { path: join(outDir, 'a.runner.ts'), reason: 'changed' },
      { path: join(outDir, 'c.sql'), reason: 'missing' },
      { path: join(outDir, 'gone.mmd'), reason: 'extra' },
    ]);
    expect(result.unchanged).toEqual([join(outDir, 'b.sql')]);
    expect(result.written).toEqual([]);
    expect(result.removed).toEqual([]);
    expect(existsSync(join(outDir, 'c.sql'))).toBe(false);
    expect(existsSync(join(outDir, 'gone.mmd'))).toBe(true);
    expect(statSync(join(outDir, 'a.runner.ts')).mtimeMs).toBe(before);
  });

  it('writes into subfolders, and sweeps only the subfolders it is told to', async () => {
    const outDir = tempDir();
    const nested = { path: 'meta/a.snapshot.json', content: `{\n  "$comment": "${headerText()}"\n}\n` };
    expect((await write([...files, nested], { outDir })).written).toContain(join(outDir, 'meta', 'a.snapshot.json'));
    mkdirSync(join(outDir, 'kept'));
    writeFileSync(join(outDir, 'kept', 'old.sql'), `-- ${headerText()}\n`);
    writeFileSync(join(outDir, 'meta', 'gone.snapshot.json'), nested.content);
    const check = await write([...files, nested], { outDir, check: true, sweep: ['meta'] });
    expect(check.stale).toEqual([{ path: join(outDir, 'meta', 'gone.snapshot.json'), reason: 'extra' }]);
    expect(check.unchanged).toContain(join(outDir, 'meta', 'a.snapshot.json'));
    const result = await write(files, { outDir, sweep: ['meta'] });
    expect(result.removed.sort()).toEqual([join(outDir, 'meta', 'a.snapshot.json'), join(outDir, 'meta', 'gone.snapshot.json')]);
    expect(existsSync(join(outDir, 'kept', 'old.sql'))).toBe(true);
  });

  it('in check mode reports a missing outDir without creating it', async () => {
    const outDir = join(tempDir(), 'absent');
    const result = await write(files, { outDir, check: true });
    expect(result.stale.map((s) => s.reason)).toEqual(['missing', 'missing']);
    expect(existsSync(outDir)).toBe(false);
  });
});

describe('BackgroundWriter', () => {
  it('writes many files across folders as writeFiles does, and lists them in path order', async () => {
    const many = Array.from({ length: 300 }, (_, i) => ({
      path: i % 3 === 0 ? `meta/m${i}.snapshot.json` : `m${i}.${i % 3 === 1 ? 'sql' : 'mmd'}`,
      content: `-- ${headerText()}\n-- ${i}\n`,
    })).sort((a, b) => (a.path < b.path ? -1 : 1));
    const [viaWorker, direct] = [tempDir(), tempDir()];
    const background = await inBackground(many, { outDir: viaWorker, sweep: ['meta'] });
    const sync = writeFiles(many, { outDir: direct, sweep: ['meta'] });
    expect(background.written.map((p) => p.slice(viaWorker.length))).toEqual(sync.written.map((p) => p.slice(direct.length)));
    for (const f of many) expect(readFileSync(join(viaWorker, f.path), 'utf8')).toBe(f.content);
    const again = await inBackground(many, { outDir: viaWorker, check: true, sweep: ['meta'] });
    expect(again.stale).toEqual([]);
    expect(again.unchanged).toHaveLength(many.length);
  });

  it('fails with the file system error, and can be stopped before the end', async () => {
    const blocked = join(tempDir(), 'a-file');
    writeFileSync(blocked, 'not a folder');
    await expect(inBackground(files, { outDir: blocked })).rejects.toThrow(/a-file/);
    const writer = new BackgroundWriter({ outDir: tempDir() });
    writer.add(files);
    await writer.abort();
  });

  it('works in a process started with --input-type=module, whose settings its worker inherits', () => {
    const outDir = tempDir();
    const source = fileURLToPath(new URL('../src/write-background.ts', import.meta.url));
    const script = `import { BackgroundWriter } from ${JSON.stringify(source)};
const files = [{ path: 'a.sql', content: 'x' }];
const writer = new BackgroundWriter({ outDir: ${JSON.stringify(outDir)} });
writer.add(files);
console.log((await writer.finish(files)).written.length);`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(out.trim()).toBe('1');
    expect(readFileSync(join(outDir, 'a.sql'), 'utf8')).toBe('x');
  }, 60_000);
});
