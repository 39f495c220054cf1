/**
 * Resolves on SIGTERM or SIGINT (or when `stop` aborts), for commands that run until told to
 * stop; a second signal then acts as usual.
 */
export function stopped(stop: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGTERM', done);
      process.off('SIGINT', done);
      stop?.removeEventListener('abort', done);
      resolve();
    };
    if (stop?.aborted) return done();
    process.once('SIGTERM', done);
    process.once('SIGINT', done);
    stop?.addEventListener('abort', done, { once: true });
  });
}
