import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';

/** Absolute path of a file under test/fixtures. */
export function fixture(...parts: string[]): string {
  return fileURLToPath(new URL(`./fixtures/${parts.join('/')}`, import.meta.url));
}

/** 1-based line and column of the `nth` occurrence of `snippet` in a file, found independently of the generator. */
export function at(file: string, snippet: string, nth = 1): { line: number; column: number } {
  const text = readFileSync(file, 'utf8');
  let index = -1;
  for (let i = 0; i < nth; i++) {
    index = text.indexOf(snippet, index + 1);
    if (index < 0) throw new Error(`"${snippet}" occurs fewer than ${nth} times in ${file}`);
  }
  const before = text.slice(0, index).split('\n');
  return { line: before.length, column: before.at(-1)!.length + 1 };
}

/** A fresh temporary folder, removed when the test ends. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fsm-generator-test-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Copies fixture files or folders into `dir` (each under its own name, or `as`). */
export function copyInto(dir: string, source: string, as?: string): string {
  const target = join(dir, as ?? source.split('/').at(-1)!);
  cpSync(source, target, { recursive: true });
  return target;
}

export const SHOP_MACHINES = ['audit.machine.ts', 'order.machine.ts', 'payment.machine.ts', 'report.machine.ts'].map((f) =>
  fixture('shop', 'src', f),
);
