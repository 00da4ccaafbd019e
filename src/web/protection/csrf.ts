/**
 * Anti-forgery tokens for our forms. A session has its own token, made with it and so new at every
 * sign-in (src/sessions/index.ts): the pages of a signed-in user put it in their forms as it is, with
 * no work per page, and a form that sends it back is accepted after a constant-time comparison. A
 * page without a session (the login form) gets a double-submit token from @fastify/csrf-protection
 * (`reply.generateCsrf()`, an HMAC tied to a cookie).
 *
 * A request with a session accepts only that session's token. A double-submit token proves only that
 * the cookie and the token go together, and where the cookie has no `__Host-` prefix (an http APP_URL)
 * a sibling subdomain can set that cookie to a secret the server issued it, with its token. Sessions
 * from before the tokens (migration 0009) have none, and keep the double-submit check until they end.
 */
import { hkdfSync, timingSafeEqual } from 'node:crypto';
import Tokens from '@fastify/csrf';
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import type { Config } from '../../config/index.ts';
import { OidcConnectError } from '../../errors.ts';
import type { ActiveSession } from '../../sessions/index.ts';

/**
 * Our forms' anti-forgery settings, as @fastify/csrf-protection takes them: the cookie holding the
 * browser's secret, and the HMAC key tokens are made under. Tokens under a key of ours mean a secret
 * made up and planted in the cookie makes no valid token; that is what signing the cookie would give,
 * without needing the cookie plugin's secret. A secret we issued still makes one, whoever it was
 * issued to: hence a signed-in request accepts only its session's token (formTokenCheck).
 */
export function csrfOptions(config: Config) {
  return {
    cookieKey: config.secureCookies ? '__Host-oc_csrf' : 'oc_csrf',
    cookieOpts: { httpOnly: true, sameSite: 'lax', path: '/', secure: config.secureCookies },
    csrfOpts: { hmacKey: Buffer.from(hkdfSync('sha256', config.sessionSecret, '', 'oidc-connect csrf tokens', 32)) },
  } as const;
}

/**
 * Tokens for our forms on pages that are not Fastify's (the Express adapter's `csrfToken()`), as
 * `formToken` makes them: the session's own, else a double-submit token under the same cookie and
 * key, so the plugin's check accepts it. A browser without the cookie gets one.
 */
export function csrfTokens(config: Config, serializeCookie: (name: string, value: string, options: object) => string) {
  const { cookieKey, cookieOpts, csrfOpts } = csrfOptions(config);
  const tokens = Tokens(csrfOpts);
  return (session: ActiveSession | null, cookies: Record<string, string | undefined>, setCookie: (header: string) => void): string => {
    if (session?.row.csrf) return session.row.csrf;
    const secret = cookies[cookieKey];
    if (secret) return tokens.create(secret);
    const fresh = tokens.secretSync();
    cookies[cookieKey] = fresh;
    setCookie(serializeCookie(cookieKey, fresh, cookieOpts));
    return tokens.create(fresh);
  };
}

/** What a form refused for its token gets; Fastify's own CSRF errors are mapped to the same (src/web/pages/error-pages.ts). */
export function formExpired(): OidcConnectError {
  return new OidcConnectError('CSRF_INVALID', 'This form has expired or was not sent from this site. Go back, reload the page and try again.');
}

/** The token a form or a fetch sends back: the `_csrf` field, else the X-CSRF-Token header. */
export function sentFormToken(request: FastifyRequest): string | undefined {
  const token = (request.body as Record<string, unknown> | undefined)?._csrf;
  if (typeof token === 'string') return token;
  const header = request.headers['x-csrf-token'];
  return typeof header === 'string' ? header : undefined;
}

/** The token for the forms of the page this reply renders. */
export function formToken(reply: FastifyReply): string {
  return reply.request.session?.row.csrf ?? reply.generateCsrf();
}

/**
 * The preHandler of our form routes. With a session, only its own token passes: anything else is
 * refused with CSRF_INVALID, or, with `otherToken`, handed to it to answer (the login form, which a
 * page opened before signing in elsewhere still posts). Without one (or with a session from before
 * the tokens), the double-submit check (`app.csrfProtection`) answers 403 for a token it did not make.
 *
 * @example
 * app.post('/accounts/thing/', { preHandler: formTokenCheck(app) }, handler);
 */
export function formTokenCheck(app: FastifyInstance, options: { otherToken?: (request: FastifyRequest, reply: FastifyReply) => unknown } = {}): preHandlerHookHandler {
  const doubleSubmit = app.csrfProtection;
  const { otherToken } = options;
  return function checkFormToken(request, reply, done) {
    const expected = request.session?.row.csrf;
    if (!expected) return doubleSubmit.call(this, request, reply, done);
    if (sameToken(sentFormToken(request), expected)) return done();
    if (!otherToken) return done(formExpired());
    // The answer is sent here, so the route's handler does not run; an error goes to the error handler.
    Promise.resolve().then(() => otherToken(request, reply)).catch((error: unknown) => reply.send(error));
    return undefined;
  };
}

function sameToken(sent: string | undefined, expected: string): boolean {
  if (sent === undefined) return false;
  const a = Buffer.from(sent);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
