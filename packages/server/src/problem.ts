import { isFsmError, type FsmErrorCode } from '@fsmkit/runtime';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

/** Codes of the problems the server itself answers, beside every FsmError code. */
export type ServerProblemCode =
  | 'FSM_UNAUTHORIZED'
  | 'FSM_FORBIDDEN'
  | 'FSM_BAD_REQUEST'
  | 'FSM_BODY_TOO_LARGE'
  | 'FSM_UNSUPPORTED_MEDIA_TYPE'
  | 'FSM_ROUTE_NOT_FOUND'
  | 'FSM_NOT_SUPPORTED'
  | 'FSM_INTERNAL';

export type ProblemCode = FsmErrorCode | ServerProblemCode;

/** An RFC 9457 problem detail. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  code: ProblemCode;
  errors?: Array<{ path: string; message: string }>;
}

/** A problem the server raises itself (auth, bad requests). */
export class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly code: ServerProblemCode | FsmErrorCode,
    readonly title: string,
    detail: string,
    readonly errors?: Array<{ path: string; message: string }>,
  ) {
    super(detail);
  }
}

/** HTTP status by FsmError code: what the caller did wrong, or what it ran into. */
const STATUS: Partial<Record<FsmErrorCode, number>> = {
  FSM_NOT_FOUND: 404,
  FSM_INPUT_INVALID: 422,
  FSM_GUARD_REJECTED: 409,
  FSM_TRANSITION_NOT_ALLOWED: 409,
  FSM_INSTANCE_BUSY: 409,
  FSM_STALE_VERSION: 409,
  FSM_INVALID_STATE: 409,
  FSM_LOCK_BUSY: 409,
  FSM_LOCK_TIMEOUT: 409,
  FSM_DEFINITION_CHANGED: 409,
  FSM_BAD_TARGET: 422,
  FSM_DATA_TOO_LARGE: 413,
  FSM_SERIALIZE: 422,
  FSM_STORE: 503,
};

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};

export const problemType = (code: string): string => `urn:fsmkit:problem:${code}`;

export function sendProblem(request: FastifyRequest, reply: FastifyReply, p: Omit<Problem, 'type' | 'instance'>): FastifyReply {
  const body: Problem = { type: problemType(p.code), title: p.title, status: p.status, detail: p.detail, instance: request.url, code: p.code };
  if (p.errors) body.errors = p.errors;
  return reply.code(p.status).type('application/problem+json').send(body);
}

/** Every error of the routes as application/problem+json, the status following the error. */
export function problemHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof ProblemError) {
    return sendProblem(request, reply, {
      status: error.status,
      code: error.code,
      title: error.title,
      detail: error.message,
      ...(error.errors ? { errors: error.errors } : {}),
    });
  }
  if (isFsmError(error)) {
    const status = STATUS[error.code] ?? 500;
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    return sendProblem(request, reply, { status, code: error.code, title: TITLES[status] ?? 'Error', detail: error.message });
  }
  const fe = error as FastifyError;
  if (fe.validation) {
    const errors = fe.validation.map((v) => ({ path: `${fe.validationContext ?? ''}${v.instancePath}`, message: v.message ?? 'is invalid' }));
    return sendProblem(request, reply, { status: 400, code: 'FSM_BAD_REQUEST', title: TITLES[400]!, detail: fe.message, errors });
  }
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return sendProblem(request, reply, { status: 413, code: 'FSM_BODY_TOO_LARGE', title: TITLES[413]!, detail: 'the request body is larger than the server accepts' });
  }
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return sendProblem(request, reply, { status: 415, code: 'FSM_UNSUPPORTED_MEDIA_TYPE', title: TITLES[415]!, detail: 'send the body as application/json' });
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return sendProblem(request, reply, { status: fe.statusCode, code: 'FSM_BAD_REQUEST', title: TITLES[fe.statusCode] ?? 'Bad Request', detail: fe.message });
  }
  request.log.error({ err: error }, 'request failed');
  // The message of an unexpected error may hold anything: it stays in the log.
  return sendProblem(request, reply, { status: 500, code: 'FSM_INTERNAL', title: TITLES[500]!, detail: 'the server failed; see its log' });
}
