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

/** What a route asks of its signed-in user beyond being signed in. */
export interface LoginRequirements {
  /** Every one of these roles (ROLE_RULES, `staff`, `superuser`; see src/accounts/roles.ts), else 403 FORBIDDEN. */
  roles?: readonly string[];
}

type LoginHook = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>;

/** FORBIDDEN for a signed-in user who lacks one of `roles`, else undefined. */
export function missingRoles(user: { readonly roles: readonly string[] }, roles: readonly string[]): OidcConnectError | undefined {
  const missing = roles.filter((role) => !user.roles.includes(role));
  return missing.length === 0 ? undefined : new OidcConnectError('FORBIDDEN', `This page needs the role ${missing.join(', ')}.`);
}

/** The roles of a route's requirements, checked where it is declared. */
export function requiredRoles(options: LoginRequirements): readonly string[] {
  const roles = options.roles ?? [];
  if (!Array.isArray(roles) || !roles.every((role) => typeof role === 'string' && role !== '')) {
    throw new TypeError('requireLogin: roles must be an array of role names');
  }
  return Object.freeze([...roles]);
}

/**
 * The Fastify preHandler (`app.requireLogin`) for routes that need a signed-in user, used as it is,
 * or called with requirements to make one that also checks roles:
 *
 * @example
 * app.get('/account', { preHandler: app.requireLogin }, handler);
 * app.get('/support', { preHandler: app.requireLogin({ roles: ['support'] }) }, handler);
 */
export function requireLogin(options: LoginRequirements): LoginHook;
export function requireLogin(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined>;
export function requireLogin(first: FastifyRequest | LoginRequirements, reply?: FastifyReply): LoginHook | Promise<FastifyReply | undefined> {
  if (reply === undefined) {
    const roles = requiredRoles(first as LoginRequirements);
    return (request, hookReply) => loginGuard(request, hookReply, roles);
  }
  return loginGuard(first as FastifyRequest, reply, []);
}

async function loginGuard(request: FastifyRequest, reply: FastifyReply, roles: readonly string[]): Promise<FastifyReply | undefined> {
  if (request.user) {
    const refusal = missingRoles(request.user, roles);
    if (refusal) throw refusal;
    return undefined;
  }
  const refusal = loginRequired(request, request.url);
  if (typeof refusal === 'string') return reply.redirect(refusal, 302);
  throw refusal;
}
