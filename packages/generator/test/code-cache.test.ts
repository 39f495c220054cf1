import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from './support.js';

const codeCache = fileURLToPath(new URL('../src/extract/code-cache.ts', import.meta.url));

/** Requires `module` through the code cache in a process of its own (the cache is written at exit), with TMPDIR at `tmp`. */
function load(module: string, tmp: string, env: Record<string, string> = {}): string {
  const script = `import { requireWithCodeCache } from ${JSON.stringify(codeCache)}; console.log(requireWithCodeCache(${JSON.stringify(module)}).answer());`;
  return execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, TMPDIR: tmp, ...env },
    encoding: 'utf8',
  }).trim();
}

function cacheFiles(tmp: string): string[] {
  const dirs = readdirSync(tmp).filter((d) => d.startsWith('fsmkit-compile-cache-'));
  return dirs.flatMap((d) => readdirSync(join(tmp, d)).map((f) => join(tmp, d, f)));
}

// Each case starts node processes through tsx: seconds on a busy machine.
describe('requireWithCodeCache', () => {
  it('runs a CommonJS module, keeps its code cache, reuses it, and writes it again when it does not fit', () => {
    const dir = tempDir();
    const module = join(dir, 'mod.cjs');
    writeFileSync(module, "const path = require('node:path');\nmodule.exports = { answer: () => path.basename(__filename) + ' ' + (6 * 7) };\n");
    expect(load(module, dir)).toBe('mod.cjs 42');
    const [cache] = cacheFiles(dir);
    expect(cache).toBeDefined();

    const past = new Date('2001-01-01T00:00:00Z');
    utimesSync(cache!, past, past);
    expect(load(module, dir)).toBe('mod.cjs 42');
    // Accepted: not written again.
    expect(statSync(cache!).mtimeMs).toBe(past.getTime());

    writeFileSync(cache!, 'not a code cache');
    expect(load(module, dir)).toBe('mod.cjs 42');
    expect(readFileSync(cache!, 'utf8')).not.toBe('not a code cache');
    expect(cacheFiles(dir)).toHaveLength(1);
  }, 60_000);

  it('keeps no cache with NODE_DISABLE_COMPILE_CACHE', () => {
    const dir = tempDir();
    const module = join(dir, 'mod.cjs');
    writeFileSync(module, 'module.exports = { answer: () => 1 };\n');
    expect(load(module, dir, { NODE_DISABLE_COMPILE_CACHE: '1' })).toBe('1');
    expect(cacheFiles(dir)).toEqual([]);
  }, 60_000);
});
