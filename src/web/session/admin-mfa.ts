/**
 * ADMIN_REQUIRE_MFA: the admin pages open only on a multi-factor sign-in. A session signed in with
 * a second factor passes (its `amr`, src/mfa/policy.ts). Otherwise:
 * - a provider session steps up: a page navigation is sent through a new sign-in at the provider
 *   that asks for a second factor (STEP_UP_PATH, src/web/routes/oidc.ts), and comes back;
 * - a local staff member with a password passes once they have a factor (enrolled since this
 *   session began); until then a navigation is sent to /accounts/2fa/ to set one up.
 * Anything that is not a navigation (a form post, a fetch) gets 403 MFA_REQUIRED.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { OidcConnectError } from '../../errors.ts';
import { hasSecondFactor } from '../../mfa/factors.ts';
import { isMultiFactor } from '../../mfa/policy.ts';
import type { AppContext } from '../context.ts';
import { isNavigation } from './renewal.ts';
import { FACTORS_PATH } from './second-step.ts';

/** Where a provider session asks its provider again, for a multi-factor sign-in (`?next=`, `?max_age=`). */
export const STEP_UP_PATH = '/authorization-code/step-up/';

/** The preHandler part of the admin's guard that runs after the staff check; undefined when the request may go on. */
export function adminMfaGuard(ctx: AppContext): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined> {
  const { config, db } = ctx;
  return async (request, reply) => {
    if (!config.mfa.adminRequired) return undefined;
    const session = request.session;
    const user = request.user!;
    if (session && isMultiFactor(session.row, config.mfa.acrValues)) return undefined;
    if (session?.row.provider) {
      if (isNavigation(request)) return reply.redirect(`${STEP_UP_PATH}?${new URLSearchParams({ next: request.url })}`, 302);
      throw new OidcConnectError('MFA_REQUIRED', 'The admin pages need a sign-in with a second factor at your provider. Open the page in the browser to sign in again.');
    }
    if (session && (user.password === null || await hasSecondFactor(db, user.id))) return undefined;
    if (isNavigation(request)) return reply.redirect(`${FACTORS_PATH}?${new URLSearchParams({ next: request.url })}`, 302);
    throw new OidcConnectError('MFA_REQUIRED', `The admin pages need a second factor: set one up at ${FACTORS_PATH}.`);
  };
}
