import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyFormbody from '@fastify/formbody';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { User } from '../db/schema.ts';
import { OidcConnectError } from '../errors.ts';
import { loadSession, type ActiveSession } from '../sessions/index.ts';
import type { AppContext } from './context.ts';
import { errorHandler, sendError } from './error-pages.ts';
import { accountRoutes } from './routes/accounts.ts';
import { apiRoutes } from './routes/api.ts';
import { oidcRoutes } from './routes/oidc.ts';
import { sessionCookieName } from './session-cookie.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The live session for this request's cookie, or null. */
    session: ActiveSession | null;
    /** The signed-in user, or null. */
    user: User | null;
  }
}

export type OidcConnectOptions = AppContext;

/**
 * The sign-in plugin: sessions, local accounts, OpenID Connect login and logout, `/api/me`.
 * Wrapped with fastify-plugin so `request.user` and the error pages reach the host app's routes.
 */
async function plugin(app: FastifyInstance, ctx: OidcConnectOptions): Promise<void> {
  const { config } = ctx;
  await app.register(fastifyCookie, { secret: config.sessionSecret });
  await app.register(fastifyFormbody, { bodyLimit: 64 * 1024 });
  await app.register(fastifyCsrf, {
    sessionPlugin: '@fastify/cookie',
    cookieKey: config.secureCookies ? '__Host-oc_csrf' : 'oc_csrf',
    cookieOpts: { signed: true, httpOnly: true, sameSite: 'lax', path: '/', secure: config.secureCookies },
    getToken: (request) => {
      const token = (request.body as Record<string, unknown> | undefined)?._csrf;
      return typeof token === 'string' ? token : (request.headers['x-csrf-token'] as string | undefined);
    },
  });

  app.decorateRequest('session', null);
  app.decorateRequest('user', null);
  const cookieName = sessionCookieName(config);
  app.addHook('onRequest', async (request) => {
    const secret = request.cookies[cookieName];
    if (secret === undefined) return;
    const session = await loadSession(ctx.db, config.session, secret);
    if (session) {
      request.session = session;
      request.user = session.user;
    }
  });

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, new OidcConnectError('NOT_FOUND', 'There is nothing at this address.')));

  accountRoutes(app, ctx);
  apiRoutes(app, ctx);
  oidcRoutes(app, ctx);
}

export const oidcConnect = fp(plugin, { name: 'oidc-connect', fastify: '5.x' });
