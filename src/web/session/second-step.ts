/**
 * Local sign-in with a second factor. A right password for a user with an authenticator app or a
 * passkey opens no session: the browser gets a pending step instead (src/mfa/pending.ts), a cookie
 * that no page but /accounts/2fa/authenticate/ reads, for 5 minutes and once. The session starts
 * when the second factor is right (or with a passkey alone), here.
 *
 * ADMIN_REQUIRE_MFA: a staff member or superuser with a password and no factor is sent to
 * /accounts/2fa/ at sign-in, to enrol before the admin lets them in.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { User } from '../../db/schema.ts';
import { hasSecondFactor } from '../../mfa/factors.ts';
import { cancelPendingSignIn, PENDING_LIFETIME_MS, startPendingSignIn } from '../../mfa/pending.ts';
import { audit } from '../audit.ts';
import type { AppContext } from '../context.ts';
import { startSession } from './cookie.ts';

/** Where the second step of a sign-in is asked for. */
export const SECOND_STEP_PATH = '/accounts/2fa/authenticate/';
/** The page of a user's second factors. */
export const FACTORS_PATH = '/accounts/2fa/';

/** `__Host-` where APP_URL is https, as the session cookie. */
export function pendingCookieName(config: AppContext['config']): string {
  return config.secureCookies ? '__Host-oc_mfa' : 'oc_mfa';
}

/** Begins the second step for `user`, whose password was right: no session, a pending step and its cookie. */
export async function beginSecondStep(ctx: AppContext, request: FastifyRequest, reply: FastifyReply, user: User, next: string): Promise<FastifyReply> {
  const name = pendingCookieName(ctx.config);
  const previous = request.cookies[name];
  const secret = await startPendingSignIn(ctx.db, { userId: user.id, next, ...(previous === undefined ? {} : { previous }) });
  reply.setCookie(name, secret, {
    httpOnly: true, sameSite: 'lax', path: '/', secure: ctx.config.secureCookies, maxAge: PENDING_LIFETIME_MS / 1000,
  });
  return reply.redirect(SECOND_STEP_PATH, 302);
}

/** Ends this browser's pending step, if any (a cancel, or the step done). */
export async function endSecondStep(ctx: AppContext, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const name = pendingCookieName(ctx.config);
  const secret = request.cookies[name];
  if (secret !== undefined) await cancelPendingSignIn(ctx.db, secret);
  reply.clearCookie(name, { path: '/', httpOnly: true, sameSite: 'lax', secure: ctx.config.secureCookies });
}

/**
 * Where a local sign-in lands: `next`, unless ADMIN_REQUIRE_MFA says this staff member must enrol
 * first, then the page of their factors (which leads on to `next`).
 */
export async function landingAfterSignIn(ctx: AppContext, user: User, next: string, multiFactor: boolean): Promise<string> {
  if (multiFactor || !ctx.config.mfa.adminRequired || user.password === null || !(user.is_staff || user.is_superuser)) return next;
  if (await hasSecondFactor(ctx.db, user.id)) return next;
  return `${FACTORS_PATH}?${new URLSearchParams({ next })}`;
}

/**
 * A local sign-in that passed every check: the session starts (with how it was made, `amr`), the
 * success is audited, and the browser is sent on.
 */
export async function finishLocalSignIn(ctx: AppContext, request: FastifyRequest, reply: FastifyReply, input: {
  user: User; next: string; amr: readonly string[]; method: 'local' | 'passkey'; detail?: string;
}): Promise<FastifyReply> {
  const { user } = input;
  await startSession(ctx, request, reply, { userId: user.id, amr: input.amr });
  await audit(ctx, request, {
    type: 'login_success', method: input.method, userId: user.id, username: user.username, ...(input.detail ? { detail: input.detail } : {}),
  });
  return reply.redirect(await landingAfterSignIn(ctx, user, input.next, input.amr.includes('mfa')), 302);
}
