#!/usr/bin/env node
// The `fsm` command. In a checkout of the fsmkit repository (sources present) it runs the
// TypeScript sources through tsx, so an edit never runs against a stale build; an installed
// package ships only dist, and runs that.
import { existsSync } from 'node:fs';
import { register } from 'node:module';

const source = new URL('../src/index.ts', import.meta.url);
let cli;
if (existsSync(source)) {
  const { register: registerTsx } = await import('tsx/esm/api');
  registerTsx();
  // Registered after tsx, so it runs first and hands tsx the `source` export condition.
  register('./source-condition.mjs', import.meta.url);
  cli = await import(source.href);
} else {
  cli = await import(new URL('../dist/index.js', import.meta.url).href);
}
process.exitCode = await cli.main(process.argv.slice(2));
