import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { User } from '../../db/schema.ts';
import { OidcConnectError } from '../../errors.ts';
import { errorPageHtml } from '../pages/error-pages.ts';
import type { ViewRenderer } from '../pages/views.ts';
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

/** Our 403 page for a page navigation that lacks a role, for every framework; undefined for other requests. */
export function forbiddenPage(views: ViewRenderer, request: { method: string; headers: IncomingHttpHeaders }, user: User, refusal: OidcConnectError): string | undefined {
  return isNavigation(request) ? errorPageHtml(views, user, refusal) : undefined;
}

type LoginHook = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>;

/** `app.requireLogin`: a preHandler as it is, and, called with requirements, one that checks roles too. */
export interface RequireLogin {
  (options: LoginRequirements): LoginHook;
  (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined>;
}

/** The preHandler of our own routes that need a signed-in user (roles are theirs to check). */
export async function requireLogin(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
  if (request.user) return undefined;
  const refusal = loginRequired(request, request.url);
  if (typeof refusal === 'string') return reply.redirect(refusal, 302);
  throw refusal;
}

/**
 * `app.requireLogin` for the host's routes, used as it is or called with requirements. A user
 * without a required role gets 403: a page navigation our error page, anything else FORBIDDEN
 * thrown to the app's error handler, as LOGIN_REQUIRED is.
 *
 * @example
 * app.get('/account', { preHandler: app.requireLogin }, handler);
 * app.get('/support', { preHandler: app.requireLogin({ roles: ['support'] }) }, handler);
 */
export function loginGuard(views: ViewRenderer): RequireLogin {
  const guard = async (request: FastifyRequest, reply: FastifyReply, roles: readonly string[]): Promise<FastifyReply | undefined> => {
    if (!request.user) return requireLogin(request, reply);
    const refusal = missingRoles(request.user, roles);
    if (!refusal) return undefined;
    const page = forbiddenPage(views, request, request.user, refusal);
    if (page === undefined) throw refusal;
    return reply.code(403).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page);
  };
  function hook(options: LoginRequirements): LoginHook;
  function hook(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined>;
  function hook(first: FastifyRequest | LoginRequirements, reply?: FastifyReply): LoginHook | Promise<FastifyReply | undefined> {
    if (reply === undefined) {
      const roles = requiredRoles(first as LoginRequirements);
      return (request, hookReply) => guard(request, hookReply, roles);
    }
    return guard(first as FastifyRequest, reply, []);
  }
  return hook;
}
