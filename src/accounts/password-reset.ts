/**
 * The account side of a password reset (the links are ./tokens.ts, the routes src/web/routes/password-reset.ts):
 * who may get a reset mail, and the reset itself.
 */
import { changing } from '../db/change-feed.ts';
import type { Db } from '../db/index.ts';
import type { User } from '../db/schema.ts';
import { normalizeEmail } from './email.ts';
import { clearFailures } from './lockout.ts';
import { checkNewPassword } from './password-validation.ts';
import { hashPassword } from './passwords.ts';
import { userChanged } from './users.ts';

/** At most this many accounts get a mail for one address (an address may be shared by a few accounts). */
const MAX_ACCOUNTS_PER_ADDRESS = 20;

/**
 * Django's PasswordResetForm.get_users: the active users with this email (compared by its key) and a
 * usable password. Ours also need the email verified: an address a user typed and never confirmed is
 * nobody's reset address.
 */
export async function resettableUsers(db: Db, email: string): Promise<User[]> {
  const key = normalizeEmail(email);
  if (key === '') return [];
  return db.selectFrom('users').selectAll()
    .where('email_key', '=', key).where('email_verified', '=', 1).where('is_active', '=', 1).where('password', 'is not', null)
    .orderBy('id').limit(MAX_ACCOUNTS_PER_ADDRESS).execute();
}

/** Whether `user` may reset their password at all: active, with a local password and a verified email. */
export function mayResetPassword(user: User): boolean {
  return user.is_active === 1 && user.password !== null && user.email_verified === 1 && user.email_key !== '';
}

/**
 * Sets the new password of a reset (PASSWORD_INVALID when the validators refuse it), only while the
 * password is still the one the link was checked against: of two forms sent with one link, one wins.
 * Clears the account's lockout. Returns false when the password changed meanwhile. The caller ends
 * the user's sessions.
 */
export async function resetPassword(db: Db, user: User, password: string): Promise<boolean> {
  checkNewPassword(password, user);
  const hash = await hashPassword(password);
  const changed = await changing(db, async (db) => {
    let update = db.updateTable('users').set({ password: hash }).where('id', '=', user.id);
    update = user.password === null ? update.where('password', 'is', null) : update.where('password', '=', user.password);
    return Number((await update.executeTakeFirst()).numUpdatedRows) === 1;
  }, (changed) => (changed ? userChanged(user.id)() : []));
  if (changed) await clearFailures(db, user.username);
  return changed;
}
