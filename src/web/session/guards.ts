import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { OidcConnectError } from '../../errors.ts';
import { isNavigation } from './renewal.ts';

/**
 * What a request without a signed-in user gets where login is required, for every framework: a
 * page navigation is sent to the login page, and comes back to `url` through `next`; anything else
 * is refused with LOGIN_REQUIRED (401). Returns the login page's address, or that error.
 */
export function loginRequired(request: { method: string; headers: IncomingHttpHeaders }, url: string): string | OidcConnectError {
  if (isNavigation(request)) return `/accounts/login/?${new URLSearchParams({ next: url })}`;
  return new OidcConnectError('LOGIN_REQUIRED', 'Log in to use this page.');
}

/** The Fastify preHandler (`app.requireLogin`) for routes that need a signed-in user. */
export async function requireLogin(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
  if (request.user) return undefined;
  const refusal = loginRequired(request, request.url);
  if (typeof refusal === 'string') return reply.redirect(refusal, 302);
  throw refusal;
}
