import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Exit codes of every command: success, a failure the user must fix (diagnostics, stale files), bad usage. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Where a command writes and which folder it runs in; tests pass their own. */
export interface Io {
  cwd: string;
  out(text: string): void;
  err(text: string): void;
  /** Where a long command may draw a progress line: the terminal its errors go to, if any. */
  terminal?: NodeJS.WriteStream;
}

/** One `fsm <name>` command: a module under commands/, listed in commands/index.ts. */
export interface Command {
  name: string;
  /** One line for `fsm --help`. */
  summary: string;
  /** Full help for `fsm <name> --help`. */
  usage: string;
  /** Runs with the arguments after the command name; returns the exit code. */
  run(args: string[], io: Io): Promise<number>;
}

/** Bad arguments: the CLI prints the message and the command's usage, and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const HELP = { help: { type: 'boolean', short: 'h', default: false } } as const;
type FlagOptions = NonNullable<ParseArgsConfig['options']>;
/** The parsed values of a command's flags, typed from its option table. */
export type Flags<O extends FlagOptions> = ReturnType<
  typeof parseArgs<{ args: string[]; strict: true; allowPositionals: false; options: O & typeof HELP }>
>['values'];

/**
 * A command's flags: no positionals, unknown flags refused with a UsageError, and `-h/--help`
 * for every command, which prints `usage` and yields null (the command then exits 0).
 */
export function parseFlags<const O extends FlagOptions>(args: string[], options: O, usage: string, io: Io): Flags<O> | null {
  let values: Flags<O>;
  try {
    values = parseArgs({ args, strict: true, allowPositionals: false, options: { ...options, ...HELP } }).values as Flags<O>;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if ((values as { help?: boolean }).help) {
    io.out(`${usage}\n`);
    return null;
  }
  return values;
}
