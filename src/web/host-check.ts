import type { FastifyRequest } from 'fastify';

/**
 * The port trap: the provider sends the browser back to APP_URL's redirect URI, never to the address the
 * browser used, so an app reached at another host or port (listening on a port other than PORT, or
 * opened as 127.0.0.1 when APP_URL says localhost, whose cookies the callback won't see) loses every
 * provider sign-in at the callback. Called where a sign-in starts, it compares that request's Host
 * (X-Forwarded-Host with TRUST_PROXY) with APP_URL's and logs one warning at the first mismatch; after
 * it has warned it compares nothing.
 *
 * @example
 *   const checkHost = hostCheck(config.appUrl);
 *   app.get('/authorization-code/authenticate/', async (request, reply) => { checkHost(request); … });
 */
export function hostCheck(appUrl: string): (request: FastifyRequest) => void {
  const expected = new URL(appUrl).host;
  let warned = false;
  return (request) => {
    if (warned) return;
    const host = request.host?.toLowerCase();
    if (!host || host === expected) return;
    warned = true;
    request.log.warn({ host, appUrl },
      `a sign-in started at ${request.protocol}://${host}, but APP_URL is ${appUrl}: the provider will send the browser back to `
      + `${appUrl}/authorization-code/callback, where this sign-in cannot finish. Listen where APP_URL points `
      + '(PORT and HOST: config.port and config.host), or set APP_URL to the address browsers use; behind a proxy, '
      + 'forward Host (or X-Forwarded-Host with TRUST_PROXY). Logged once.');
  };
}
