/**
 * Anti-forgery tokens for our forms. A session has its own token, made with it and so new at every
 * sign-in (src/sessions/index.ts): the pages of a signed-in user put it in their forms as it is, with
 * no work per page, and a form that sends it back is accepted after a constant-time comparison. A
 * page without a session (the login form) gets a double-submit token from @fastify/csrf-protection
 * (`reply.generateCsrf()`, an HMAC tied to a cookie), which is accepted with or without a session:
 * a login form opened before signing in elsewhere still posts, and so does a host page's form made
 * with `reply.generateCsrf()`. Any other token, another session's included, is refused (CSRF_INVALID).
 */
import { hkdfSync, timingSafeEqual } from 'node:crypto';
import Tokens from '@fastify/csrf';
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import type { Config } from '../../config/index.ts';

/**
 * Our forms' anti-forgery settings, as @fastify/csrf-protection takes them: the cookie holding the
 * browser's secret, and the HMAC key tokens are made under. Tokens under a key of ours mean a
 * secret planted in the cookie makes no valid token; that is what signing the cookie would give,
 * without needing the cookie plugin's secret.
 */
export function csrfOptions(config: Config) {
  return {
    cookieKey: config.secureCookies ? '__Host-oc_csrf' : 'oc_csrf',
    cookieOpts: { httpOnly: true, sameSite: 'lax', path: '/', secure: config.secureCookies },
    csrfOpts: { hmacKey: Buffer.from(hkdfSync('sha256', config.sessionSecret, '', 'oidc-connect csrf tokens', 32)) },
  } as const;
}

/**
 * Tokens for our forms on pages that are not Fastify's (the Express adapter's `csrfToken()`): the
 * same cookie and key, so the plugin's check accepts them. A browser without the cookie gets one.
 */
export function csrfTokens(config: Config, serializeCookie: (name: string, value: string, options: object) => string) {
  const { cookieKey, cookieOpts, csrfOpts } = csrfOptions(config);
  const tokens = Tokens(csrfOpts);
  return (cookies: Record<string, string | undefined>, setCookie: (header: string) => void): string => {
    const secret = cookies[cookieKey];
    if (secret) return tokens.create(secret);
    const fresh = tokens.secretSync();
    cookies[cookieKey] = fresh;
    setCookie(serializeCookie(cookieKey, fresh, cookieOpts));
    return tokens.create(fresh);
  };
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
 * The preHandler of our form routes: the session's own token passes; anything else goes to the
 * double-submit check (`app.csrfProtection`), which answers 403 for a token it did not make.
 */
export function formTokenCheck(app: FastifyInstance): preHandlerHookHandler {
  const doubleSubmit = app.csrfProtection;
  return function checkFormToken(request, reply, done) {
    const expected = request.session?.row.csrf;
    if (expected && sameToken(sentFormToken(request), expected)) return done();
    return doubleSubmit.call(this, request, reply, done);
  };
}

function sameToken(sent: string | undefined, expected: string): boolean {
  if (sent === undefined) return false;
  const a = Buffer.from(sent);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
