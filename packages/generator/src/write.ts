import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GeneratedFile } from './emit/types.js';
import { isGenerated } from './header.js';

export interface WriteOptions {
  /** Absolute folder the files go to; created when missing. */
  outDir: string;
  /** Compare only: write and remove nothing, report what differs. */
  check?: boolean;
  /**
   * Subfolders (relative, `/`-separated) swept like outDir itself: generated files there that
   * are no longer wanted are removed. Other subfolders are never swept.
   */
  sweep?: string[];
  /**
   * `files` is only part of the output (a watch's update of the machines that changed): nothing
   * is swept; the generated files named in `remove` (relative to outDir) are removed instead.
   */
  partial?: { remove: readonly string[] };
}

export type StaleReason = 'missing' | 'changed' | 'extra';

export interface StaleFile {
  /** Absolute path. */
  path: string;
  reason: StaleReason;
}

export interface WriteResult {
  /** Absolute paths written (never in check mode). */
  written: string[];
  /** Absolute paths whose content was already right; left untouched, mtime kept. */
  unchanged: string[];
  /** Generated files of machines that no longer exist, removed (never in check mode). */
  removed: string[];
  /** In check mode: every file that is missing, differs, or should not be there. Else: the removed ones. */
  stale: StaleFile[];
}

/**
 * Brings outDir in line with `files` (whose paths may name subfolders). Only files that carry
 * the generated header, in outDir or a swept subfolder, are ever removed; anything else is left
 * alone. A file whose content is unchanged is not rewritten, so its mtime (and any watcher or
 * build cache) is left alone too.
 */
export function writeFiles(files: readonly GeneratedFile[], options: WriteOptions): WriteResult {
  const { outDir, check = false } = options;
  const listings = new Listings(outDir);
  if (!check) mkdirSync(outDir, { recursive: true });
  const result: WriteResult = { written: [], unchanged: [], removed: [], stale: [] };
  for (const file of files) {
    const path = join(outDir, file.path);
    const slash = file.path.lastIndexOf('/');
    const dir = slash < 0 ? '' : file.path.slice(0, slash);
    const current = listings.of(dir).has(file.path.slice(slash + 1)) ? readFileSync(path, 'utf8') : undefined;
    if (current === file.content) {
      result.unchanged.push(path);
      continue;
    }
    if (check) result.stale.push({ path, reason: current === undefined ? 'missing' : 'changed' });
    else {
      if (dir !== '') mkdirSync(join(outDir, dir), { recursive: true });
      writeFileSync(path, file.content);
      result.written.push(path);
    }
  }
  return removeUnwanted(files, options, result, listings);
}

/** One listing per folder instead of a failed read per new file: a first run writes thousands. */
export class Listings {
  private readonly listings = new Map<string, Set<string>>();

  constructor(private readonly outDir: string) {}

  /** Names in `dir` (relative to outDir, `/`-separated) when first asked. */
  of(dir: string): Set<string> {
    let names = this.listings.get(dir);
    if (names === undefined) {
      const abs = join(this.outDir, dir);
      names = new Set(existsSync(abs) ? readdirSync(abs) : []);
      this.listings.set(dir, names);
    }
    return names;
  }
}

/**
 * The second half of `writeFiles`, once every file is compared and written: removes the
 * generated files no longer wanted (in check mode: names them), and fills in `removed`.
 */
export function removeUnwanted(files: readonly GeneratedFile[], options: WriteOptions, result: WriteResult, listings: Listings): WriteResult {
  const { outDir, check = false } = options;
  const wanted = new Set(files.map((f) => f.path));
  const candidates = options.partial
    ? [...options.partial.remove].sort()
    : ['', ...(options.sweep ?? [])].flatMap((dir) => [...listings.of(dir)].sort().map((name) => (dir === '' ? name : `${dir}/${name}`)));
  for (const relPath of candidates) {
    const path = join(outDir, relPath);
    if (wanted.has(relPath) || !existsSync(path) || !statSync(path).isFile() || !isGenerated(readFileSync(path, 'utf8'))) continue;
    result.stale.push({ path, reason: 'extra' });
    if (!check) {
      rmSync(path);
      result.removed.push(path);
    }
  }
  return result;
}
