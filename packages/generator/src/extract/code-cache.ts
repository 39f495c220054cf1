import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';

/**
 * Requires a large CommonJS file with V8's code cache kept between runs, as node's own compile
 * cache does from node 22.1 (`module.enableCompileCache`, which tsc turns on): compiling the
 * 9 MB compiler costs about a third of a second at every start, reading its cache a tenth. The
 * cache lives in the OS temp folder, one file per source file, size, mtime, node version and
 * user; V8 rejects a cache that does not match, and then a new one is written when the process
 * exits (it then also holds the functions compiled during the run). `NODE_DISABLE_COMPILE_CACHE=1`
 * turns it off, as it does node's. Any failure falls back to a plain `require`.
 */
export function requireWithCodeCache(path: string): unknown {
  const require = createRequire(path);
  if (process.env.NODE_DISABLE_COMPILE_CACHE) return require(path);
  try {
    const stat = statSync(path);
    const key = createHash('sha256').update(`${path}\0${stat.size}\0${stat.mtimeMs}\0${process.version}\0${process.arch}`).digest('hex');
    const cacheFile = join(tmpdir(), `fsmkit-compile-cache-${process.getuid?.() ?? 'user'}`, `${key.slice(0, 32)}.bin`);
    let cachedData: Buffer | undefined;
    try {
      cachedData = readFileSync(cacheFile);
    } catch {
      cachedData = undefined;
    }
    // The wrapper node's CommonJS loader puts around a module.
    const source = `(function (exports, require, module, __filename, __dirname) { ${readFileSync(path, 'utf8')}\n})`;
    const script = new Script(source, { filename: path, ...(cachedData ? { cachedData } : {}) });
    const module = { exports: {} as unknown };
    (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, require, module, path, dirname(path));
    if (cachedData === undefined || script.cachedDataRejected) process.once('exit', () => saveCache(script, cacheFile));
    return module.exports;
  } catch {
    return require(path);
  }
}

/** Written beside, then renamed: another process reading the cache meanwhile sees all or nothing. */
function saveCache(script: Script, cacheFile: string): void {
  try {
    mkdirSync(dirname(cacheFile), { recursive: true, mode: 0o700 });
    const partial = `${cacheFile}.${process.pid}`;
    writeFileSync(partial, script.createCachedData());
    renameSync(partial, cacheFile);
  } catch {
    // Only a cache: the next run compiles again.
  }
}
