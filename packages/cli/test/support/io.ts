import type { Io } from '../../src/index.js';

/** An Io that records what a command prints, running in `cwd` (default: the process's). */
export function recorder(cwd = process.cwd()): Io & { stdout: string; stderr: string } {
  const io = {
    cwd,
    stdout: '',
    stderr: '',
    out: (text: string) => void (io.stdout += text),
    err: (text: string) => void (io.stderr += text),
  };
  return io;
}
