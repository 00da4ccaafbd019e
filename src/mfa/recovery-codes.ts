/**
 * Recovery codes: ten single-use codes for when the authenticator app or passkey is lost. They are
 * shown once, when made, and stored only as SHA-256 hashes (mfa_recovery_codes, owned here): each
 * has 80 random bits, too many to find from a hash. Making a new set replaces the old one.
 */
import { randomInt } from 'node:crypto';
import type { Db } from '../db/index.ts';
import { sha256Base64url } from '../digest.ts';

export const RECOVERY_CODE_COUNT = 10;

/** RFC 4648's base32 alphabet, lower-cased: 5 bits a character, no 0/1/8/9 to mistake for letters. */
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const GROUPS = 4;
const GROUP_LENGTH = 4;
const NORMALIZED = new RegExp(`^[${ALPHABET}]{${GROUPS * GROUP_LENGTH}}$`);

function newCode(): string {
  const groups: string[] = [];
  for (let g = 0; g < GROUPS; g++) {
    let group = '';
    for (let i = 0; i < GROUP_LENGTH; i++) group += ALPHABET[randomInt(ALPHABET.length)];
    groups.push(group);
  }
  return groups.join('-');
}

/** A code as typed: case, spaces and dashes don't matter. */
function normalize(code: string): string {
  return code.toLowerCase().replace(/[\s-]+/g, '');
}

/** Whether `code` has a recovery code's shape (so a code field can tell it from a 6-digit TOTP code). */
export function isRecoveryCode(code: string): boolean {
  return NORMALIZED.test(normalize(code));
}

/**
 * Makes a new set of codes for a user, replacing the old set; returns them, to be shown once.
 *
 * @example
 * const codes = await replaceRecoveryCodes(db, user.id); // ['k3xq-…', …] (10)
 */
export async function replaceRecoveryCodes(db: Db, userId: number, now = Date.now()): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newCode);
  const write = async (trx: Db) => {
    await trx.deleteFrom('mfa_recovery_codes').where('user_id', '=', userId).execute();
    await trx.insertInto('mfa_recovery_codes')
      .values(codes.map((code) => ({ user_id: userId, code_hash: sha256Base64url(normalize(code)), created: now, used: null })))
      .execute();
  };
  await (db.isTransaction ? write(db) : db.transaction().execute(write));
  return codes;
}

/** Spends one of the user's unused codes; true once per code. */
export async function useRecoveryCode(db: Db, userId: number, code: string, now = Date.now()): Promise<boolean> {
  if (!isRecoveryCode(code)) return false;
  const result = await db.updateTable('mfa_recovery_codes').set({ used: now })
    .where('user_id', '=', userId).where('code_hash', '=', sha256Base64url(normalize(code))).where('used', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** How many codes the user's set has, and how many are unused; total 0 when there is no set. */
export async function recoveryCodesLeft(db: Db, userId: number): Promise<{ total: number; left: number }> {
  const rows = await db.selectFrom('mfa_recovery_codes').select('used').where('user_id', '=', userId).execute();
  return { total: rows.length, left: rows.filter((row) => row.used === null).length };
}

export async function deleteRecoveryCodes(db: Db, userId: number): Promise<number> {
  const result = await db.deleteFrom('mfa_recovery_codes').where('user_id', '=', userId).executeTakeFirst();
  return Number(result.numDeletedRows);
}
