import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { AppContext } from './context.ts';
import { oidcConnect } from './plugin.ts';
import { securityHeaders } from './security-headers.ts';
import { render, stylesheet } from './views.ts';

/**
 * Fastify 5 trusts no hop for a bare number (it can't check the peer), so a hop count becomes what
 * it means in Express: trust the nearest N addresses, the connecting peer first.
 */
function trustProxy(setting: boolean | number | string): boolean | string | ((address: string, hop: number) => boolean) {
  return typeof setting === 'number' ? (_address, hop) => hop < setting : setting;
}

/** The tutorial's app: the sign-in plugin plus a home page that greets the user. */
export async function buildApp(ctx: AppContext, options: { logger?: FastifyServerOptions['logger'] } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    trustProxy: trustProxy(ctx.config.trustProxy),
    bodyLimit: 64 * 1024,
    routerOptions: { maxParamLength: 200 },
    // Long enough for slow clients, short enough that a dead one can't hold a socket.
    requestTimeout: 30_000,
    genReqId: () => crypto.randomUUID(),
  });
  await app.register(oidcConnect, ctx);

  // The tutorial's own pages carry the same security headers as the plugin's.
  await app.register(async (pages) => {
    await securityHeaders(pages);

    pages.get('/static/app.css', { config: { session: false } }, async (_request, reply) =>
      reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(stylesheet));

    pages.get('/', async (request, reply) => {
      const user = request.user;
      const provider = request.session?.row.provider;
      return reply.type('text/html; charset=utf-8').send(render('home', {
        user,
        csrf: user ? reply.generateCsrf() : '',
        provider: provider ? ctx.rp.providers.find((p) => p.id === provider)?.name ?? provider : null,
      }));
    });
  });
  return app;
}
