import cors from '@fastify/cors';
import Fastify, { type FastifyInstance } from 'fastify';
import { DEFAULT_BODY_LIMIT, type ServerOptions } from './options.js';
import { fsmkitRoutes, notFound } from './routes.js';

/** A fastify server with the API, the console at `/` and `/metrics`; call `listen` on it. */
export async function createServer(options: ServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // Reject what a schema does not allow instead of quietly dropping it.
    ajv: { customOptions: { removeAdditional: false } },
  });
  if (options.cors) {
    // A list, so that another origin gets no Access-Control-Allow-Origin at all.
    const origin = Array.isArray(options.cors.origin) ? options.cors.origin : [options.cors.origin];
    await app.register(cors, { origin });
  }
  app.setNotFoundHandler(notFound);
  await app.register(fsmkitRoutes, options);
  return app;
}
