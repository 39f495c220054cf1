import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ProblemError } from './problem.js';
import type { Scope, TokenConfig } from './options.js';

export interface Caller {
  scopes: ReadonlySet<Scope>;
  name: string | null;
}

const digest = (token: string): string => createHash('sha256').update(token).digest('hex');

/**
 * Checks bearer tokens. Tokens are kept and looked up by their SHA-256, so a lookup's time
 * says nothing about how much of a guessed token was right.
 */
export class TokenAuth {
  private readonly byDigest = new Map<string, Caller>();

  constructor(tokens: TokenConfig[]) {
    for (const t of tokens) {
      if (typeof t.token !== 'string' || t.token.length < 8) throw new TypeError('every token must be a string of at least 8 characters');
      const scopes = new Set<Scope>(t.scopes);
      // Who may operate may read.
      if (scopes.has('operate')) scopes.add('read');
      this.byDigest.set(digest(t.token), { scopes, name: t.name ?? null });
    }
  }

  get empty(): boolean {
    return this.byDigest.size === 0;
  }

  /** The caller of a request that needs `scope`; throws a 401 or 403 problem otherwise. */
  check(request: FastifyRequest, reply: FastifyReply, scope: Scope): Caller {
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer ([\x21-\x7e]+)$/i.exec(header.trim()) : null;
    const caller = match ? this.byDigest.get(digest(match[1]!)) : undefined;
    if (!caller) {
      void reply.header('www-authenticate', 'Bearer realm="fsmkit"');
      throw new ProblemError(401, 'FSM_UNAUTHORIZED', 'Unauthorized', match ? 'the bearer token is not valid' : 'send a bearer token: Authorization: Bearer <token>');
    }
    if (!caller.scopes.has(scope)) throw new ProblemError(403, 'FSM_FORBIDDEN', 'Forbidden', `this token lacks the "${scope}" scope`);
    return caller;
  }
}
