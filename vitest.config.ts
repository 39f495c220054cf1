import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

/**
 * Tests import workspace packages from `src` (the `source` export condition). swc compiles
 * them because it is the one transform that handles both legacy decorators with
 * emitDecoratorMetadata and TC39 standard decorators (see TOOLCHAIN notes in the readme).
 */
const legacy = swc.vite({
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2022',
  },
});
const standard = swc.vite({
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { decoratorVersion: '2022-03' },
    target: 'es2022',
  },
});
const resolve = { conditions: ['source', 'import', 'default'] };
const ssr = { resolve: { conditions: ['source', 'import', 'default'], externalConditions: ['source'] } };

export default defineConfig({
  test: {
    // The JSON report lets .ci/run print a plain "N passed, N failed" closing line.
    reporters: ['default', 'json'],
    outputFile: { json: '.cache/vitest-report.json' },
    projects: [
      {
        plugins: [legacy],
        resolve,
        ssr,
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/*.tc39.test.ts', '**/*.int.test.ts', '**/node_modules/**'],
        },
      },
      {
        plugins: [standard],
        resolve,
        ssr,
        test: { name: 'tc39', include: ['packages/*/test/**/*.tc39.test.ts'] },
      },
      {
        plugins: [legacy],
        resolve,
        ssr,
        test: {
          // Real MariaDB and Kafka: one file at a time, each owning its tables and topics.
          name: 'integration',
          include: ['packages/*/test/**/*.int.test.ts', 'examples/*/test/**/*.int.test.ts', 'test/**/*.int.test.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
