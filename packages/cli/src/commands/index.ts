import type { Command } from '../command.js';
import { consumeCommand } from './consume.js';
import { deadLettersCommand } from './dead-letters.js';
import { generateCommand } from './generate.js';
import { initCommand } from './init.js';
import { inspectCommand } from './inspect.js';
import { migrateCommand } from './migrate.js';
import { pruneCommand } from './prune.js';
import { relayCommand } from './relay.js';
import { serveCommand } from './serve.js';
import { startManyCommand } from './start-many.js';
import { statsCommand } from './stats.js';
import { workerCommand } from './worker.js';

/** Every `fsm` command, in the order `fsm --help` lists them. Add a command by adding its module here. */
export const commands: readonly Command[] = [
  initCommand,
  generateCommand,
  migrateCommand,
  inspectCommand,
  statsCommand,
  pruneCommand,
  relayCommand,
  deadLettersCommand,
  startManyCommand,
  workerCommand,
  consumeCommand,
  serveCommand,
];
