import { defineConfig } from '@fsmkit/generator';

export default defineConfig({
  include: ['src/**/*.machine.ts'],
  outDir: 'src/generated',
});
