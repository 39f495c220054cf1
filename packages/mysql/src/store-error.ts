import { FsmError } from '@fsmkit/runtime';

/** What a driver error carries that we look at. */
interface DriverError {
  code?: unknown;
  errno?: unknown;
  fatal?: unknown;
  message?: unknown;
}

/** The database did not answer within `queryTimeoutMs`. */
export class QueryTimeoutError extends Error {
  override readonly name = 'QueryTimeoutError';
  readonly code = 'QUERY_TIMEOUT';

  constructor(ms: number) {
    super(`no answer from the database within queryTimeoutMs (${ms} ms)`);
  }
}

const CONNECTION_CODES = new Set([
  'QUERY_TIMEOUT',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ER_CONNECTION_KILLED',
  'ER_SERVER_SHUTDOWN',
]);

/** 1406 ER_DATA_TOO_LONG, 1153 ER_NET_PACKET_TOO_LARGE, 1301 ER_WARN_ALLOWED_PACKET_OVERFLOWED. */
const TOO_LARGE_ERRNOS = new Set([1406, 1153, 1301]);

/**
 * True when the connection an error came from can no longer be trusted: a socket that closed,
 * a server that killed it, or a timed-out command whose reply may still arrive.
 */
export function isConnectionError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || error instanceof FsmError) return false;
  const e = error as DriverError;
  if (e.fatal === true) return true;
  if (typeof e.code === 'string' && CONNECTION_CODES.has(e.code)) return true;
  // mysql2 refuses commands on a socket it already saw close.
  return typeof e.message === 'string' && e.message.includes('closed state');
}

export function isTooLargeError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && TOO_LARGE_ERRNOS.has((error as DriverError).errno as number);
}

export interface ErrorScope {
  operation: string;
  machine?: string;
  id?: string;
}

function describe(scope: ErrorScope): string {
  const what = scope.machine === undefined ? '' : scope.id === undefined ? ` ${scope.machine}` : ` ${scope.machine} instance ${scope.id}`;
  return `${scope.operation}${what}`;
}

/** Wraps a driver error; FsmErrors raised on purpose pass through untouched. */
export function storeError(scope: ErrorScope, cause: unknown): FsmError {
  if (cause instanceof FsmError) return cause;
  const e = (typeof cause === 'object' && cause !== null ? cause : {}) as DriverError;
  const detail = typeof e.message === 'string' ? e.message : String(cause);
  const context = { ...scope, driverCode: typeof e.code === 'string' ? e.code : undefined };
  if (isTooLargeError(cause)) {
    return new FsmError(
      'FSM_DATA_TOO_LARGE',
      `mysql store could not ${describe(scope)}: ${detail}. A value exceeds its column or the server's max_allowed_packet; nothing was written. Store less data or raise the limit.`,
      { cause, context },
    );
  }
  const advice = isConnectionError(cause)
    ? 'The connection to the database was lost or timed out: the server rolls an open transaction back, so the last committed state stands (if COMMIT itself was cut off, read the instance to see whether it landed). Retry when the server answers.'
    : 'Check the database server and schema (run `fsm migrate` or `ensureSchema`).';
  return new FsmError('FSM_STORE', `mysql store could not ${describe(scope)}: ${detail}. ${advice}`, { cause, context });
}

export function tooLarge(scope: ErrorScope, field: string, bytes: number, limit: number): FsmError {
  return new FsmError(
    'FSM_DATA_TOO_LARGE',
    `mysql store could not ${describe(scope)}: ${field} is ${bytes} bytes, over the limit of ${limit}. Nothing was written; keep large payloads outside the instance data.`,
    { context: { ...scope, field, bytes, limit } },
  );
}
