import fastifyHelmet, { type FastifyHelmetOptions } from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';

/**
 * The headers every page of ours carries (@fastify/helmet): a Content-Security-Policy that lets
 * scripts, styles and images come from this origin only, nothing inline (the views have no inline
 * script, style or event handler), and no framing by any site (clickjacking); X-Frame-Options DENY
 * for older browsers; and helmet's other defaults, among them X-Content-Type-Options: nosniff.
 *
 * No form-action: the login and logout forms go on to the provider through redirects, which
 * browsers check against form-action too. No upgrade-insecure-requests: development runs on
 * http://localhost.
 */
const OPTIONS: FastifyHelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:'],
      objectSrc: ["'none'"],
      baseUri: ["'none'"],
      frameAncestors: ["'none'"],
    },
  },
  frameguard: { action: 'deny' },
};

/**
 * Registers the headers in the calling context only: `app.register(async (pages) => { await
 * securityHeaders(pages); pages.get(…) })` covers those routes and leaves the host app's own alone.
 */
export async function securityHeaders(scope: FastifyInstance): Promise<void> {
  await scope.register(fastifyHelmet, OPTIONS);
}
