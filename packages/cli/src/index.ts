export { main, usage } from './main.js';
export { commands } from './commands/index.js';
export { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from './command.js';
export type { Command, Io } from './command.js';
// The light subpath: `fsm --help` and config files must not load the TypeScript compiler.
export { defineConfig, type FsmConfig } from '@fsmkit/generator/config';
