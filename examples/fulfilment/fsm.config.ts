import { defineConfig } from '@fsmkit/generator/config';

export default defineConfig({
  include: ['src/**/*.machine.ts'],
  outDir: 'src/generated',
});
