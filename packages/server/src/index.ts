export { createServer } from './server.js';
export { fsmkitRoutes } from './routes.js';
export { buildOpenApi } from './openapi.js';
export { createMetrics, ServerMetrics, type MetricsOptions, type OutboxEvent, type OutboxProbe } from './metrics.js';
export { tokensFromEnv, type FsmRoutesOptions, type Scope, type ServedMachine, type ServerOptions, type TokenConfig } from './options.js';
export type { Problem, ProblemCode, ServerProblemCode } from './problem.js';
