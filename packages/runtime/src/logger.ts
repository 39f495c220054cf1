/** Where the runtime reports what it cannot throw (a best-effort publish that failed, a lost lease). */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const noop = () => {};
export const noopLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

export const consoleLogger: Logger = {
  debug: (m, f) => console.debug(`[fsmkit] ${m}`, f ?? ''),
  info: (m, f) => console.info(`[fsmkit] ${m}`, f ?? ''),
  warn: (m, f) => console.warn(`[fsmkit] ${m}`, f ?? ''),
  error: (m, f) => console.error(`[fsmkit] ${m}`, f ?? ''),
};

/** A logger whose failures never reach the caller: a logger that throws must not fail a step or leave a promise unhandled. */
export function safeLogger(logger: Logger): Logger {
  const wrap =
    (level: keyof Logger) =>
    (message: string, fields?: Record<string, unknown>): void => {
      try {
        logger[level](message, fields);
      } catch {
        // Nothing sensible is left to report to.
      }
    };
  return { debug: wrap('debug'), info: wrap('info'), warn: wrap('warn'), error: wrap('error') };
}
