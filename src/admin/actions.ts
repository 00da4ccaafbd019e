/**
 * The staff actions of /admin/users/:id/. Each one writes through the table's owner (accounts,
 * sessions, provisioning) and answers with what to audit and which message to show, or with an
 * error for the form. Who may run them is checked first, by the caller, with src/admin/policy.ts.
 */
import { isEmailAddress } from '../accounts/email.ts';
import { setEmail } from '../accounts/email-verification.ts';
import { checkNewPassword } from '../accounts/password-validation.ts';
import { flagFromRule } from '../accounts/roles.ts';
import { setActive, setPassword, setStaff } from '../accounts/users.ts';
import type { AdminAction } from '../audit/index.ts';
import type { Db } from '../db/index.ts';
import type { User } from '../db/schema.ts';
import { isOidcConnectError } from '../errors.ts';
import { removeAllFactors } from '../mfa/factors.ts';
import { unlinkIdentity } from '../provisioning/identities.ts';
import { deleteUserSessions, endProviderSessions, endUserSession } from '../sessions/index.ts';
import { selfRefusal } from './policy.ts';

/** The message key shown on the user's page after an action (see FLASH in view-models.ts). */
export type Done =
  | 'deactivated' | 'reactivated' | 'session_ended' | 'sessions_ended' | 'identity_unlinked'
  | 'password_set' | 'staff_granted' | 'staff_revoked' | 'email_set' | 'factors_removed';

export type ActionOutcome = { action: AdminAction; detail?: string; done: Done } | { error: string };

export interface ActionInput {
  db: Db;
  actor: User;
  target: User;
  /** A form field's value, '' when missing. */
  form: (name: string) => string;
  /** The acting staff member's own session, which "end all" and a new password leave alone. */
  currentSessionId: string | undefined;
  /** Configured providers, to find the sessions an identity's issuer stands behind. */
  providers: readonly { id: string; issuer: string }[];
}

export type AdminActionRun = (input: ActionInput) => Promise<ActionOutcome>;

const sessionsEnded = (n: number) => `${n} session${n === 1 ? '' : 's'} ended`;

export const setAccountActive: AdminActionRun = async ({ db, actor, target, form }) => {
  const active = form('active');
  if (active === '0') {
    const refusal = selfRefusal(actor, target, 'deactivate');
    if (refusal) return { error: refusal };
    // Both in one transaction: no request can slip in between with the account still active.
    const ended = await db.transaction().execute(async (trx) => {
      await setActive(trx, target.id, false);
      return deleteUserSessions(trx, target.id);
    });
    return { action: 'deactivate', detail: sessionsEnded(ended), done: 'deactivated' };
  }
  if (active === '1') {
    await setActive(db, target.id, true);
    return { action: 'reactivate', done: 'reactivated' };
  }
  return { error: 'Choose whether the account is active.' };
};

export const setStaffStatus: AdminActionRun = async ({ db, actor, target, form }) => {
  const staff = form('staff');
  if (staff !== '0' && staff !== '1') return { error: 'Choose whether the user is staff.' };
  const refusal = selfRefusal(actor, target, 'staff');
  if (refusal) return { error: refusal };
  // A flag a ROLE_RULES rule gives follows the user's groups; a hand edit would be undone at their next change.
  if (flagFromRule(target, 'staff')) return { error: 'Staff comes from a ROLE_RULES rule for one of this user\'s groups: change the group at the provider instead.' };
  await setStaff(db, target.id, staff === '1');
  return staff === '1' ? { action: 'grant_staff', done: 'staff_granted' } : { action: 'revoke_staff', done: 'staff_revoked' };
};

export const setUserPassword: AdminActionRun = async ({ db, target, form, currentSessionId }) => {
  const password1 = form('password1');
  const password2 = form('password2');
  if (password1.length > 4096) return { error: 'The password is too long.' };
  if (password1 !== password2) return { error: 'The two password fields didn’t match.' };
  try {
    checkNewPassword(password1, target);
  } catch (error) {
    if (isOidcConnectError(error)) return { error: error.message };
    throw error;
  }
  await setPassword(db, target.id, password1);
  // As after a password change: whoever knew the old password is cut off (the admin's own session stays).
  const ended = await deleteUserSessions(db, target.id, currentSessionId);
  return { action: 'set_password', detail: sessionsEnded(ended), done: 'password_set' };
};

/** An address an operator enters counts as verified: it becomes a link target and a reset address at once. */
export const setUserEmail: AdminActionRun = async ({ db, target, form }) => {
  const email = form('email').trim();
  if (email !== '' && !isEmailAddress(email)) return { error: 'Enter a valid email address, or nothing to remove it.' };
  await setEmail(db, target.id, email, { verified: true });
  return { action: 'set_email', detail: email === '' ? 'removed' : email, done: 'email_set' };
};

/**
 * Removes every second factor of a user (a lost phone), and ends their sessions in the same
 * transaction: whoever signed in with the old factors is out. Superusers only (the route says so).
 */
export const removeFactors: AdminActionRun = async ({ db, target, currentSessionId }) => {
  const done = await db.transaction().execute(async (trx) => {
    const removed = await removeAllFactors(trx, target.id);
    return { removed, ended: removed === '' ? 0 : await deleteUserSessions(trx, target.id, currentSessionId) };
  });
  if (done.removed === '') return { error: 'This user has no second factor.' };
  return { action: 'remove_factors', detail: `${done.removed}; ${sessionsEnded(done.ended)}`, done: 'factors_removed' };
};

export const endSessions: AdminActionRun = async ({ db, target, form, currentSessionId }) => {
  const which = form('session');
  if (which === 'all') {
    // Ending "all" of your own sessions keeps the one you are using.
    const ended = await deleteUserSessions(db, target.id, currentSessionId);
    return { action: 'end_all_sessions', detail: sessionsEnded(ended), done: 'sessions_ended' };
  }
  if (which === '' || which.length > 64) return { error: 'Choose a session to end.' };
  if (!(await endUserSession(db, target.id, which))) return { error: 'That session has already ended.' };
  return { action: 'end_session', detail: sessionsEnded(1), done: 'session_ended' };
};

export const unlinkUserIdentity: AdminActionRun = async ({ db, target, form, providers }) => {
  const id = form('identity');
  if (!/^\d{1,15}$/.test(id)) return { error: 'Choose an identity to unlink.' };
  const result = await db.transaction().execute(async (trx) => {
    const issuer = await unlinkIdentity(trx, target.id, Number(id));
    if (issuer === undefined) return undefined;
    // Sessions that came through this issuer's providers no longer have an identity behind them.
    let ended = 0;
    for (const p of providers) {
      if (p.issuer === issuer) ended += await endProviderSessions(trx, p.id, { userId: target.id });
    }
    return { issuer, ended };
  });
  if (!result) return { error: 'That identity is no longer linked.' };
  return { action: 'unlink_identity', detail: `${result.issuer}; ${sessionsEnded(result.ended)}`, done: 'identity_unlinked' };
};
