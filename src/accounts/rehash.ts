import { changing } from '../db/change-feed.ts';
import type { Db } from '../db/index.ts';
import { isDjangoHash } from './django-hashers.ts';
import { hashPassword } from './passwords.ts';
import { userChanged } from './users.ts';

/** True for a stored hash that is not our own scheme yet (one imported from Django). */
export function needsRehash(stored: string | null): stored is string {
  return isDjangoHash(stored);
}

/**
 * After a successful login with an imported hash, stores our own hash of the same password, as
 * Django does when its hasher changes. Only while the old hash is still there, so a password
 * changed in the meantime is never overwritten. Django's own rules don't apply to a password it
 * accepted, so there is no length check here.
 */
export async function rehashPassword(db: Db, userId: number, oldHash: string, password: string): Promise<void> {
  const hash = await hashPassword(password);
  await changing(db, (db) => db.updateTable('users').set({ password: hash }).where('id', '=', userId).where('password', '=', oldHash).execute(), userChanged(userId));
}
