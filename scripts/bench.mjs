#!/usr/bin/env node
// `pnpm bench <name> [args]`: runs bench/<name>.mjs or bench/<name>.ts with tsx, resolving the
// workspace packages to their TypeScript sources (the `source` export condition).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const benchDir = fileURLToPath(new URL('../bench/', import.meta.url));
const available = readdirSync(benchDir)
  .filter((f) => /\.(mjs|ts)$/.test(f) && !f.endsWith('.d.ts'))
  .map((f) => f.replace(/\.(mjs|ts)$/, ''))
  .sort();
const [name, ...args] = process.argv.slice(2);
const file = name && ['mjs', 'ts'].map((ext) => `${benchDir}${name}.${ext}`).find((f) => existsSync(f));
if (!file) {
  console.error(`${name ? `unknown benchmark "${name}"\n` : ''}Usage: pnpm bench <name>\nBenchmarks: ${available.join(', ')}`);
  process.exit(2);
}
const tsx = import.meta.resolve('tsx');
const run = spawnSync(process.execPath, ['--conditions=source', '--import', tsx, file, ...args], { stdio: 'inherit' });
process.exit(run.status ?? 1);
