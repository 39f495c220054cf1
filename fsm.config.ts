// `pnpm fsm generate` from the repository root regenerates the example service's runner;
// inside examples/orders, its own fsm.config.ts does the same.
import { defineConfig } from '@fsmkit/generator/config';

export default defineConfig({
  include: ['examples/orders/src/**/*.machine.ts'],
  outDir: 'examples/orders/src/generated',
});
