/**
 * A user's second factors as a whole: what they have (for their page and the admin's), whether
 * they have one, and removing them. "A second factor" is an authenticator app or a passkey;
 * recovery codes only stand in for one, so they go when the last factor goes, as in django-allauth.
 */
import type { Db } from '../db/index.ts';
import { deleteRecoveryCodes, recoveryCodesLeft } from './recovery-codes.ts';
import { deleteTotp, totpOf } from './totp.ts';
import { listPasskeys, type Passkey } from './webauthn.ts';

export interface Factors {
  totp: { created: number; lastUsed: number | null } | null;
  passkeys: Passkey[];
  /** total 0: no set. */
  recoveryCodes: { total: number; left: number };
}

export async function factorsOf(db: Db, userId: number): Promise<Factors> {
  const [totp, passkeys, recoveryCodes] = await Promise.all([totpOf(db, userId), listPasskeys(db, userId), recoveryCodesLeft(db, userId)]);
  return { totp: totp ?? null, passkeys, recoveryCodes };
}

/**
 * Whether the user has an authenticator app or a passkey: one indexed read.
 *
 * @example
 * if (await hasSecondFactor(db, user.id)) { ... ask for it ... }
 */
export async function hasSecondFactor(db: Db, userId: number): Promise<boolean> {
  const row = await db.selectNoFrom(({ exists, selectFrom, or }) => or([
    exists(selectFrom('mfa_totp').select('user_id').where('mfa_totp.user_id', '=', userId)),
    exists(selectFrom('mfa_webauthn').select('id').where('mfa_webauthn.user_id', '=', userId)),
  ]).as('has')).executeTakeFirst();
  return Boolean(row?.has);
}

/** After a factor went: when none is left, the recovery codes go too. Returns whether they did. */
export async function dropCodesWithoutFactor(db: Db, userId: number): Promise<boolean> {
  if (await hasSecondFactor(db, userId)) return false;
  return (await deleteRecoveryCodes(db, userId)) > 0;
}

/**
 * Removes every factor of a user, and their sign-ins waiting for one (an admin's action, for a lost
 * phone); returns what went, e.g. "authenticator app, 2 passkeys, recovery codes".
 */
export async function removeAllFactors(db: Db, userId: number): Promise<string> {
  const run = async (trx: Db) => {
    const totp = await deleteTotp(trx, userId);
    const passkeys = Number((await trx.deleteFrom('mfa_webauthn').where('user_id', '=', userId).executeTakeFirst()).numDeletedRows);
    const codes = await deleteRecoveryCodes(trx, userId);
    await trx.deleteFrom('mfa_pending').where('user_id', '=', userId).execute();
    return [
      ...(totp ? ['authenticator app'] : []),
      ...(passkeys > 0 ? [`${passkeys} passkey${passkeys === 1 ? '' : 's'}`] : []),
      ...(codes > 0 ? ['recovery codes'] : []),
    ].join(', ');
  };
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}
