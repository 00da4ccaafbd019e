/**
 * /accounts/2fa/: a user's second factors, shaped like django-allauth's pages (and worded like them):
 * the overview, totp/activate/ and totp/deactivate/, recovery-codes/generate/, webauthn/ (add, rename,
 * remove passkeys). They are for local accounts; a provider's users set their factors up there.
 * Ending a factor, or making new recovery codes, ends the user's other sessions; each change is
 * audited (`second_factor`). The second step of a sign-in is src/web/routes/mfa-sign-in.ts.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { clearFailures, lockedOut, reserveAttempt, secondFactorKey } from '../../accounts/lockout.ts';
import { verifyPassword } from '../../accounts/passwords.ts';
import { formatTime } from '../../admin/view-models.ts';
import type { User } from '../../db/schema.ts';
import { OidcConnectError } from '../../errors.ts';
import { dropCodesWithoutFactor, factorsOf, hasSecondFactor } from '../../mfa/factors.ts';
import { recoveryCodesLeft, replaceRecoveryCodes } from '../../mfa/recovery-codes.ts';
import { mfaSealer } from '../../mfa/secrets.ts';
import { activateTotp, deleteTotp, newTotpSecret, qrCodeDataUri, totpOf, totpStep, totpUri, useTotpCode } from '../../mfa/totp.ts';
import { addPasskey, listPasskeys, registrationOptions, removePasskey, renamePasskey, webauthnRp } from '../../mfa/webauthn.ts';
import { deleteUserSessions } from '../../sessions/index.ts';
import { audit } from '../audit.ts';
import type { AppContext } from '../context.ts';
import { field, webauthnAnswer } from '../form.ts';
import { userView, type Views } from '../pages/views.ts';
import { formToken, formTokenCheck } from '../protection/csrf.ts';
import { HashingCapacity } from '../protection/hashing-capacity.ts';
import { perAddress } from '../protection/rate-limits.ts';
import { safeNext } from '../protection/redirects.ts';
import { requireLogin } from '../session/guards.ts';
import { FACTORS_PATH } from '../session/second-step.ts';
import { ceremonies } from '../session/webauthn-ceremony.ts';

const INCORRECT_CODE = 'Incorrect code.';
/** How long the secret shown on the activation page stays good for its form. */
const SETUP_LIFETIME_MS = 15 * 60 * 1000;

const FLASH: Record<string, string> = {
  totp_activated: 'Authenticator app activated.',
  totp_deactivated: 'Authenticator app deactivated. Your other sessions were signed out.',
  passkey_added: 'Passkey added.',
  passkey_renamed: 'Passkey renamed.',
  passkey_removed: 'Passkey removed. Your other sessions were signed out.',
};
const flashOf = (request: FastifyRequest): string | null => FLASH[field(request.query, 'done')] ?? null;

/** django-allauth's names for a user's first, second and later keys. */
const suggestedName = (count: number): string => (count === 0 ? 'Master key' : count === 1 ? 'Backup key' : `Key nr. ${count + 1}`);

/** A passkey's name as typed: no control characters, 1 to 100 characters. */
const passkeyName = (raw: string): string | null => {
  const name = raw.replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
  return name.length >= 1 && name.length <= 100 ? name : null;
};

export function mfaRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { config, db } = ctx;
  const checkFormToken = formTokenCheck(app);
  const limited = { rateLimit: perAddress(config.passwordChecks.perIpPerMinute) };
  // Only the deactivation form checks a password here: a capacity of its own, beside the login form's.
  const hashing = new HashingCapacity(config.passwordChecks.hashConcurrency);
  const totpBox = mfaSealer(config, 'totp secret');
  const setupBox = mfaSealer(config, 'totp setup');
  const rp = webauthnRp(config.appUrl, ctx.views.brandName);
  const rounds = ceremonies(ctx);

  const page = <K extends keyof Views>(reply: FastifyReply, view: K, data: Views[K], status = 200) =>
    reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(ctx.views.render(view, data));

  /** The signed-in user with a local password; a redirect to log in or FORBIDDEN otherwise (the reply is then sent). */
  const localUser = async (request: FastifyRequest, reply: FastifyReply): Promise<User | undefined> => {
    if (!request.user) {
      await requireLogin(request, reply);
      return undefined;
    }
    if (request.user.password === null) {
      throw new OidcConnectError('FORBIDDEN', 'Your account signs in through an identity provider, so its second factors are set up there.');
    }
    return request.user;
  };

  /** After a factor went, or the codes were replaced: whoever else was signed in as this user is signed out. */
  const endOtherSessions = (request: FastifyRequest, user: User) => deleteUserSessions(db, user.id, request.session?.id);
  const sessionsEnded = (n: number) => `${n} other session${n === 1 ? '' : 's'} ended`;

  const auditChange = (request: FastifyRequest, user: User, detail: string) =>
    audit(ctx, request, { type: 'second_factor', method: 'local', userId: user.id, username: user.username, detail });

  /** A new set of codes, on the page that shows them this once. */
  const showNewCodes = async (reply: FastifyReply, user: User, codes: string[], flash: string | null) =>
    page(reply, 'mfa-recovery-codes', {
      user: userView(user), csrf: formToken(reply), codes, total: codes.length, left: codes.length, canGenerate: true, error: null, flash,
    });

  /** Recovery codes come with the first factor, as in django-allauth; null when the user has a set already. */
  const firstCodes = async (user: User): Promise<string[] | null> =>
    ((await recoveryCodesLeft(db, user.id)).total === 0 ? replaceRecoveryCodes(db, user.id) : null);

  app.get(FACTORS_PATH, async (request, reply) => {
    const user = request.user;
    if (!user) return requireLogin(request, reply);
    const next = safeNext(field(request.query, 'next'), config.appUrl, '');
    const base = { user: userView(user), next: next === '' ? null : next, flash: flashOf(request) };
    if (user.password === null) {
      return page(reply, 'mfa-index', {
        ...base, localAccount: false, totp: null, passkeys: 0, recoveryCodes: { total: 0, left: 0 }, canGenerateCodes: false, required: false,
      });
    }
    const factors = await factorsOf(db, user.id);
    const enrolled = factors.totp !== null || factors.passkeys.length > 0;
    return page(reply, 'mfa-index', {
      ...base,
      localAccount: true,
      totp: factors.totp && { since: formatTime(factors.totp.created) },
      passkeys: factors.passkeys.length,
      recoveryCodes: factors.recoveryCodes,
      canGenerateCodes: enrolled,
      required: !enrolled && config.mfa.adminRequired && (user.is_staff === 1 || user.is_superuser === 1),
    });
  });

  // ---- authenticator app ----

  /** The activation page for `secret` (a new one unless the form is shown again with an error). */
  const activationPage = async (reply: FastifyReply, user: User, secret: string, error: string | null) => {
    const setup = await setupBox.seal(JSON.stringify({ user: user.id, secret, expires: Date.now() + SETUP_LIFETIME_MS }));
    const qrCode = await qrCodeDataUri(totpUri(secret, { issuer: ctx.views.brandName, label: user.username }));
    return page(reply, 'mfa-totp-activate', { user: userView(user), csrf: formToken(reply), secret, qrCode, setup, error }, error ? 400 : 200);
  };

  app.get('/accounts/2fa/totp/activate/', async (request, reply) => {
    const user = await localUser(request, reply);
    if (!user) return reply;
    if (await totpOf(db, user.id)) return reply.redirect(FACTORS_PATH, 302);
    return activationPage(reply, user, newTotpSecret(), null);
  });

  app.post('/accounts/2fa/totp/activate/', { config: limited, preHandler: checkFormToken }, async (request, reply) => {
    const user = await localUser(request, reply);
    if (!user) return reply;
    // The secret comes back sealed with the form, bound to this user: no server state between the two requests.
    const opened = await setupBox.open(field(request.body, 'setup').slice(0, 4096));
    const setup = opened === undefined ? undefined : JSON.parse(opened) as { user: number; secret: string; expires: number };
    if (!setup || setup.user !== user.id || setup.expires <= Date.now()) {
      return activationPage(reply, user, newTotpSecret(), 'This form has expired. Scan the new QR code, then enter a code.');
    }
    const step = await totpStep(setup.secret, field(request.body, 'code'));
    if (step === null) return activationPage(reply, user, setup.secret, INCORRECT_CODE);
    // The activating code's step is spent: it can't sign in as well.
    if (!(await activateTotp(db, totpBox, user.id, setup.secret, step))) return reply.redirect(FACTORS_PATH, 303);
    await auditChange(request, user, 'authenticator app activated');
    const codes = await firstCodes(user);
    if (codes) return showNewCodes(reply, user, codes, FLASH.totp_activated!);
    return reply.redirect(`${FACTORS_PATH}?done=totp_activated`, 303);
  });

  app.get('/accounts/2fa/totp/deactivate/', async (request, reply) => {
    const user = await localUser(request, reply);
    if (!user) return reply;
    if (!(await totpOf(db, user.id))) return reply.redirect(FACTORS_PATH, 302);
    return page(reply, 'mfa-totp-deactivate', { user: userView(user), csrf: formToken(reply), error: null });
  });

  app.post('/accounts/2fa/totp/deactivate/', { config: limited, preHandler: checkFormToken }, async (request, reply) => {
    const user = await localUser(request, reply);
    if (!user) return reply;
    if (!(await totpOf(db, user.id))) return reply.redirect(FACTORS_PATH, 303);
    const again = (error: string) => page(reply, 'mfa-totp-deactivate', { user: userView(user), csrf: formToken(reply), error }, 400);
    const code = field(request.body, 'code').trim();
    const password = field(request.body, 'password');
    // Either proof is limited as at sign-in: codes by the user's code lockout, passwords by their password lockout.
    if (code !== '') {
      const key = secondFactorKey(user.id);
      if (!(await reserveAttempt(db, config.lockout, key))) throw lockedOut(config.lockout);
      if (code.length > 64 || !(await useTotpCode(db, totpBox, user.id, code))) return again(INCORRECT_CODE);
      await clearFailures(db, key);
    } else if (password !== '') {
      if (!(await reserveAttempt(db, config.lockout, user.username))) throw lockedOut(config.lockout);
      const stored = user.password!;
      if (password.length > 4096 || !(await hashing.run(() => verifyPassword(password, stored)))) {
        return again('Your password was entered incorrectly. Please enter it again.');
      }
      await clearFailures(db, user.username);
    } else {
      return again('Enter a code from your authenticator app, or your password.');
    }
    await deleteTotp(db, user.id);
    const codesDropped = await dropCodesWithoutFactor(db, user.id);
    const ended = await endOtherSessions(request, user);
    await auditChange(request, user, `authenticator app deactivated${codesDropped ? ', recovery codes deleted' : ''}; ${sessionsEnded(ended)}`);
    return reply.redirect(`${FACTORS_PATH}?done=totp_deactivated`, 303);
  });

  // ---- recovery codes ----

  app.get('/accounts/2fa/recovery-codes/generate/', async (request, reply) => {
    const user = await localUser(request, reply);
    if (!user) return reply;
    const [{ total, left }, canGenerate] = await Promise.all([recoveryCodesLeft(db, user.id), hasSecondFactor(db, user.id)]);
    return page(reply, 'mfa-recovery-codes', { user: userView(user), csrf: formToken(reply), codes: null, total, left, canGenerate, error: null, flash: null });
  });

  app.post('/accounts/2fa/recovery-codes/generate/', { config: limited, preHandler: checkFormToken }, async (request, reply) => {
    const user = await localUser(request, reply);
    if (!user) return reply;
    if (!(await hasSecondFactor(db, user.id))) {
      return page(reply, 'mfa-recovery-codes', {
        user: userView(user), csrf: formToken(reply), codes: null, total: 0, left: 0, canGenerate: false,
        error: 'You cannot generate recovery codes without having two-factor authentication enabled.', flash: null,
      }, 400);
    }
    const codes = await replaceRecoveryCodes(db, user.id);
    const ended = await endOtherSessions(request, user);
    await auditChange(request, user, `recovery codes generated; ${sessionsEnded(ended)}`);
    return showNewCodes(reply, user, codes, null);
  });

  // ---- passkeys ----

  const passkeysPage = async (reply: FastifyReply, user: User, messages: { error?: string; flash?: string | null }, status = 200) => {
    const passkeys = await listPasskeys(db, user.id);
    const options = await registrationOptions(db, rp, { id: user.id, username: user.username, displayName: `${user.first_name} ${user.last_name}`.trim() || user.username });
    await rounds.start(reply, { purpose: 'register', challenge: options.challenge, userId: user.id, bound: options.user.id });
    return page(reply, 'mfa-webauthn', {
      user: userView(user),
      csrf: formToken(reply),
      passkeys: passkeys.map((p) => ({
        id: p.id, name: p.name, created: formatTime(p.created), lastUsed: p.lastUsed === null ? null : formatTime(p.lastUsed), synced: p.backedUp,
      })),
      options: JSON.stringify(options),
      suggestedName: suggestedName(passkeys.length),
      error: messages.error ?? null,
      flash: messages.flash ?? null,
    }, status);
  };

  app.get('/accounts/2fa/webauthn/', async (request, reply) => {
    const user = await localUser(request, reply);
    if (!user) return reply;
    return passkeysPage(reply, user, { flash: flashOf(request) });
  });

  app.post('/accounts/2fa/webauthn/', { config: limited, preHandler: checkFormToken }, async (request, reply) => {
    const user = await localUser(request, reply);
    if (!user) return reply;
    const action = field(request.body, 'action');
    const refuse = (error: string) => passkeysPage(reply, user, { error }, 400);

    if (action === 'add') {
      const name = passkeyName(field(request.body, 'name'));
      const answer = webauthnAnswer(request.body);
      const ceremony = await rounds.take(request, reply, 'register');
      if (!name) return refuse('Give the passkey a name of 1 to 100 characters.');
      const id = ceremony && ceremony.userId === user.id && answer !== null
        ? await addPasskey(db, rp, { userId: user.id, name, userHandle: ceremony.bound, challenge: ceremony.challenge, response: answer })
        : null;
      if (id === null) return refuse('The passkey could not be added. Try again.');
      await auditChange(request, user, `passkey added: ${name}`);
      const codes = await firstCodes(user);
      if (codes) return showNewCodes(reply, user, codes, FLASH.passkey_added!);
      return reply.redirect('/accounts/2fa/webauthn/?done=passkey_added', 303);
    }

    const id = Number(field(request.body, 'id'));
    if (!Number.isSafeInteger(id) || id <= 0) return refuse('Choose a passkey.');
    if (action === 'rename') {
      const name = passkeyName(field(request.body, 'name'));
      if (!name) return refuse('Give the passkey a name of 1 to 100 characters.');
      if (!(await renamePasskey(db, user.id, id, name))) return refuse('That passkey is no longer there.');
      return reply.redirect('/accounts/2fa/webauthn/?done=passkey_renamed', 303);
    }
    if (action === 'remove') {
      const name = await removePasskey(db, user.id, id);
      if (name === undefined) return refuse('That passkey is no longer there.');
      const codesDropped = await dropCodesWithoutFactor(db, user.id);
      const ended = await endOtherSessions(request, user);
      await auditChange(request, user, `passkey removed: ${name}${codesDropped ? ', recovery codes deleted' : ''}; ${sessionsEnded(ended)}`);
      return reply.redirect('/accounts/2fa/webauthn/?done=passkey_removed', 303);
    }
    return refuse('Choose what to do with the passkey.');
  });
}

