import { EXIT_OK, EXIT_USAGE, UsageError, type Command, type Io } from './command.js';
import { commands } from './commands/index.js';

export function usage(list: readonly Command[] = commands): string {
  const width = Math.max(...list.map((c) => c.name.length));
  return [
    'Usage: fsm <command> [options]',
    '',
    'Commands:',
    ...list.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `fsm <command> --help` for the options of a command.',
  ].join('\n');
}

const processIo: Io = {
  cwd: process.cwd(),
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  ...(process.stderr.isTTY ? { terminal: process.stderr } : {}),
};

/** Runs `fsm` with the arguments after the program name; resolves to the exit code. */
export async function main(argv: readonly string[], io: Io = processIo, list: readonly Command[] = commands): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.err(`${usage(list)}\n`);
    return EXIT_USAGE;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    io.out(`${usage(list)}\n`);
    return EXIT_OK;
  }
  const command = list.find((c) => c.name === name);
  if (!command) {
    io.err(`fsm: unknown command "${name}"\n\n${usage(list)}\n`);
    return EXIT_USAGE;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`fsm ${command.name}: ${error.message}\n\n${command.usage}\n`);
    return EXIT_USAGE;
  }
}
