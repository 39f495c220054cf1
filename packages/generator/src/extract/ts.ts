import { createRequire } from 'node:module';
import type { ts } from 'ts-morph';
import { requireWithCodeCache } from './code-cache.js';

/**
 * The TypeScript compiler API that ts-morph bundles, as a value (files import its types from
 * ts-morph with `import type`). Only the compiler itself is loaded: ts-morph's own 4 MB of
 * wrappers, which nothing here uses, cost a tenth of a second to compile and run at every
 * start; and the compiler with V8's code cache (see requireWithCodeCache). Loaded the
 * CommonJS way: node's `import` of a CommonJS module first scans its whole source for export
 * names, about a quarter of a second for the compiler.
 */
export const tsc: typeof ts = loadCompiler();

function loadCompiler(): typeof ts {
  const require = createRequire(import.meta.url);
  let path: string;
  try {
    // ts-morph's own dependency, found from ts-morph's folder (it need not be resolvable from here).
    path = createRequire(require.resolve('ts-morph')).resolve('@ts-morph/common/dist/typescript.js');
  } catch {
    return (require('ts-morph') as { ts: typeof ts }).ts;
  }
  return requireWithCodeCache(path) as typeof ts;
}
