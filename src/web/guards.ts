import type { FastifyReply, FastifyRequest } from 'fastify';
import { OidcConnectError } from '../errors.ts';
import { isNavigation } from './session-renewal.ts';

/**
 * preHandler for routes that need a signed-in user: a page navigation goes to the login page
 * (and comes back through `next`); anything else gets 401.
 */
export async function requireLogin(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
  if (request.user) return undefined;
  if (isNavigation(request)) {
    return reply.redirect(`/accounts/login/?${new URLSearchParams({ next: request.url })}`, 302);
  }
  throw new OidcConnectError('LOGIN_REQUIRED', 'Log in to use this page.');
}
