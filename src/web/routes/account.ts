/**
 * Your own account (django-allauth's account and usersessions pages, in one):
 *
 *   GET  /accounts/                        username, email and whether it is verified, linked identities,
 *                                          your sessions, a link to change your password
 *   POST /accounts/sessions/end/           `session`: sign out that session (this one too)
 *   POST /accounts/sessions/end-others/    sign out every session but this one
 *   POST /accounts/email/                  `email`, `password`: a new address, unverified until its link is followed
 *   POST /accounts/email/resend/           the link again
 *   GET/POST /accounts/email/verify/<uidb64>/<token>/   the mailed link: a page whose button confirms
 *
 * Every POST is CSRF-protected and audited. Changing the email asks for the password: a stolen session
 * must not be able to point the account's reset mail at another inbox.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { confirmEmail } from '../../accounts/email-verification.ts';
import { isEmailAddress, normalizeEmail } from '../../accounts/email.ts';
import { clearFailures, reserveAttempt } from '../../accounts/lockout.ts';
import { verifyPassword } from '../../accounts/passwords.ts';
import { decodeUid, emailVerificationTokens } from '../../accounts/tokens.ts';
import { findUserById } from '../../accounts/users.ts';
import { formatTime, methodLabeller, shortUserAgent } from '../../admin/view-models.ts';
import type { User } from '../../db/schema.ts';
import { OidcConnectError } from '../../errors.ts';
import { changeEmail, resendVerification } from '../../mail/email-verification.ts';
import { identitiesOf } from '../../provisioning/identities.ts';
import { deleteUserSessions, endUserSession } from '../../sessions/index.ts';
import { activeSessionsOf } from '../../sessions/listing.ts';
import { audit, auditAnonymous } from '../audit.ts';
import type { AppContext } from '../context.ts';
import { field } from '../form.ts';
import { withLoggedOutFlag } from '../pages/logout-notice.ts';
import { userView } from '../pages/views.ts';
import { formToken, formTokenCheck } from '../protection/csrf.ts';
import { hashingCapacityOf } from '../protection/hashing-capacity.ts';
import { perAddress } from '../protection/rate-limits.ts';
import { clearSessionCookie } from '../session/cookie.ts';
import { requireLogin } from '../session/guards.ts';

/** The message after an action, by the `done` query parameter. */
const FLASH: Record<string, string> = {
  session_ended: 'The session was signed out.',
  others_ended: 'Every other session was signed out.',
  email_sent: 'We sent a link to your new address. Follow it to confirm the address.',
  email_resent: 'We sent the link again.',
  email_verified: 'Your email address is confirmed.',
};

export function ownAccountRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { config, db } = ctx;
  const checkFormToken = formTokenCheck(app);
  const hashing = hashingCapacityOf(config);
  const verificationLinks = emailVerificationTokens(config.sessionSecret);
  const methodLabel = methodLabeller(ctx.rp.providers);
  const signedInPost = { preHandler: [requireLogin, checkFormToken] };
  const wakeSender = (_request: FastifyRequest, _reply: FastifyReply, done: () => void) => {
    ctx.mail?.wake();
    done();
  };
  const requester = (request: FastifyRequest) => ({ ip: request.ip, userAgent: request.headers['user-agent'] ?? '' });

  const page = async (request: FastifyRequest, reply: FastifyReply, messages: { flash?: string | null; error?: string | null }) => {
    const user = request.user!;
    const [identities, sessions] = await Promise.all([identitiesOf(db, user.id), activeSessionsOf(db, user.id, config.session)]);
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(ctx.views.render('account', {
      user: userView(user),
      csrf: formToken(reply),
      emailVerified: user.email_verified === 1,
      canChangeEmail: user.password !== null && ctx.mail !== null,
      identities: identities.map((i) => ({
        provider: ctx.rp.providers.find((p) => p.issuer === i.issuer)?.name ?? new URL(i.issuer).host,
        issuer: i.issuer, subject: i.subject, linked: formatTime(i.created), lastLogin: formatTime(i.last_login),
      })),
      sessions: sessions.map((s) => ({
        id: s.id, current: s.id === request.session?.id, device: shortUserAgent(s.user_agent), userAgent: s.user_agent, ip: s.ip,
        method: methodLabel(s.provider ?? 'local'), started: formatTime(s.created), lastSeen: formatTime(s.last_seen),
      })),
      flash: messages.flash ?? null,
      error: messages.error ?? null,
    }));
  };

  app.get('/accounts/', { preHandler: requireLogin }, async (request, reply) =>
    page(request, reply, { flash: FLASH[field(request.query, 'done')] ?? null }));

  app.post('/accounts/sessions/end/', signedInPost, async (request, reply) => {
    const user = request.user!;
    const id = field(request.body, 'session');
    if (id === '' || id.length > 64 || !(await endUserSession(db, user.id, id))) {
      return page(request, reply.code(400), { error: 'That session has already ended.' });
    }
    const current = id === request.session?.id;
    await audit(ctx, request, { type: 'session_end', method: 'local', userId: user.id, username: user.username, detail: current ? 'this session' : '1 other session' });
    if (!current) return reply.redirect('/accounts/?done=session_ended', 303);
    clearSessionCookie(config, reply);
    return reply.redirect(withLoggedOutFlag(config.logoutRedirectUrl, config.appUrl), 303);
  });

  app.post('/accounts/sessions/end-others/', signedInPost, async (request, reply) => {
    const user = request.user!;
    const ended = await deleteUserSessions(db, user.id, request.session?.id);
    await audit(ctx, request, { type: 'session_end', method: 'local', userId: user.id, username: user.username, detail: `${ended} other session${ended === 1 ? '' : 's'}` });
    return reply.redirect('/accounts/?done=others_ended', 303);
  });

  app.post('/accounts/email/', {
    ...signedInPost, config: { rateLimit: perAddress(config.passwordChecks.perIpPerMinute) }, onResponse: wakeSender,
  }, async (request, reply) => {
    const user = request.user!;
    if (user.password === null) throw new OidcConnectError('FORBIDDEN', 'Your email comes from your identity provider, and is updated each time you sign in through it.');
    if (ctx.mail === null) throw new OidcConnectError('MAIL_NOT_CONFIGURED', 'Email is not set up here, so a new address can’t be confirmed. Ask an administrator to change it.');
    const email = field(request.body, 'email').trim();
    const password = field(request.body, 'password');
    if (!isEmailAddress(email)) return page(request, reply.code(400), { error: 'Enter a valid email address.' });
    // As the password change: whoever holds the session may not guess the password through this form.
    if (!(await reserveAttempt(db, config.lockout, user.username))) {
      throw new OidcConnectError('TOO_MANY_ATTEMPTS', 'Too many wrong passwords for this account. Wait, then try again.', { retryAfterSeconds: config.lockout.windowSeconds });
    }
    const stored = user.password;
    if (password.length > 4096 || !(await hashing.run(() => verifyPassword(password, stored)))) {
      return page(request, reply.code(400), { error: 'Your password was entered incorrectly. Please enter it again.' });
    }
    await clearFailures(db, user.username);
    if (normalizeEmail(email) === user.email_key && user.email_verified === 1) return reply.redirect('/accounts/?done=email_verified', 303);
    await changeEmail(db, user, email, requester(request));
    return reply.redirect('/accounts/?done=email_sent', 303);
  });

  app.post('/accounts/email/resend/', { ...signedInPost, onResponse: wakeSender }, async (request, reply) => {
    const user = request.user!;
    if (ctx.mail === null || user.email_key === '' || user.email_verified === 1 || user.password === null) {
      return page(request, reply.code(400), { error: 'There is no address waiting to be confirmed.' });
    }
    await resendVerification(db, user, requester(request));
    return reply.redirect('/accounts/?done=email_resent', 303);
  });

  /** The account a verification link is for, while it works: the address is still unverified and the same. */
  const linkUser = async (uidb64: string, token: string): Promise<User | undefined> => {
    const id = decodeUid(uidb64);
    if (id === undefined || token.length > 64) return undefined;
    const user = await findUserById(db, id);
    return user && user.is_active && verificationLinks.check(user, token) ? user : undefined;
  };
  const verifyPage = (request: FastifyRequest, reply: FastifyReply, user: User | undefined) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(ctx.views.render('email_verify', {
      user: userView(request.user), validlink: user !== undefined, csrf: user ? formToken(reply) : '', action: request.url, email: user?.email ?? '',
    }));
  const invalid = async (request: FastifyRequest, reply: FastifyReply) => {
    await auditAnonymous(ctx, request, { type: 'email_verified', method: 'local', errorCode: 'RESET_LINK_INVALID' });
    return verifyPage(request, reply.code(400), undefined);
  };

  app.get('/accounts/email/verify/:uidb64/:token/', async (request, reply) => {
    const { uidb64, token } = request.params as { uidb64: string; token: string };
    const user = await linkUser(uidb64, token);
    return user ? verifyPage(request, reply, user) : invalid(request, reply);
  });

  app.post('/accounts/email/verify/:uidb64/:token/', { preHandler: checkFormToken }, async (request, reply) => {
    const { uidb64, token } = request.params as { uidb64: string; token: string };
    const user = await linkUser(uidb64, token);
    if (!user || !(await confirmEmail(db, user))) return invalid(request, reply);
    await audit(ctx, request, { type: 'email_verified', method: 'local', userId: user.id, username: user.username });
    return reply.redirect('/accounts/?done=email_verified', 303);
  });
}
