import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * The headers every page of ours carries (helmet): a Content-Security-Policy that lets
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
  const headers = helmetHeaders({
    contentSecurityPolicy: { useDefaults: false, directives: { ...DIRECTIVES, imgSrc } },
    frameguard: { action: 'deny' },
  });
  scope.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers);
    done();
  });
}

/**
 * The headers helmet sets for these options, worked out once: they are the same for every answer,
 * and @fastify/helmet built helmet's whole middleware chain again for each request (some 12 µs here).
 */
function helmetHeaders(options: HelmetOptions): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const response = { setHeader: (name: string, value: string) => void (headers[name] = value), removeHeader: () => {} };
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, () => {});
  return Object.freeze(headers);
}
