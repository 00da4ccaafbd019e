import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyFormbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { loadConfig, type Config } from '../config/index.ts';
import { migrate, openDatabase, type Db } from '../db/index.ts';
import { changeFeedOf } from '../db/change-feed.ts';
import type { User } from '../db/schema.ts';
import { createRelyingParty, type RelyingParty } from '../rp/index.ts';
import { BearerAuthenticator, type BearerToken } from '../rp/bearer/index.ts';
import { startSessionCache, type SessionCache } from '../sessions/cache.ts';
import { loadSession, type ActiveSession } from '../sessions/index.ts';
import { bearerGuard, type BearerGuardOptions } from './bearer-guard.ts';
import type { AppContext } from './context.ts';
import { errorHandler, notFoundHandler } from './error-pages.ts';
import { startHousekeeping, type Housekeeping } from './housekeeping.ts';
import { accountRoutes } from './routes/accounts.ts';
import { adminRoutes } from './routes/admin.ts';
import { apiRoutes } from './routes/api.ts';
import { backchannelRoutes } from './routes/backchannel.ts';
import { oidcRoutes } from './routes/oidc.ts';
import { requireLogin } from './guards.ts';
import { sessionCookieName } from './session-cookie.ts';
import { renewSession } from './session-renewal.ts';
import { rateLimits } from './rate-limits.ts';
import { securityHeaders } from './security-headers.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The live session for this request's cookie, or null. */
    session: ActiveSession | null;
    /** The signed-in user, or null. */
    user: User | null;
    /** The verified `Authorization: Bearer` access token (set by `requireBearer`), or null. */
    bearer: BearerToken | null;
  }
  interface FastifyInstance {
    /**
     * A preHandler hook for routes that need a signed-in user:
     * `app.get('/account', { preHandler: app.requireLogin }, handler)`. Page navigations are sent to
     * the login page (and come back through `next`); other requests get 401.
     */
    requireLogin(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined>;
    /**
     * A preHandler hook that protects a route with bearer access tokens (RFC 6750), the way
     * `/api/me` is protected: `app.get('/api/things', { preHandler: app.requireBearer({ scopes: ['api:read'] }) }, handler)`.
     * On success `request.bearer` holds the token (claims, scopes) and `request.user` its local user.
     * Refusals answer 401/403/400 JSON with a `WWW-Authenticate: Bearer …` challenge. See src/web/bearer-guard.ts.
     */
    requireBearer(options?: BearerGuardOptions): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>;
  }
  /**
   * What a route says about itself where it is registered, read by the hooks that run on every
   * request: `app.get('/healthz', { config: { session: false } }, handler)`.
   */
  interface FastifyContextConfig {
    /** false: the session cookie is not looked up, so no database read (health check, stylesheet). */
    session?: boolean;
    /** false: a provider session due for renewal is let through (the sign-in flows and logout themselves). */
    renewal?: boolean;
    /** true: errors answer JSON `{ error, message }`, never an HTML page (APIs, server-to-server endpoints). */
    json?: boolean;
  }
}

/** An Authorization header with the Bearer scheme; requireBearer checks the token itself. */
const BEARER_SCHEME = /^\s*bearer(\s|$)/i;

export interface OidcConnectOptions {
  /** The validated configuration; default: `loadConfig()` from the environment and `.env`. */
  config?: Config;
  /** A Kysely database; default: opened from `config.database`, migrated, and closed with the app. */
  db?: Db;
  /** Default: `createRelyingParty(config, db, app.log)`. */
  rp?: RelyingParty;
}

/**
 * The sign-in plugin: sessions, local accounts, OpenID Connect login and logout, `/api/me`.
 * Wrapped with fastify-plugin so `request.user` and the error pages reach the host app's routes.
 */
async function plugin(app: FastifyInstance, options: OidcConnectOptions): Promise<void> {
  const config = options.config ?? loadConfig();
  let db = options.db;
  if (!db) {
    const database = openDatabase(config.database);
    await migrate(database);
    app.addHook('onClose', () => database.close());
    db = database.db;
  }
  const ctx: AppContext = { config, db, rp: options.rp ?? createRelyingParty(config, db, app.log) };
  // Expired rows are swept on a timer (src/web/housekeeping.ts), stopped before the database closes.
  let housekeeping: Housekeeping | undefined;
  app.addHook('onReady', async () => {
    housekeeping = startHousekeeping({ db: ctx.db, lockout: config.lockout, auditRetentionDays: config.audit.retentionDays, log: app.log });
  });
  app.addHook('preClose', async () => housekeeping?.stop());
  // SESSION_CACHE: sessions served from memory, kept right by the database's change feed (src/sessions/cache.ts).
  let sessionCache: SessionCache | undefined;
  app.addHook('onReady', async () => {
    if (config.session.cache) sessionCache = startSessionCache(ctx.db, { log: app.log });
  });
  app.addHook('preClose', async () => sessionCache?.release());
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

  app.decorate('requireLogin', requireLogin);
  app.decorateRequest('session', null);
  app.decorateRequest('user', null);
  app.decorateRequest('bearer', null);
  const bearer = new BearerAuthenticator(ctx);
  app.decorate('requireBearer', (options?: BearerGuardOptions) => bearerGuard(bearer, options));
  const cookieName = sessionCookieName(config);
  app.addHook('onRequest', async (request, reply) => {
    const secret = request.cookies[cookieName];
    if (secret === undefined || request.routeOptions.config.session === false) return;
    // A request signs in with its bearer token or with its cookie, never both: a bad token riding on a
    // cookie would otherwise pass as the cookie's user, and skip that session's renewal checks.
    if (BEARER_SCHEME.test(request.headers.authorization ?? '')) return;
    const session = await loadSession(ctx.db, config.session, secret);
    if (session) {
      request.session = session;
      request.user = session.user;
      if (await renewSession(ctx, request, reply)) return reply;
    }
  });
  // An answer after a write that ended a session or changed a user waits (100 ms at most) until this
  // instance hears its own NOTIFY back: every instance listening gets it at that moment, so the
  // client's next request sees the change wherever it lands (src/db/change-feed.ts).
  app.addHook('onSend', (_request, _reply, payload, done) => {
    const heard = changeFeedOf(ctx.db)?.heard();
    if (heard === undefined) return done(null, payload);
    void heard.then(() => done(null, payload));
  });

  app.setErrorHandler(errorHandler);

  // The plugin's own pages and answers, its 404 page included, carry the security headers; the
  // host app's own routes are left as it made them.
  await app.register(async (own) => {
    await securityHeaders(own);
    await rateLimits(own);
    own.setNotFoundHandler(notFoundHandler());
    accountRoutes(own, ctx);
    apiRoutes(own, ctx);
    oidcRoutes(own, ctx);
    backchannelRoutes(own, ctx);
    adminRoutes(own, ctx);
  });
}

export const oidcConnect = fp(plugin, { name: 'oidc-connect', fastify: '5.x' });
