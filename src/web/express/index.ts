/**
 * oidc-connect for Express 5 (and 4): `app.use(await oidcConnect())`.
 *
 * One route table, two adapters: this middleware runs the Fastify plugin itself (every route, the
 * CSRF checks, sessions, error pages) on a Fastify instance of its own that never listens. Each
 * request goes through that instance's router. Our routes are answered there; any other request
 * comes back to Express after the plugin's session hook ran, with `req.user` and
 * `req.oidcConnect.session` set, and a session due for renewal already sent to the provider, just
 * as a Fastify host's routes see it. `requireLogin()` and `requireBearer()` are the Express faces of
 * the checks the Fastify hooks run (src/web/session/guards.ts, src/web/bearer-guard.ts).
 */
import '../../node-version.ts'; // first: on a Node older than "engines", one line instead of a link error
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { Config } from '../../config/index.ts';
import { loadConfig } from '../../config/index.ts';
import type { Db } from '../../db/index.ts';
import type { SignedInUser as AccountUser } from '../../accounts/roles.ts';
import type { DevIdp } from '../../dev-idp/index.ts';
import type { AccessToken, AccessTokenOptions } from '../../rp/access-token.ts';
import type { BearerAuthenticator, BearerToken } from '../../rp/bearer/index.ts';
import type { ActiveSession } from '../../sessions/index.ts';
import { bearerCheck, BearerRefusal, type BearerGuardOptions } from '../bearer-guard.ts';
import { toOidcConnectError } from '../pages/error-pages.ts';
import type { ViewRenderer } from '../pages/views.ts';
import { oidcConnect as plugin, pluginState, type OidcConnectOptions } from '../plugin.ts';
import { csrfTokens } from '../protection/csrf.ts';
import { serverOptions } from '../server-options.ts';
import { forbiddenPage, loginRequired, missingRoles, requiredRoles, type LoginRequirements } from '../session/guards.ts';
import { hostParsedBody } from './host-parsed-body.ts';

export type { BearerGuardOptions } from '../bearer-guard.ts';
export type { AccessToken, AccessTokenOptions } from '../../rp/access-token.ts';

declare global {
  namespace Express {
    /** The signed-in user: their row of the users table and their `roles` (Passport's `Express.User` gets the same fields). */
    interface User extends AccountUser {}
    interface Request {
      /** The signed-in user, by session cookie or (after `requireBearer`) by bearer token. */
      user?: User | undefined;
      /** The session, the bearer token and CSRF tokens, set by the oidc-connect middleware. */
      oidcConnect: OidcConnectRequest;
    }
  }
}

/** A middleware as Express (4 or 5) and plain node:http stacks call it. */
export type Middleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

export interface ExpressOptions extends OidcConnectOptions {
  /** The inner Fastify instance's logger (pino options, or false); default: warnings and errors to stdout. */
  logger?: FastifyServerOptions['logger'];
}

/** `app.use()` it before the app's routes; `close()` it when the app stops. */
export interface OidcConnectMiddleware extends Middleware {
  readonly config: Config;
  readonly db: Db;
  /** The development provider `devIdp: true` started, or null. */
  readonly devIdp: DevIdp | null;
  /** Stops the timers and the development provider, and closes the database if it was opened here. */
  close(): Promise<void>;
}

/** What the middleware hands to the app's routes, besides `req.user`. */
export class OidcConnectRequest {
  /** The verified `Authorization: Bearer` access token, once `requireBearer` has passed. */
  bearer: BearerToken | null = null;

  /** The live session for this request's cookie, or null. */
  readonly session: ActiveSession | null;
  readonly #csrfToken: () => string;
  readonly #accessToken: (options?: AccessTokenOptions) => Promise<AccessToken>;

  constructor(session: ActiveSession | null, csrfToken: () => string, accessToken: (options?: AccessTokenOptions) => Promise<AccessToken>) {
    this.session = session;
    this.#csrfToken = csrfToken;
    this.#accessToken = accessToken;
  }

  /**
   * An access token of the signed-in provider session for calling downstream APIs, as Fastify's
   * `request.accessToken()` gives it: valid for at least another minute, or exchanged for another
   * API with `{ audience, scope }`. Throws NO_PROVIDER_TOKENS, REFRESH_REFUSED, TOKEN_EXCHANGE_*.
   * @example
   * const token = await req.oidcConnect.accessToken();
   * const answer = await fetch(url, { headers: await token.headers('GET', url) });
   */
  accessToken(options?: AccessTokenOptions): Promise<AccessToken> {
    return this.#accessToken(options);
  }

  /**
   * A token for the `_csrf` field of a form that posts to our routes, such as the Log Out button
   * (`<form method="post" action="/accounts/logout/">`): the session's own token when the browser is
   * signed in, the only one a signed-in request may send. Without a session, call it before the
   * response is sent: a browser's first token also sets the cookie it is checked against.
   */
  csrfToken(): string {
    return this.#csrfToken();
  }
}

/** What the middleware leaves on a request for the inner instance and the guards. */
interface HandOver {
  next: (error?: unknown) => void;
  bearer: BearerAuthenticator;
  /** Our pages, for requireLogin's 403 page. */
  views: ViewRenderer;
  /** The inner instance's view of the request, once handed back: its client IP (TRUST_PROXY) and logger. */
  request?: FastifyRequest;
}

const HAND_OVER = Symbol('oidc-connect hand-over');

type HostRequest = IncomingMessage & {
  user?: AccountUser | undefined;
  oidcConnect?: OidcConnectRequest;
  baseUrl?: string;
  originalUrl?: string;
  [HAND_OVER]?: HandOver;
};

/**
 * Starts the sign-in (configuration, database, provider discovery; the development provider with
 * `devIdp: true`) and returns the middleware. Mount it at the root of the app, before its routes.
 */
export async function oidcConnect(options: ExpressOptions = {}): Promise<OidcConnectMiddleware> {
  const { logger, ...pluginOptions } = options;
  const config = pluginOptions.config ?? loadConfig();
  const app = Fastify({ ...serverOptions(config), logger: logger ?? { level: 'warn' } });
  app.addHook('preParsing', hostParsedBody);
  await app.register(plugin, { ...pluginOptions, config });
  const { runtime, bearer } = pluginState(app);
  const csrfToken = csrfTokens(runtime.config, app.serializeCookie);

  // Every route of ours, and the 404 pages under our prefixes, live in the plugin's scopes; what the
  // root scope answers is its 404, i.e. the host's request. The hook runs last of the onRequest hooks.
  app.addHook('onRequest', (request, reply, done) => {
    if (request.server !== app) return done();
    const req = request.raw as HostRequest;
    const handOver = req[HAND_OVER]!;
    handOver.request = request;
    req.user = request.user ?? undefined;
    req.oidcConnect = new OidcConnectRequest(request.session,
      () => csrfToken(request.session, request.cookies, (cookie) => reply.raw.appendHeader('set-cookie', cookie)),
      (options) => request.accessToken(options));
    reply.hijack();
    done();
    handOver.next();
  });
  // A failure in the plugin's session hook on the host's request (database down) is the host's to answer.
  app.setErrorHandler((error, request, reply) => {
    reply.hijack();
    (request.raw as HostRequest)[HAND_OVER]!.next(toOidcConnectError(error));
  });
  await app.ready();

  const middleware: Middleware = (req: HostRequest, res, next) => {
    if (req.baseUrl) {
      next(new Error(`oidc-connect: mount the middleware at the root of the app (app.use(auth)), not under ${req.baseUrl}: its routes are /accounts/…, /authorization-code/… and APP_URL's redirect URIs`));
      return;
    }
    req[HAND_OVER] = { next, bearer, views: runtime.views };
    app.routing(req, res);
  };
  return Object.assign(middleware, {
    config: runtime.config,
    db: runtime.db,
    devIdp: runtime.devIdp,
    close: () => app.close(),
  });
}

/**
 * For routes that need a signed-in user: a page navigation goes to the login page and comes back
 * through `next`; anything else gets 401 JSON `{ error: 'LOGIN_REQUIRED', message }`. With `roles`,
 * a user without every one of them gets 403: a page navigation our error page, anything else JSON
 * `{ error: 'FORBIDDEN', message }`.
 *
 * @example
 * app.get('/support', requireLogin({ roles: ['support'] }), handler);
 */
export function requireLogin(options: LoginRequirements = {}): Middleware {
  const roles = requiredRoles(options);
  return (req: HostRequest, res, next) => {
    if (!req[HAND_OVER]) return next(notMounted('requireLogin'));
    if (req.user) {
      const refusal = missingRoles(req.user, roles);
      if (!refusal) return next();
      const page = forbiddenPage(req[HAND_OVER].views, { method: req.method ?? 'GET', headers: req.headers }, req.user, refusal);
      if (page === undefined) return sendJson(res, refusal.status, { error: refusal.code, message: refusal.message }, {});
      res.writeHead(refusal.status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(page);
      return undefined;
    }
    const refusal = loginRequired({ method: req.method ?? 'GET', headers: req.headers }, req.originalUrl ?? req.url ?? '/');
    if (typeof refusal === 'string') {
      res.writeHead(302, { location: refusal }).end();
      return undefined;
    }
    return sendJson(res, refusal.status, { error: refusal.code, message: refusal.message }, { 'www-authenticate': 'Bearer' });
  };
}

/**
 * Protects a route with bearer access tokens (RFC 6750), as `/api/me` is protected. On success
 * `req.oidcConnect.bearer` holds the token (claims, scopes) and `req.user` its local user; refusals
 * answer 401/403/400 JSON with a `WWW-Authenticate: Bearer …` challenge. A provider that can't be
 * reached is passed to the app's error handler (its `status` is 502 or 504).
 */
export function requireBearer(options: BearerGuardOptions = {}): Middleware {
  const check = bearerCheck(options);
  return (req: HostRequest, res, next) => {
    const { bearer, request } = req[HAND_OVER] ?? {};
    const context = req.oidcConnect;
    if (!bearer || !request || !context) return next(notMounted('requireBearer'));
    const dpop = req.headers.dpop;
    check(bearer, {
      authorization: req.headers.authorization, dpop: typeof dpop === 'string' ? dpop : undefined,
      method: req.method ?? 'GET', path: req.originalUrl ?? req.url ?? '/', ip: request.ip,
    }).then((result) => {
      if (result instanceof BearerRefusal) {
        request.log.info(...result.log);
        return sendJson(res, result.status, result.body, result.headers);
      }
      if (result !== null) {
        context.bearer = result.token;
        req.user = result.user ?? undefined;
      }
      return next();
    }, next);
    return undefined;
  };
}

function notMounted(guard: string): Error {
  return new Error(`oidc-connect: ${guard}() runs after the oidc-connect middleware: app.use(await oidcConnect()) before the app's routes`);
}

function sendJson(res: ServerResponse, status: number, body: object, headers: Readonly<Record<string, string>>): void {
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}
