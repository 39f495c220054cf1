import { readFile } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** The console's files, shipped in the package's `console/` folder: no CDN, works offline. */
const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

/**
 * The console's pages hold no data: they are public, and the page calls the API with the
 * token the user gives it (kept in the tab's sessionStorage, never in a cookie).
 */
export async function serveConsole(app: FastifyInstance): Promise<void> {
  const dir = new URL('../console/', import.meta.url);
  const files = new Map<string, Buffer>();
  for (const name of Object.keys(FILES)) files.set(name, await readFile(new URL(name, dir)));
  const headers = {
    'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-cache',
  };
  const send = (name: string) => async (_: unknown, reply: FastifyReply) => reply.headers(headers).type(FILES[name]!).send(files.get(name));
  const page = send('index.html');
  app.get('/', async (request, reply) => {
    // The page's links are relative: mounted under a prefix, it must be served at `prefix/`.
    const path = request.url.split('?')[0]!;
    if (!path.endsWith('/')) return reply.redirect(`${path}/`);
    return page(request, reply);
  });
  for (const name of Object.keys(FILES)) app.get(`/console/${name}`, send(name));
}
