/**
 * Whether a local account's email is verified (users.email_verified). An address an operator enters
 * (createsuperuser, the admin, import-django) counts as verified; one a user enters on their account
 * page does not, until they follow the link mailed to it (./tokens.ts). Only a verified address is a
 * link target (provisioning/) and a reset address (./password-reset.ts).
 */
import { changing } from '../db/change-feed.ts';
import type { Db } from '../db/index.ts';
import type { User } from '../db/schema.ts';
import { normalizeEmail } from './email.ts';
import { userChanged } from './users.ts';

/**
 * Sets a user's email as entered by someone: verified when `verified` (an operator), else waiting for
 * its link. Works inside `db.transaction()`.
 *
 * @example
 * await setEmail(trx, user.id, 'carol@example.com', { verified: false });
 */
export async function setEmail(db: Db, userId: number, email: string, options: { verified: boolean }): Promise<void> {
  const key = normalizeEmail(email);
  await changing(db, (db) => db.updateTable('users')
    .set({ email: email.trim(), email_key: key, email_verified: options.verified && key !== '' ? 1 : 0 })
    .where('id', '=', userId).execute(), userChanged(userId));
}

/**
 * Marks the user's email verified, only while it is still the one the link was made for (`user.email`)
 * and not verified yet; false otherwise.
 */
export async function confirmEmail(db: Db, user: User): Promise<boolean> {
  return changing(db, async (db) => {
    const result = await db.updateTable('users').set({ email_verified: 1 })
      .where('id', '=', user.id).where('email', '=', user.email).where('email_verified', '=', 0).where('email_key', '!=', '')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }, (confirmed) => (confirmed ? userChanged(user.id)() : []));
}
