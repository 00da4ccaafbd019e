import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { mayUseLocalLogin } from '../../accounts/groups.ts';
import { clearFailures, lockedOut, reserveAttempt } from '../../accounts/lockout.ts';
import { checkNewPassword } from '../../accounts/password-validation.ts';
import { verifyAgainstDummy, verifyPassword } from '../../accounts/passwords.ts';
import { needsRehash, rehashPassword } from '../../accounts/rehash.ts';
import { findUserByUsername, setPassword, typedUsername } from '../../accounts/users.ts';
import { hasSecondFactor } from '../../mfa/factors.ts';
import { OidcConnectError, isOidcConnectError } from '../../errors.ts';
import { deleteSession, deleteUserSessions } from '../../sessions/index.ts';
import { audit, auditAnonymous } from '../audit.ts';
import type { AppContext } from '../context.ts';
import { field } from '../form.ts';
import { loggedOut, withLoggedOutFlag } from '../pages/logout-notice.ts';
import { userView } from '../pages/views.ts';
import { formToken, formTokenCheck } from '../protection/csrf.ts';
import { hashingCapacityOf } from '../protection/hashing-capacity.ts';
import { perAddress } from '../protection/rate-limits.ts';
import { safeNext } from '../protection/redirects.ts';
import { clearSessionCookie, startSession } from '../session/cookie.ts';
import { beginSecondStep, finishLocalSignIn } from '../session/second-step.ts';

const GENERIC_LOGIN_ERROR = 'Please enter a correct username and password. Note that both fields may be case-sensitive.';
const FORM_FROM_BEFORE_SIGN_IN = 'This form was opened before you signed in, so it was not sent. Log in again to switch accounts.';

export function accountRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { config, db } = ctx;
  const checkFormToken = formTokenCheck(app);
  const hashing = hashingCapacityOf(config);
  // Per client address, before the CSRF check or any hashing; the lockout below is per username.
  const limited = { rateLimit: perAddress(config.passwordChecks.perIpPerMinute) };
  const limitedLogin = {
    rateLimit: perAddress(config.passwordChecks.perIpPerMinute,
      (request) => void auditAnonymous(ctx, request, { type: 'login_failure', method: 'local', errorCode: 'RATE_LIMITED' })),
  };
  const locked = () => lockedOut(config.lockout);

  const loginPage = (reply: FastifyReply, next: string, error: string | null, username = '', notice = false) =>
    reply.type('text/html; charset=utf-8').send(ctx.views.render('login', {
      error,
      loggedOut: notice,
      csrf: formToken(reply),
      next,
      username,
      signedInAs: reply.request.user?.username ?? null,
      providers: ctx.rp.providers.map((p) => ({
        name: p.label ?? p.name,
        query: new URLSearchParams({ provider: p.id, next }).toString(),
      })),
    }));

  app.get('/accounts/login/', async (request, reply) => {
    // Shown even to a signed-in user, as Django does, so they can switch accounts.
    return loginPage(reply, safeNext(field(request.query, 'next'), config.appUrl, config.loginRedirectUrl), null, '', loggedOut(request));
  });

  // A login form opened before this browser signed in (in another tab) carries a token of no session.
  // Its password is not checked: the form comes back with this session's token, saying who is signed
  // in, so that one more submit switches accounts and a forged one changes nothing.
  const checkLoginToken = formTokenCheck(app, {
    otherToken: (request, reply) => loginPage(reply.code(403), safeNext(field(request.body, 'next'), config.appUrl, config.loginRedirectUrl),
      FORM_FROM_BEFORE_SIGN_IN, field(request.body, 'username').trim().slice(0, 150)),
  });

  app.post('/accounts/login/', { config: limitedLogin, preHandler: checkLoginToken }, async (request, reply) => {
    const typed = field(request.body, 'username');
    const username = typedUsername(typed);
    const password = field(request.body, 'password');
    const next = safeNext(field(request.body, 'next'), config.appUrl, config.loginRedirectUrl);
    if (username === '' || password === '' || password.length > 4096) {
      // No account named: counted per address and minute, as anyone can send these at any rate.
      await auditAnonymous(ctx, request, { type: 'login_failure', method: 'local', errorCode: 'INVALID_CREDENTIALS' });
      return loginPage(reply.code(400), next, GENERIC_LOGIN_ERROR, typed.trim().slice(0, 150));
    }
    if (!(await reserveAttempt(db, config.lockout, username))) {
      await audit(ctx, request, { type: 'login_failure', method: 'local', errorCode: 'TOO_MANY_ATTEMPTS', username });
      throw locked();
    }
    const user = await findUserByUsername(db, username);
    let ok: boolean;
    // An imported hash that asks for too much work is answered as a wrong password; only the operator is told.
    let refusedHash = false;
    try {
      ok = await hashing.run(() => (user?.password ? verifyPassword(password, user.password) : verifyAgainstDummy(password)));
    } catch (error) {
      if (isOidcConnectError(error) && error.code === 'PASSWORD_HASH_REFUSED') {
        request.log.warn({ code: error.code, userId: user?.id }, error.message);
        ok = false;
        refusedHash = true;
      } else {
        if (isOidcConnectError(error)) await audit(ctx, request, { type: 'login_failure', method: 'local', errorCode: error.code, username });
        throw error;
      }
    }
    if (!user || !ok || !user.is_active) {
      if (!refusedHash) request.log.info({ code: 'INVALID_CREDENTIALS' }, 'local login refused');
      await audit(ctx, request, {
        type: 'login_failure', method: 'local', username, userId: user?.id ?? null,
        errorCode: refusedHash ? 'PASSWORD_HASH_REFUSED' : user && ok && !user.is_active ? 'USER_INACTIVE' : 'INVALID_CREDENTIALS',
      });
      return loginPage(reply.code(401), next, GENERIC_LOGIN_ERROR, username);
    }
    await clearFailures(db, username);
    // Told only once the password is right, so the refusal reveals nothing to a guesser.
    if (!(await mayUseLocalLogin(db, config.localRequiredGroups, user))) {
      await audit(ctx, request, { type: 'login_failure', method: 'local', errorCode: 'USER_NOT_ALLOWED', username, userId: user.id });
      throw new OidcConnectError('USER_NOT_ALLOWED', `Sign-in with a password is limited to members of ${config.localRequiredGroups.join(', ')}.`);
    }
    if (needsRehash(user.password)) await rehashPassword(db, user.id, user.password, password);
    // With a second factor the password opens no session: the browser goes on to the second step.
    if (await hasSecondFactor(db, user.id)) return beginSecondStep(ctx, request, reply, user, next);
    return finishLocalSignIn(ctx, request, reply, { user, next, amr: ['pwd'], method: 'local' });
  });

  const afterLogout = withLoggedOutFlag(config.logoutRedirectUrl, config.appUrl);
  app.post('/accounts/logout/', { config: { renewal: false }, preHandler: checkFormToken }, async (request, reply) => {
    const session = request.session;
    clearSessionCookie(config, reply);
    if (!session) return reply.redirect(afterLogout, 302);
    await deleteSession(db, session.id);
    await audit(ctx, request, { type: 'logout', method: session.row.provider ?? 'local', userId: session.user.id, username: session.user.username });
    const providerLogout = await ctx.rp.logoutUrl(session);
    return reply.redirect(providerLogout ?? afterLogout, 302);
  });

  const requireLocalUser = (request: FastifyRequest, reply: FastifyReply) => {
    if (!request.user) {
      reply.redirect(`/accounts/login/?${new URLSearchParams({ next: request.url })}`, 302);
      return undefined;
    }
    return request.user;
  };

  app.get('/accounts/password_change/', async (request, reply) => {
    const user = requireLocalUser(request, reply);
    if (!user) return reply;
    return reply.type('text/html; charset=utf-8').send(ctx.views.render('password_change', { user: userView(user), csrf: formToken(reply), error: null }));
  });

  app.post('/accounts/password_change/', { config: limited, preHandler: checkFormToken }, async (request, reply) => {
    const user = requireLocalUser(request, reply);
    if (!user) return reply;
    if (!user.password) throw new OidcConnectError('FORBIDDEN', 'Your account signs in through an identity provider, so it has no local password to change.');
    const again = (status: number, error: string) =>
      reply.code(status).type('text/html; charset=utf-8').send(ctx.views.render('password_change', { user: userView(user), csrf: formToken(reply), error }));

    const oldPassword = field(request.body, 'old_password');
    const new1 = field(request.body, 'new_password1');
    const new2 = field(request.body, 'new_password2');
    // Whoever holds the session may not guess the password through this form either.
    if (!(await reserveAttempt(db, config.lockout, user.username))) throw locked();
    const stored = user.password;
    if (oldPassword.length > 4096 || !(await hashing.run(() => verifyPassword(oldPassword, stored)))) {
      return again(400, 'Your old password was entered incorrectly. Please enter it again.');
    }
    await clearFailures(db, user.username);
    if (new1 !== new2) return again(400, 'The two password fields didn’t match.');
    try {
      checkNewPassword(new1, user);
    } catch (error) {
      if (isOidcConnectError(error)) return again(400, error.message);
      throw error;
    }
    await hashing.run(() => setPassword(db, user.id, new1));
    await audit(ctx, request, { type: 'password_change', method: 'local', userId: user.id, username: user.username });
    // A changed password must cut off whoever else knew the old one.
    // The new session goes on from this one's sign-in, and keeps how it was made (a second factor, say).
    const amr = request.session?.row.amr.split(' ') ?? [];
    await deleteUserSessions(db, user.id);
    request.session = null;
    await startSession(ctx, request, reply, { userId: user.id, amr });
    return reply.redirect('/accounts/password_change/done/', 302);
  });

  app.get('/accounts/password_change/done/', async (request, reply) => {
    const user = requireLocalUser(request, reply);
    if (!user) return reply;
    return reply.type('text/html; charset=utf-8').send(ctx.views.render('password_change_done', { user: userView(user) }));
  });
}
