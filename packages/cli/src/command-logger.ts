import type { Logger } from '@fsmkit/runtime';
import type { Io } from './command.js';

/**
 * The logger a long-running command hands the runtime: warnings and errors to stderr as one
 * line each, prefixed with the command (`fsm worker: ...`) and the fields as `k=v`; `info` to
 * stdout when asked for.
 */
export function commandLogger(io: Io, command: string, options: { info?: boolean } = {}): Logger {
  const line = (message: string, fields?: Record<string, unknown>) => `fsm ${command}: ${message}${fieldsText(fields)}\n`;
  return {
    debug: () => undefined,
    info: options.info ? (message, fields) => io.out(line(message, fields)) : () => undefined,
    warn: (message, fields) => io.err(line(message, fields)),
    error: (message, fields) => io.err(line(message, fields)),
  };
}

function fieldsText(fields: Record<string, unknown> | undefined): string {
  if (!fields) return '';
  const parts = Object.entries(fields).map(([k, v]) => `${k}=${v instanceof Error ? v.message : typeof v === 'string' ? v : JSON.stringify(v)}`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}
