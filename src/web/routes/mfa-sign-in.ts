/**
 * Signing in with second factors: the second step after a password (/accounts/2fa/authenticate/,
 * field `code`: an authenticator code or a recovery code; or "Use a passkey"), and a passkey alone
 * (/accounts/2fa/webauthn/login/, the login page's "Sign in with a passkey").
 *
 * Codes are limited like passwords: per client address (LOGIN_RATE_LIMIT_PER_MINUTE), and per user
 * by a lockout of their own (src/accounts/lockout.ts), whose count a right password does not clear.
 * Every wrong code gets the same answer.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { mayUseLocalLogin } from '../../accounts/groups.ts';
import { clearFailures, lockedOut, reserveAttempt, secondFactorKey } from '../../accounts/lockout.ts';
import { findUserById } from '../../accounts/users.ts';
import type { User } from '../../db/schema.ts';
import { sha256Base64url } from '../../digest.ts';
import { OidcConnectError } from '../../errors.ts';
import { findPendingSignIn, takePendingSignIn } from '../../mfa/pending.ts';
import { recoveryCodesLeft, useRecoveryCode } from '../../mfa/recovery-codes.ts';
import { mfaSealer } from '../../mfa/secrets.ts';
import { totpOf, useTotpCode } from '../../mfa/totp.ts';
import { authenticationOptions, listPasskeys, spendChallenge, verifyPasskey, webauthnRp } from '../../mfa/webauthn.ts';
import { audit, auditAnonymous } from '../audit.ts';
import type { AppContext } from '../context.ts';
import { field, webauthnAnswer } from '../form.ts';
import { formToken, formTokenCheck } from '../protection/csrf.ts';
import { perAddress } from '../protection/rate-limits.ts';
import { safeNext } from '../protection/redirects.ts';
import { endSecondStep, finishLocalSignIn, pendingCookieName, SECOND_STEP_PATH } from '../session/second-step.ts';
import { ceremonies } from '../session/webauthn-ceremony.ts';

/** Where the login page's "Sign in with a passkey" gets its options (GET, JSON) and sends its answer (POST). */
export const PASSKEY_LOGIN_PATH = '/accounts/2fa/webauthn/login/';

const INCORRECT_CODE = 'Incorrect code.';
const PASSKEY_REFUSED = 'This passkey was not accepted. Try again, or enter a code.';
export function mfaSignInRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { config, db } = ctx;
  const checkFormToken = formTokenCheck(app);
  const limited = { rateLimit: perAddress(config.passwordChecks.perIpPerMinute) };
  const totpBox = mfaSealer(config, 'totp secret');
  const rp = webauthnRp(config.appUrl, ctx.views.brandName);
  const rounds = ceremonies(ctx);
  const cookie = pendingCookieName(config);

  const expired = () => new OidcConnectError('MFA_SIGN_IN_EXPIRED', 'This sign-in has expired or was finished already. Please log in again.');

  /** This browser's pending sign-in and its (still active) user, or undefined. */
  const pendingOf = async (request: FastifyRequest) => {
    const secret = request.cookies[cookie];
    const pending = await findPendingSignIn(db, secret);
    const user = pending && await findUserById(db, pending.userId);
    if (!pending || !user || !user.is_active) return undefined;
    return { secret: secret!, user };
  };

  /** The second step's page; with the user's passkeys, a challenge for them bound to this pending sign-in. */
  const stepPage = async (reply: FastifyReply, step: { secret: string; user: User }, error: string | null) => {
    const [totp, passkeys] = await Promise.all([totpOf(db, step.user.id), listPasskeys(db, step.user.id)]);
    let passkeyOptions: string | null = null;
    if (passkeys.length > 0) {
      const options = await authenticationOptions(db, rp, step.user.id);
      await rounds.start(reply, { purpose: 'second-step', challenge: options.challenge, userId: step.user.id, bound: sha256Base64url(step.secret) });
      passkeyOptions = JSON.stringify(options);
    }
    return reply.code(error ? 401 : 200).type('text/html; charset=utf-8').header('cache-control', 'no-store')
      .send(ctx.views.render('mfa-authenticate', { csrf: formToken(reply), error, totp: totp !== undefined, passkeyOptions }));
  };

  app.get(SECOND_STEP_PATH, async (request, reply) => {
    const step = await pendingOf(request);
    if (!step) throw expired();
    return stepPage(reply, step, null);
  });

  app.post(SECOND_STEP_PATH, { config: limited, preHandler: checkFormToken }, async (request, reply) => {
    if (field(request.body, 'action') === 'cancel') {
      await endSecondStep(ctx, request, reply);
      return reply.redirect('/accounts/login/', 303);
    }
    const step = await pendingOf(request);
    if (!step) throw expired();
    const { user } = step;
    const key = secondFactorKey(user.id);
    if (!(await reserveAttempt(db, config.lockout, key))) {
      await audit(ctx, request, { type: 'login_failure', method: 'local', errorCode: 'TOO_MANY_ATTEMPTS', userId: user.id, username: user.username });
      throw lockedOut(config.lockout);
    }

    const code = field(request.body, 'code').trim();
    const usesPasskey = field(request.body, 'credential') !== '';
    let proof: { amr: string[]; detail: string } | null = null;
    if (usesPasskey) {
      const ceremony = await rounds.take(request, reply, 'second-step');
      const answer = webauthnAnswer(request.body);
      const found = ceremony && ceremony.userId === user.id && ceremony.bound === sha256Base64url(step.secret) && answer !== null
        ? await verifyPasskey(db, rp, { response: answer, challenge: ceremony.challenge, userId: user.id, requireUserVerification: false })
        : null;
      if (found) proof = { amr: ['pwd', 'hwk', 'mfa'], detail: `second factor: passkey "${found.name}"` };
    } else if (code.length <= 64) {
      if (await useTotpCode(db, totpBox, user.id, code)) {
        proof = { amr: ['pwd', 'otp', 'mfa'], detail: 'second factor: authenticator app' };
      } else if (await useRecoveryCode(db, user.id, code)) {
        const { left } = await recoveryCodesLeft(db, user.id);
        proof = { amr: ['pwd', 'otp', 'mfa'], detail: `second factor: recovery code (${left} left)` };
      }
    }
    if (!proof) {
      const errorCode = usesPasskey ? 'PASSKEY_INVALID' : 'MFA_CODE_INVALID';
      request.log.info({ code: errorCode }, 'second factor refused');
      await audit(ctx, request, { type: 'login_failure', method: 'local', errorCode, userId: user.id, username: user.username });
      return stepPage(reply, step, usesPasskey ? PASSKEY_REFUSED : INCORRECT_CODE);
    }
    // Taken once: a second submit of this page, or a racing one, finds nothing.
    const taken = await takePendingSignIn(db, step.secret);
    if (!taken || taken.userId !== user.id) throw expired();
    await clearFailures(db, key);
    await endSecondStep(ctx, request, reply);
    return finishLocalSignIn(ctx, request, reply, { user, next: taken.next, amr: proof.amr, method: 'local', detail: proof.detail });
  });

  // ---- a passkey alone ----

  app.get(PASSKEY_LOGIN_PATH, { config: { ...limited, json: true } }, async (_request, reply) => {
    const options = await authenticationOptions(db, rp);
    await rounds.start(reply, { purpose: 'login', challenge: options.challenge, userId: null, bound: '' });
    return reply.header('cache-control', 'no-store').send({ options });
  });

  app.post(PASSKEY_LOGIN_PATH, { config: limited, preHandler: checkFormToken }, async (request, reply) => {
    const next = safeNext(field(request.body, 'next'), config.appUrl, config.loginRedirectUrl);
    const answer = webauthnAnswer(request.body);
    const ceremony = await rounds.take(request, reply, 'login');
    const refused = new OidcConnectError('PASSKEY_INVALID', 'This passkey was not accepted. Go back to the login page and try again.');
    const found = ceremony && answer !== null
      ? await verifyPasskey(db, rp, { response: answer, challenge: ceremony.challenge, requireUserVerification: true })
      : null;
    // The challenge is spent only by a valid answer, so nothing anonymous is written; a replay of one is refused here.
    if (!found || !(await spendChallenge(db, ceremony!.challenge, ceremony!.expires))) {
      await auditAnonymous(ctx, request, { type: 'login_failure', method: 'passkey', errorCode: 'PASSKEY_INVALID' });
      throw refused;
    }
    const user = await findUserById(db, found.userId);
    if (!user || !user.is_active) {
      await audit(ctx, request, { type: 'login_failure', method: 'passkey', errorCode: 'USER_INACTIVE', userId: found.userId, username: user?.username ?? '' });
      throw new OidcConnectError('USER_INACTIVE', 'This account is deactivated.');
    }
    if (!(await mayUseLocalLogin(db, config.localRequiredGroups, user))) {
      await audit(ctx, request, { type: 'login_failure', method: 'passkey', errorCode: 'USER_NOT_ALLOWED', userId: user.id, username: user.username });
      throw new OidcConnectError('USER_NOT_ALLOWED', `Sign-in to this site is limited to members of ${config.localRequiredGroups.join(', ')}.`);
    }
    // A passkey with user verification is two factors in one: something held, and a PIN or biometric.
    return finishLocalSignIn(ctx, request, reply, { user, next, amr: ['hwk', 'mfa'], method: 'passkey', detail: `passkey "${found.name}"` });
  });
}
