import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GeneratedFile } from './emit/types.js';
import { isGenerated } from './header.js';

export interface WriteOptions {
  /** Absolute folder the files go to; created when missing. */
  outDir: string;
  /** Compare only: write and remove nothing, report what differs. */
  check?: boolean;
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
 * Brings outDir in line with `files`. Only files that carry the generated header are ever
 * removed; anything else in outDir is left alone. A file whose content is unchanged is not
 * rewritten, so its mtime (and any watcher or build cache) is left alone too.
 */
export function writeFiles(files: readonly GeneratedFile[], options: WriteOptions): WriteResult {
  const { outDir, check = false } = options;
  const result: WriteResult = { written: [], unchanged: [], removed: [], stale: [] };
  const wanted = new Set(files.map((f) => f.path));
  // One listing instead of a failed read per new file: a first run writes thousands.
  const present = new Set(existsSync(outDir) ? readdirSync(outDir) : []);
  if (!check) mkdirSync(outDir, { recursive: true });

  for (const file of files) {
    const path = join(outDir, file.path);
    const current = present.has(file.path) ? readFileSync(path, 'utf8') : undefined;
    if (current === file.content) {
      result.unchanged.push(path);
      continue;
    }
    if (check) result.stale.push({ path, reason: current === undefined ? 'missing' : 'changed' });
    else {
      writeFileSync(path, file.content);
      result.written.push(path);
    }
  }

  for (const name of [...present].sort()) {
    const path = join(outDir, name);
    if (wanted.has(name) || !statSync(path).isFile() || !isGenerated(readFileSync(path, 'utf8'))) continue;
    result.stale.push({ path, reason: 'extra' });
    if (!check) {
      rmSync(path);
      result.removed.push(path);
    }
  }
  return result;
}
