import type { FastifyRequest } from 'fastify';

/**
 * "You have been logged out": the logout's redirect carries `?logged_out=1`, and the page shown
 * there (our login page, the standalone home page, or the host app's own) tells the user. Only the
 * flag's presence is read and the notice is fixed text, so the query can't put anything on a page.
 */
export const LOGGED_OUT_PARAM = 'logged_out';

/** LOGOUT_REDIRECT_URL with the flag, when it is a page of this site; another site's URL is left as it is. */
export function withLoggedOutFlag(target: string, appUrl: string): string {
  const url = new URL(target, appUrl);
  if (url.origin !== new URL(appUrl).origin) return target;
  url.searchParams.set(LOGGED_OUT_PARAM, '1');
  return target.startsWith('/') ? `${url.pathname}${url.search}${url.hash}` : url.href;
}

export function loggedOut(request: FastifyRequest): boolean {
  return (request.query as Record<string, unknown> | undefined)?.[LOGGED_OUT_PARAM] !== undefined;
}
