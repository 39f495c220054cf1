import type { JsonSchema, MachineRunner } from '@fsmkit/runtime';
import type { OutboxProbe, ServerMetrics } from './metrics.js';

/** `read`: every GET and the read-only POSTs; `operate`: also start, transition, pause, resume, next, back, compensate. */
export type Scope = 'read' | 'operate';

export interface TokenConfig {
  token: string;
  scopes: Scope[];
  /** Who calls with it: recorded as the actor of the transitions it runs. */
  name?: string;
}

export interface ServedMachine {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any runner, whatever its data type
  runner: MachineRunner<any, any, any>;
  /** JSON Schema of the machine's data: new instances are checked against it and the OpenAPI document shows it. */
  dataSchema?: JsonSchema;
}

export interface FsmRoutesOptions {
  machines: ServedMachine[];
  auth: { tokens: TokenConfig[] };
  /** Paths into instance data (`card.number`, `email`) whose values responses replace with "[redacted]". */
  redact?: string[];
  /** Serve the web console at `/` of the mount point. Default true. */
  console?: boolean;
  /** Where `/metrics` reads lock waits and the outbox; default: a new one (no lock waits, no outbox). */
  metrics?: ServerMetrics;
  /** Largest request body, in bytes. Default 64 KiB. */
  bodyLimit?: number;
  /** The event outbox, for an instance's events and the failing ones (`/metrics` takes its own, in `metrics`). */
  outbox?: OutboxProbe;
}

export interface ServerOptions extends FsmRoutesOptions {
  /** Off unless given: the origins allowed to call the API from a browser. */
  cors?: { origin: string | string[] };
  /** fastify's logger option; default off. */
  logger?: boolean;
}

export const DEFAULT_BODY_LIMIT = 64 * 1024;

/**
 * Tokens from the environment: `FSM_READ_TOKENS` and `FSM_OPERATE_TOKENS`, comma-separated
 * (each entry `token` or `name:token`).
 */
export function tokensFromEnv(env: Record<string, string | undefined> = process.env): TokenConfig[] {
  const parse = (text: string | undefined, scopes: Scope[]): TokenConfig[] =>
    (text ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0)
      .map((entry) => {
        const at = entry.indexOf(':');
        return at > 0 ? { name: entry.slice(0, at), token: entry.slice(at + 1), scopes } : { token: entry, scopes };
      });
  return [...parse(env['FSM_READ_TOKENS'], ['read']), ...parse(env['FSM_OPERATE_TOKENS'], ['read', 'operate'])];
}

