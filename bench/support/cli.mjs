/**
 * How the generator benchmarks start `fsm`: the built CLI (dist), as an installed package runs
 * it, when it has been built; else bin/fsm.mjs, which in a checkout runs the TypeScript sources
 * through tsx (a transform a user never pays for, so build first: `pnpm build`).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = new URL('../../packages/cli/dist/index.js', import.meta.url);
const bin = fileURLToPath(new URL('../../packages/cli/bin/fsm.mjs', import.meta.url));
const built = existsSync(dist);

/** Node arguments that run `fsm <args>`. */
export function cliArgs(...args) {
  if (!built) return [bin, ...args];
  const entry = `const { main } = await import(${JSON.stringify(dist.href)}); process.exitCode = await main(process.argv.slice(1));`;
  return ['--input-type=module', '-e', entry, ...args];
}

export function cliMode() {
  return built ? 'built CLI (dist)' : 'CLI sources through tsx';
}
