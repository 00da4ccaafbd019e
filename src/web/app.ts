import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { AppContext } from './context.ts';
import { errorHandler, notFoundHandler } from './pages/error-pages.ts';
import { loggedOut } from './pages/logout-notice.ts';
import { createViews, userView } from './pages/views.ts';
import { oidcConnect } from './plugin.ts';
import { formToken } from './protection/csrf.ts';
import { securityHeaders } from './protection/security-headers.ts';
import { serverOptions } from './server-options.ts';

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
      const signedInWith = provider ? ctx.rp.providers.find((p) => p.id === provider) : undefined;
      return reply.type('text/html; charset=utf-8').send(views.render('home', {
        user: userView(user),
        csrf: user ? formToken(reply) : '',
        provider: provider ? signedInWith?.label ?? signedInWith?.name ?? provider : null,
        loggedOut: !user && loggedOut(request),
      }));
    });
  });
  return app;
}
