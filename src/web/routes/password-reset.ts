/**
 * Django's password reset, at Django's addresses and with its field names (django.contrib.auth.urls):
 *
 *   GET/POST /accounts/password_reset/          the form (`email`); always on to …/done/
 *   GET      /accounts/password_reset/done/     "check your mail"
 *   GET      /accounts/reset/<uidb64>/<token>/  the mailed link: keeps the token in a cookie and
 *                                               redirects to …/set-password/, as Django does, so the
 *                                               token leaves the address bar and the history
 *   GET/POST /accounts/reset/<uidb64>/set-password/  `new_password1`, `new_password2`
 *   GET      /accounts/reset/done/              "your password has been set"
 *
 * The form's POST writes one outbox row, whatever the address, and answers: whether an account has
 * that address is worked out by the mail sender, after the answer has gone (src/mail/password-reset.ts).
 * So neither the answer nor the work done before it tells a known address from an unknown one, and the
 * request never waits for SMTP. A reset checks the new password like every other form, ends every
 * session of the account on every instance, clears its lockout, and is audited.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isEmailAddress } from '../../accounts/email.ts';
import { mayResetPassword, resetPassword } from '../../accounts/password-reset.ts';
import { decodeUid, passwordResetTokens } from '../../accounts/tokens.ts';
import { findUserById } from '../../accounts/users.ts';
import type { User } from '../../db/schema.ts';
import { isOidcConnectError, OidcConnectError } from '../../errors.ts';
import { requestPasswordReset } from '../../mail/password-reset.ts';
import { deleteUserSessions } from '../../sessions/index.ts';
import { audit, auditAnonymous } from '../audit.ts';
import type { AppContext } from '../context.ts';
import { field } from '../form.ts';
import { userView } from '../pages/views.ts';
import { formToken, formTokenCheck } from '../protection/csrf.ts';
import { hashingCapacityOf } from '../protection/hashing-capacity.ts';
import { perAddress } from '../protection/rate-limits.ts';
import { clearSessionCookie } from '../session/cookie.ts';

/** Reset forms one client address may send in an hour (each may ask for mail to any address). */
export const RESET_REQUESTS_PER_IP_PER_HOUR = 20;
/** Django's INTERNAL_RESET_URL_TOKEN: the address the form lives at once the token is in the cookie. */
const SET_PASSWORD = 'set-password';

export function passwordResetRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { config, db } = ctx;
  const checkFormToken = formTokenCheck(app);
  const hashing = hashingCapacityOf(config);
  const links = passwordResetTokens(config.sessionSecret, config.mail.passwordResetTimeoutSeconds);
  const cookieName = config.secureCookies ? '__Secure-oc_reset' : 'oc_reset';
  const cookiePath = (uidb64: string) => `/accounts/reset/${uidb64}/`;
  const html = (reply: FastifyReply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-store');

  const resetForm = (request: FastifyRequest, reply: FastifyReply, email: string, error: string | null) =>
    html(reply).send(ctx.views.render('password_reset_form', {
      user: userView(request.user), csrf: formToken(reply), email, error, mailConfigured: ctx.mail !== null,
    }));

  app.get('/accounts/password_reset/', async (request, reply) => resetForm(request, reply, '', null));

  app.post('/accounts/password_reset/', {
    config: { rateLimit: perAddress(RESET_REQUESTS_PER_IP_PER_HOUR, undefined, 60 * 60_000) },
    preHandler: checkFormToken,
    // The sender looks at the outbox once the answer has gone, so its work never delays the answer.
    onResponse: (_request, _reply, done) => {
      ctx.mail?.wake();
      done();
    },
  }, async (request, reply) => {
    const email = field(request.body, 'email').trim();
    if (ctx.mail === null) throw new OidcConnectError('MAIL_NOT_CONFIGURED', 'Password reset by email is not set up here. Ask an administrator to set a new password for you.');
    if (email === '') return resetForm(request, reply.code(400), email, 'This field is required.');
    if (!isEmailAddress(email)) return resetForm(request, reply.code(400), email.slice(0, 254), 'Enter a valid email address.');
    await requestPasswordReset(db, email, { ip: request.ip, userAgent: request.headers['user-agent'] ?? '' });
    return reply.redirect('/accounts/password_reset/done/', 302);
  });

  app.get('/accounts/password_reset/done/', async (request, reply) =>
    html(reply).send(ctx.views.render('password_reset_done', { user: userView(request.user) })));

  /** The account a link is for, while the link works: the right user, token and time, and the account may still reset. */
  const linkUser = async (uidb64: string, token: string | undefined): Promise<User | undefined> => {
    const id = decodeUid(uidb64);
    if (id === undefined || token === undefined || token.length > 64) return undefined;
    const user = await findUserById(db, id);
    return user && mayResetPassword(user) && links.check(user, token) ? user : undefined;
  };

  const invalidLink = async (request: FastifyRequest, reply: FastifyReply) => {
    await auditAnonymous(ctx, request, { type: 'password_reset', method: 'local', errorCode: 'RESET_LINK_INVALID' });
    return confirmPage(request, reply.code(400), '', null, null);
  };

  const confirmPage = (request: FastifyRequest, reply: FastifyReply, uidb64: string, user: User | null, error: string | null) =>
    html(reply).send(ctx.views.render('password_reset_confirm', {
      user: userView(request.user), validlink: user !== null, csrf: user ? formToken(reply) : '',
      action: `/accounts/reset/${uidb64}/${SET_PASSWORD}/`, username: user?.username ?? '', error,
    }));

  app.get('/accounts/reset/:uidb64/:token/', async (request, reply) => {
    const { uidb64, token } = request.params as { uidb64: string; token: string };
    if (token === SET_PASSWORD) {
      const user = await linkUser(uidb64, request.cookies[cookieName]);
      return user ? confirmPage(request, reply, uidb64, user, null) : invalidLink(request, reply);
    }
    if (!(await linkUser(uidb64, token))) return invalidLink(request, reply);
    reply.setCookie(cookieName, token, {
      path: cookiePath(uidb64), httpOnly: true, sameSite: 'lax', secure: config.secureCookies, maxAge: config.mail.passwordResetTimeoutSeconds,
    });
    return reply.redirect(`/accounts/reset/${uidb64}/${SET_PASSWORD}/`, 302);
  });

  app.post(`/accounts/reset/:uidb64/${SET_PASSWORD}/`, {
    config: { rateLimit: perAddress(config.passwordChecks.perIpPerMinute) },
    preHandler: checkFormToken,
  }, async (request, reply) => {
    const { uidb64 } = request.params as { uidb64: string };
    const user = await linkUser(uidb64, request.cookies[cookieName]);
    if (!user) return invalidLink(request, reply);
    const new1 = field(request.body, 'new_password1');
    const new2 = field(request.body, 'new_password2');
    if (new1 !== new2) return confirmPage(request, reply.code(400), uidb64, user, 'The two password fields didn’t match.');
    if (new1.length > 4096) return confirmPage(request, reply.code(400), uidb64, user, 'The password is too long.');
    let changed: boolean;
    try {
      changed = await hashing.run(() => resetPassword(db, user, new1));
    } catch (error) {
      if (isOidcConnectError(error) && error.code === 'PASSWORD_INVALID') return confirmPage(request, reply.code(400), uidb64, user, error.message);
      throw error;
    }
    // Another form sent with the same link won the race: this link is used.
    if (!changed) return invalidLink(request, reply);
    // Whoever knew the old password, or holds a session, is cut off everywhere.
    const ended = await deleteUserSessions(db, user.id);
    await audit(ctx, request, {
      type: 'password_reset', method: 'local', userId: user.id, username: user.username,
      detail: `${ended} session${ended === 1 ? '' : 's'} ended`,
    });
    reply.clearCookie(cookieName, { path: cookiePath(uidb64), httpOnly: true, sameSite: 'lax', secure: config.secureCookies });
    if (request.session?.user.id === user.id) {
      request.session = null;
      request.user = null;
      clearSessionCookie(config, reply);
    }
    return reply.redirect('/accounts/reset/done/', 302);
  });

  app.get('/accounts/reset/done/', async (request, reply) =>
    html(reply).send(ctx.views.render('password_reset_complete', { user: userView(request.user) })));
}
