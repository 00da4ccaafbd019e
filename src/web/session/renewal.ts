import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { refreshSession } from '../../rp/refresh.ts';
import type { ActiveSession } from '../../sessions/index.ts';
import { needsRefresh } from '../../sessions/refresh-lease.ts';
import type { AppContext } from '../context.ts';
import { clearSessionCookie } from './cookie.ts';

/** Where a session's silent renewal starts (src/web/routes/oidc.ts): never from another URL. */
export const RENEW_PATH = '/authorization-code/renew/';

/** A provider session without refresh token that the provider must confirm again (prompt=none). */
export function renewalDue(session: ActiveSession, now = Date.now()): boolean {
  const { refreshable, renewAt } = session.tokens;
  return session.row.provider !== null && refreshable !== true && renewAt !== undefined && now >= renewAt;
}

/** A top-level page load, which can be redirected; fetch/XHR calls and writes get a status instead. */
export function isNavigation(request: { method: string; headers: IncomingHttpHeaders }): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  const mode = request.headers['sec-fetch-mode'];
  if (mode !== undefined) return mode === 'navigate';
  return (request.headers.accept ?? '').includes('text/html') && request.headers['x-requested-with'] === undefined;
}

/**
 * Keeps a provider session honest on every request. With a refresh token, an expiring access
 * token is refreshed (a refused refresh logs the user out). Without one, the provider is asked
 * again silently (prompt=none) every OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS: a page navigation is
 * redirected there, and anything else (a POST, fetch/XHR) gets a 401 JSON with the URL, so no write
 * goes through on a session the provider may have ended.
 */
export async function renewSession(ctx: AppContext, request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
  const session = request.session;
  if (!session?.row.provider || request.routeOptions.config.renewal === false) return false;
  const provider = ctx.rp.providers.some((p) => p.id === session.row.provider) ? ctx.rp.provider(session.row.provider) : undefined;
  if (!provider) return false;

  if (needsRefresh(session.tokens)) {
    const { outcome, error } = await refreshSession(ctx.db, provider, session, { httpTimeoutMs: ctx.config.httpTimeoutMs, tokens: ctx.rp.tokens });
    request.log.info({ provider: provider.config.id, outcome, ...(error ? { code: error.code, reason: error.message } : {}) }, 'session token refresh');
    if (outcome === 'ended') {
      request.session = null;
      request.user = null;
      clearSessionCookie(ctx.config, reply);
    }
    return false;
  }

  if (!renewalDue(session)) return false;
  const renewUrl = `${RENEW_PATH}?${new URLSearchParams({ next: request.url })}`;
  if (isNavigation(request)) {
    reply.redirect(renewUrl, 302);
  } else {
    reply.code(401).header('www-authenticate', 'Bearer').send({
      error: 'SESSION_RENEWAL_REQUIRED',
      message: `The ${provider.config.name} session must be confirmed again. Send the browser to refresh_url.`,
      refresh_url: `${ctx.config.appUrl}${renewUrl}`,
    });
  }
  return true;
}
