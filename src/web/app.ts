import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Config } from '../config/index.ts';
import type { AppContext } from './context.ts';
import { errorHandler, notFoundHandler } from './pages/error-pages.ts';
import { formToken } from './protection/form-tokens.ts';
import { requestLogging } from './logging.ts';
import { loggedOut } from './pages/logout-notice.ts';
import { oidcConnect } from './plugin.ts';
import { securityHeaders } from './protection/security-headers.ts';
import { createViews } from './pages/views.ts';

/**
 * Fastify 5 trusts no hop for a bare number (it can't check the peer), so a hop count becomes what
 * it means in Express: trust the nearest N addresses, the connecting peer first.
 */
function trustProxy(setting: boolean | number | string): boolean | string | ((address: string, hop: number) => boolean) {
  return typeof setting === 'number' ? (_address, hop) => hop < setting : setting;
}

/** The server settings of the standalone app, and of the Express adapter's inner instance. */
export function serverOptions(config: Config): FastifyServerOptions {
  return {
    trustProxy: trustProxy(config.trustProxy),
    bodyLimit: 64 * 1024,
    routerOptions: { maxParamLength: 200 },
    // Long enough for slow clients, short enough that a dead one can't hold a socket.
    requestTimeout: 30_000,
    genReqId: () => crypto.randomUUID(),
    // One access-log line per request, and no per-request logger unless the request logs a line itself.
    ...requestLogging(),
  };
}

/**
 * The tutorial's app: the sign-in plugin plus a home page that greets the user. Unlike a host app,
 * every error and 404 here is ours, as pages (JSON under /api/ and for API clients).
 */
export async function buildApp(ctx: Pick<AppContext, 'config' | 'db' | 'rp'>, options: { logger?: FastifyServerOptions['logger'] } = {}): Promise<FastifyInstance> {
  const app = Fastify({ ...serverOptions(ctx.config), logger: options.logger ?? false });
  await app.register(oidcConnect, ctx);
  const views = createViews();
  app.setErrorHandler(errorHandler(views));

  // The tutorial's own pages, and its 404 page, carry the same security headers as the plugin's.
  await app.register(async (pages) => {
    await securityHeaders(pages);
    pages.setNotFoundHandler(notFoundHandler(views));
    // Unknown paths under /api/ are API calls too: they get a JSON 404.
    await pages.register(async (api) => api.setNotFoundHandler(notFoundHandler(views, { json: true })), { prefix: '/api' });

    pages.get('/', async (request, reply) => {
      const user = request.user;
      const provider = request.session?.row.provider;
      return reply.type('text/html; charset=utf-8').send(views.render('home', {
        user,
        csrf: user ? formToken(reply) : '',
        provider: provider ? ctx.rp.providers.find((p) => p.id === provider)?.name ?? provider : null,
        loggedOut: !user && loggedOut(request),
      }));
    });
  });
  return app;
}
