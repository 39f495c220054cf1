import type { Command } from '../command.js';
import { deadLettersCommand } from './dead-letters.js';
import { generateCommand } from './generate.js';
import { inspectCommand } from './inspect.js';
import { migrateCommand } from './migrate.js';
import { relayCommand } from './relay.js';
import { workerCommand } from './worker.js';

/** Every `fsm` command, in the order `fsm --help` lists them. Add a command by adding its module here. */
export const commands: readonly Command[] = [generateCommand, migrateCommand, inspectCommand, relayCommand, deadLettersCommand, workerCommand];
