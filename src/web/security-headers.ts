import fastifyHelmet from '@fastify/helmet';
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
const DIRECTIVES = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  frameAncestors: ["'none'"],
};

/**
 * Registers the headers in the calling context only: `app.register(async (pages) => { await
 * securityHeaders(pages); pages.get(…) })` covers those routes and leaves the host app's own alone.
 * `imageOrigins`: other origins the pages show images from (the brand's logo).
 */
export async function securityHeaders(scope: FastifyInstance, options: { imageOrigins?: readonly string[] } = {}): Promise<void> {
  const imgSrc = [...DIRECTIVES.imgSrc, ...(options.imageOrigins ?? [])];
  await scope.register(fastifyHelmet, {
    contentSecurityPolicy: { useDefaults: false, directives: { ...DIRECTIVES, imgSrc } },
    frameguard: { action: 'deny' },
  });
}
