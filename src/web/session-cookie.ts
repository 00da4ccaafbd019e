import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/index.ts';
import { recordLogin } from '../accounts/users.ts';
import { createSession, deleteSession, type NewSession } from '../sessions/index.ts';
import type { AppContext } from './context.ts';

/** `__Host-` makes the browser refuse the cookie unless it is Secure, host-only and Path=/. */
export function sessionCookieName(config: Config): string {
  return config.secureCookies ? '__Host-oc_session' : 'oc_session';
}

/**
 * Starts a fresh session for a user who just proved who they are. Any session the browser
 * already had is deleted first, so a planted cookie can never become a logged-in one.
 */
export async function startSession(
  ctx: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
  input: Omit<NewSession, 'userAgent' | 'ip'>,
): Promise<void> {
  if (request.session) await deleteSession(ctx.db, request.session.id);
  const secret = await createSession(ctx.db, ctx.config.session, {
    ...input,
    userAgent: request.headers['user-agent'] ?? '',
    ip: request.ip,
  });
  await recordLogin(ctx.db, input.userId);
  reply.setCookie(sessionCookieName(ctx.config), secret, {
    httpOnly: true,
    sameSite: 'lax',
    path: '/',
    secure: ctx.config.secureCookies,
    maxAge: ctx.config.session.maxAgeSeconds,
  });
}

export function clearSessionCookie(config: Config, reply: FastifyReply): void {
  reply.clearCookie(sessionCookieName(config), { path: '/', httpOnly: true, sameSite: 'lax', secure: config.secureCookies });
}
