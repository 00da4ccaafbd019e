import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyFormbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { changeFeedOf } from '../db/change-feed.ts';
import type { SignedInUser } from '../accounts/roles.ts';
import { sessionAccessToken, type AccessToken, type AccessTokenOptions } from '../rp/access-token.ts';
import { ConfigError } from '../errors.ts';
import { BearerAuthenticator, type BearerToken } from '../rp/bearer/index.ts';
import { loadSession, type ActiveSession } from '../sessions/index.ts';
import { bearerGuard, type BearerGuardOptions } from './bearer-guard.ts';
import { errorHandler, notFoundHandler } from './pages/error-pages.ts';
import { STATIC_FILES, STATIC_PREFIX } from './pages/static-files.ts';
import { csrfOptions, formToken, sentFormToken } from './protection/csrf.ts';
import { rateLimits } from './protection/rate-limits.ts';
import { securityHeaders } from './protection/security-headers.ts';
import { ownAccountRoutes } from './routes/account.ts';
import { accountRoutes } from './routes/accounts.ts';
import { adminRoutes } from './routes/admin.ts';
import { apiRoutes, rootRoutePaths, type RootRoutes } from './routes/api.ts';
import { mfaSignInRoutes } from './routes/mfa-sign-in.ts';
import { mfaRoutes } from './routes/mfa.ts';
import { backchannelRoutes } from './routes/backchannel.ts';
import { devMailboxRoutes } from './routes/dev-mailbox.ts';
import { oidcRoutes } from './routes/oidc.ts';
import { passwordResetRoutes } from './routes/password-reset.ts';
import { scimRoutes } from './routes/scim.ts';
import { universalLogoutRoutes } from './routes/universal-logout.ts';
import { createRuntime, type Runtime, type RuntimeOptions } from './runtime.ts';
import { sessionCookieName } from './session/cookie.ts';
import { loginGuard, type RequireLogin } from './session/guards.ts';
import { metricsRoute } from './routes/metrics.ts';
import { renewSession } from './session/renewal.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The live session for this request's cookie, or null. */
    session: ActiveSession | null;
    /** The signed-in user with their roles (`request.user.roles`), or null. */
    user: SignedInUser | null;
    /** The verified `Authorization: Bearer` access token (set by `requireBearer`), or null. */
    bearer: BearerToken | null;
    /**
     * An access token of the signed-in provider session for calling downstream APIs, valid for at
     * least another minute (refreshed when needed, once across instances), or with `{ audience,
     * scope }` one exchanged for another API (RFC 8693). Throws NO_PROVIDER_TOKENS, REFRESH_REFUSED
     * (the session has ended), TOKEN_EXCHANGE_UNSUPPORTED or TOKEN_EXCHANGE_REFUSED.
     * @example
     * const token = await request.accessToken();
     * const answer = await fetch(url, { headers: await token.headers('GET', url) });
     */
    accessToken(options?: AccessTokenOptions): Promise<AccessToken>;
  }
  interface FastifyReply {
    /**
     * The `_csrf` value for a form of the host's page that posts to our routes, such as Log Out: the
     * session's own token when the browser is signed in (the only one a signed-in request may send),
     * else a double-submit token whose cookie this reply sets.
     * `<input type="hidden" name="_csrf" value="${reply.csrfToken()}">`
     */
    csrfToken(): string;
  }
  interface FastifyInstance {
    /**
     * A preHandler hook for routes that need a signed-in user:
     * `app.get('/account', { preHandler: app.requireLogin }, handler)`. Page navigations are sent to
     * the login page (and come back through `next`); other requests get 401. Called with roles it
     * makes a hook that also needs them: without one, a page navigation gets a 403 page, other
     * requests a FORBIDDEN error (403) for the app's error handler:
     * `app.get('/support', { preHandler: app.requireLogin({ roles: ['support'] }) }, handler)`.
     */
    requireLogin: RequireLogin;
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

/** An Authorization header with the Bearer or DPoP scheme; requireBearer checks the token itself. */
const BEARER_SCHEME = /^\s*(bearer|dpop)(\s|$)/i;

export interface OidcConnectOptions extends Omit<RuntimeOptions, 'log'> {
  /**
   * `/healthz` and `/api/me`, the two routes outside the plugin's own prefixes, moved to other paths
   * or left out (false) when the host has its own: `{ routes: { health: '/auth/healthz', me: false } }`.
   */
  routes?: RootRoutes;
}

/**
 * Why the plugin is mounted at the root only: the provider sends browsers back to the redirect URIs
 * registered there, which are APP_URL (an origin, no path) plus fixed paths, and its pages link to them.
 */
export const PREFIX_REFUSED = (prefix: string) => `oidc-connect: register it without a prefix (here ${prefix}): its routes are fixed, `
  + 'because the redirect URIs registered at the provider are APP_URL plus /authorization-code/callback, /signout/callback and '
  + '/oidc/backchannel-logout, and its pages link to /accounts/…; move /healthz and /api/me with the routes option instead';

/** What the plugin started, for the Express adapter, which runs the plugin on a Fastify instance of its own. */
export interface PluginState {
  readonly runtime: Runtime;
  readonly bearer: BearerAuthenticator;
}
const STATE = Symbol('oidc-connect');

export function pluginState(app: FastifyInstance): PluginState {
  return (app as unknown as Record<typeof STATE, PluginState>)[STATE];
}

/** The paths our pages live under: unknown addresses there get our 404 page; all others stay the host's. */
const OWN_PREFIXES = ['/accounts', '/authorization-code', '/signout', '/oidc', '/admin', STATIC_PREFIX];

/**
 * The sign-in plugin: sessions, local accounts, OpenID Connect login and logout, `/api/me`.
 *
 * Wrapped with fastify-plugin so `request.user`, `request.session`, `requireLogin` and the session
 * hook reach the host app's routes. Our routes live in a scope of their own, with our error handler,
 * security headers and form parser, so the host's error handler and 404 page stay the host's. The
 * host's @fastify/cookie and @fastify/csrf-protection, registered before this plugin, are used as
 * they are; ours are registered only when they are missing.
 */
async function plugin(app: FastifyInstance, options: OidcConnectOptions & { prefix?: string }): Promise<void> {
  // fastify-plugin would ignore a prefix in silence (register's own, or an enclosing context's).
  const prefix = options.prefix ?? app.prefix;
  if (prefix) throw new ConfigError([PREFIX_REFUSED(prefix)]);
  const rootPaths = rootRoutePaths(options.routes);
  const ctx = await createRuntime({ ...options, log: app.log });
  app.addHook('onClose', () => ctx.close());
  const { config } = ctx;

  if (!app.hasDecorator('parseCookie')) await app.register(fastifyCookie, { secret: config.sessionSecret });
  if (!app.hasDecorator('csrfProtection')) {
    await app.register(fastifyCsrf, {
      sessionPlugin: '@fastify/cookie',
      ...csrfOptions(config),
      getToken: sentFormToken,
    });
  }

  app.decorateRequest('session', null);
  app.decorateRequest('user', null);
  app.decorateRequest('bearer', null);
  app.decorateReply('csrfToken', function csrfToken(this: FastifyReply) {
    return formToken(this);
  });
  app.decorate('requireLogin', loginGuard(ctx.views));
  const tokenContext = { db: ctx.db, rp: ctx.rp, httpTimeoutMs: config.httpTimeoutMs };
  app.decorateRequest('accessToken', function accessToken(this: FastifyRequest, options?: AccessTokenOptions) {
    return sessionAccessToken(tokenContext, this.session, options);
  });
  const bearer = new BearerAuthenticator(ctx);
  app.addHook('preClose', async () => bearer.close()); // it listens to the database's change feed
  app.decorate('requireBearer', (options?: BearerGuardOptions) => bearerGuard(bearer, options));
  app.decorate(STATE, { runtime: ctx, bearer } satisfies PluginState);
  const metrics = ctx.metrics;
  if (metrics) {
    metrics.watchBearerCache(() => bearer.verifiedTokenStats());
    // Every answer, the host's routes' too, by route pattern: never the URL, whose values are unbounded.
    app.addHook('onResponse', (request, reply, done) => {
      metrics.page(request.routeOptions.url, request.method, reply.statusCode, reply.elapsedTime / 1000);
      done();
    });
  }
  const cookieName = sessionCookieName(config);
  app.addHook('onRequest', async (request, reply) => {
    const secret = request.cookies[cookieName];
    if (secret === undefined || request.routeOptions.config.session === false) return;
    // A request signs in with its access token or with its cookie, never both: a bad token riding on a
    // cookie would otherwise pass as the cookie's user, and skip that session's renewal checks.
    if (BEARER_SCHEME.test(request.headers.authorization ?? '')) return;
    const session = await loadSession(ctx.db, config.session, secret);
    if (session) {
      request.session = session;
      request.user = session.user;
      if (await renewSession(ctx, request, reply)) return reply;
    }
  });
  // An answer to a request that ended a session or changed a user waits (100 ms at most) until this
  // instance hears back the NOTIFYs sent since the request began: every instance listening gets them
  // at that moment, so the client's next request sees the change wherever it lands
  // (src/db/change-feed.ts). Other answers don't wait.
  const feed = changeFeedOf(ctx.db);
  app.addHook('onSend', (_request, reply, payload, done) => {
    const heard = feed?.echoPending ? feed.heardSince(performance.now() - reply.elapsedTime) : undefined;
    if (heard === undefined) return done(null, payload);
    void heard.then(() => done(null, payload));
  });

  await app.register(async (own) => {
    if (!own.hasContentTypeParser('application/x-www-form-urlencoded')) await own.register(fastifyFormbody, { bodyLimit: 64 * 1024 });
    await securityHeaders(own, { imageOrigins: ctx.views.imageOrigins });
    await rateLimits(own);
    own.setErrorHandler(errorHandler(ctx.views));
    for (const prefix of OWN_PREFIXES) {
      await own.register(async (scope) => scope.setNotFoundHandler(notFoundHandler(ctx.views)), { prefix });
    }
    for (const [path, file] of STATIC_FILES) {
      own.get(path, { config: { session: false } }, async (_request, reply) =>
        reply.type(file.type).header('cache-control', 'public, max-age=3600').send(file.body));
    }
    accountRoutes(own, ctx);
    passwordResetRoutes(own, ctx);
    ownAccountRoutes(own, ctx);
    devMailboxRoutes(own, ctx);
    mfaRoutes(own, ctx);
    mfaSignInRoutes(own, ctx);
    apiRoutes(own, ctx, rootPaths);
    oidcRoutes(own, ctx);
    backchannelRoutes(own, ctx);
    adminRoutes(own, ctx);
    metricsRoute(own, ctx);
    universalLogoutRoutes(own, ctx);
    await scimRoutes(own, ctx);
  });
}

export const oidcConnect = fp(plugin, { name: 'oidc-connect', fastify: '5.x' });
