import { hkdfSync } from 'node:crypto';
import Tokens from '@fastify/csrf';
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
