import type { Command } from '../command.js';
import { generateCommand } from './generate.js';

/** Every `fsm` command, in the order `fsm --help` lists them. Add a command by adding its module here. */
export const commands: readonly Command[] = [generateCommand];
