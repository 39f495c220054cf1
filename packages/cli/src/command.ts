/** Exit codes of every command: success, a failure the user must fix (diagnostics, stale files), bad usage. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Where a command writes and which folder it runs in; tests pass their own. */
export interface Io {
  cwd: string;
  out(text: string): void;
  err(text: string): void;
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
