import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../config/index.ts';
import { recordLogin } from '../../accounts/users.ts';
import type { Db } from '../../db/index.ts';
import { createSession, deleteSession, type NewSession } from '../../sessions/index.ts';
import type { AppContext } from '../context.ts';

/** `__Host-` makes the browser refuse the cookie unless it is Secure, host-only and Path=/. */
export function sessionCookieName(config: Config): string {
  return config.secureCookies ? '__Host-oc_session' : 'oc_session';
}

/**
 * Starts a fresh session for a user who just proved who they are, and sets its cookie.
 */
export async function startSession(
  ctx: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
  input: Omit<NewSession, 'userAgent' | 'ip'>,
): Promise<void> {
  setSessionCookie(ctx.config, reply, await openSession(ctx.db, ctx.config, request, input));
}

/**
 * A sign-in's session writes, in `db` (the sign-in's transaction, for a provider login): any session
 * the browser already had is deleted first, so a planted cookie can never become a logged-in one,
 * and the user's last_login is stamped. Returns the new session's cookie secret.
 */
export async function openSession(db: Db, config: Config, request: FastifyRequest, input: Omit<NewSession, 'userAgent' | 'ip'>): Promise<string> {
  if (request.session) await deleteSession(db, request.session.id);
  const secret = await createSession(db, config.session, {
    ...input,
    userAgent: request.headers['user-agent'] ?? '',
    ip: request.ip,
  });
  await recordLogin(db, input.userId);
  return secret;
}

export function setSessionCookie(config: Config, reply: FastifyReply, secret: string): void {
  reply.setCookie(sessionCookieName(config), secret, {
    httpOnly: true,
    sameSite: 'lax',
    path: '/',
    secure: config.secureCookies,
    maxAge: config.session.maxAgeSeconds,
  });
}

export function clearSessionCookie(config: Config, reply: FastifyReply): void {
  reply.clearCookie(sessionCookieName(config), { path: '/', httpOnly: true, sameSite: 'lax', secure: config.secureCookies });
}
