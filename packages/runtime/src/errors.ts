/** Stable codes of every error fsmkit throws. Match on `code`, never on the message. */
export type FsmErrorCode =
  | 'FSM_NOT_FOUND'
  | 'FSM_INVALID_MODEL'
  | 'FSM_INVALID_STATE'
  | 'FSM_STALE_VERSION'
  | 'FSM_SERIALIZE'
  | 'FSM_DESERIALIZE'
  | 'FSM_DEFINITION_CHANGED'
  | 'FSM_STEP_FAILED'
  | 'FSM_STEP_TIMEOUT'
  | 'FSM_LOCK_TIMEOUT'
  | 'FSM_LOCK_BUSY'
  | 'FSM_LOCK_LOST'
  | 'FSM_STORE'
  | 'FSM_DATA_TOO_LARGE'
  | 'FSM_MIGRATION_CHANGED'
  | 'FSM_EVENTS'
  | 'FSM_INSTANCE_BUSY'
  | 'FSM_INPUT_INVALID'
  | 'FSM_TRANSITION_NOT_ALLOWED'
  | 'FSM_GUARD_REJECTED'
  | 'FSM_BAD_TARGET'
  | 'FSM_STEP_FAILED_EARLY'
  | 'FSM_TAKEOVER_LIMIT'
  | 'FSM_HISTORY_LIMIT'
  | 'FSM_COMMIT_REFUSED'
  | 'FSM_TOPIC_INVALID'
  | 'FSM_WAIT_INVALID'
  | 'FSM_WAIT_TIMEOUT'
  | 'FSM_CHILD_MACHINE_UNKNOWN'
  | 'FSM_CHILD_FAILED'
  | 'FSM_SOURCE_NOT_DONE'
  | 'FSM_SOURCE_STEP_NOT_COMPLETED';

/**
 * The one base class of fsmkit errors: a stable `code`, typed context fields, and `cause`.
 * Messages say what went wrong and what to do.
 */
export class FsmError extends Error {
  override readonly name: string = 'FsmError';
  readonly code: FsmErrorCode;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(
    code: FsmErrorCode,
    message: string,
    options: { cause?: unknown; context?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.context = Object.freeze({ ...(options.context ?? {}) });
  }
}

export function isFsmError(error: unknown, code?: FsmErrorCode): error is FsmError {
  return error instanceof FsmError && (code === undefined || error.code === code);
}

/** A plain, JSON-safe description of an error, as stored in history and on the instance. */
export interface ErrorInfo {
  name: string;
  message: string;
  code?: string;
  stack?: string;
}

export function errorInfo(error: unknown): ErrorInfo {
  if (error instanceof Error) {
    const info: ErrorInfo = { name: error.name, message: error.message };
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') info.code = code;
    if (error.stack) info.stack = error.stack;
    return info;
  }
  return { name: 'NonError', message: String(error) };
}
