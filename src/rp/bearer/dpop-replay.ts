/**
 * DPoP proofs our API accepted, one row each (RFC 9449 §11.1): a proof replayed to any instance finds
 * its row and is refused. A row lives as long as its proof could pass the time check anyway.
 */
import { isUniqueViolation } from '../../db/errors.ts';
import type { Db } from '../../db/index.ts';
import { sha256Base64url } from '../../digest.ts';

/** Records a proof's (key, jti) until `expires`; false when it was recorded already: a replay. */
export async function firstUseOfProof(db: Db, jkt: string, jti: string, expires: number): Promise<boolean> {
  try {
    await db.insertInto('dpop_proofs').values({ id: sha256Base64url(`${jkt}\n${jti}`), expires }).execute();
    return true;
  } catch (error) {
    if (isUniqueViolation(error)) return false;
    throw error;
  }
}

/** Deletes the rows of proofs too old to pass anyway (housekeeping); returns how many went. */
export async function pruneDpopProofs(db: Db, now = Date.now()): Promise<number> {
  const result = await db.deleteFrom('dpop_proofs').where('expires', '<', now).executeTakeFirst();
  return Number(result.numDeletedRows);
}
