import { createRequire } from 'node:module';
import type { ts } from 'ts-morph';

/**
 * The TypeScript compiler API that ts-morph bundles, as a value (files import its types from
 * ts-morph with `import type`). Loaded with `require`: node's `import` of a CommonJS module
 * first scans its whole source for export names, about a quarter of a second for ts-morph.
 */
export const tsc: typeof ts = createRequire(import.meta.url)('ts-morph').ts;
