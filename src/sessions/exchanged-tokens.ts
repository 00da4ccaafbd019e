/**
 * The access tokens a session got for other APIs by token exchange (RFC 8693), one row per audience
 * and scope: every instance finds them, and they end with their session (the foreign key cascades).
 * The tokens come sealed from rp/; this module owns the table and never sees them.
 */
import type { Db } from '../db/index.ts';

export interface ExchangedToken {
  sealed: string;
  /** Epoch ms when the token expires. */
  expires: number;
}

/** The session's token for `key` (see rp/access-token.ts), when there is one. */
export async function findExchangedToken(db: Db, sessionId: string, key: string): Promise<ExchangedToken | undefined> {
  return db.selectFrom('session_tokens').select(['sealed', 'expires'])
    .where('session_id', '=', sessionId).where('audience_key', '=', key).executeTakeFirst();
}

/**
 * Keeps (or replaces) the session's token for `key`; nothing when the session has ended meanwhile.
 * Two instances exchanging at once each write theirs; either token is good.
 */
export async function keepExchangedToken(db: Db, sessionId: string, key: string, token: ExchangedToken): Promise<void> {
  await db.insertInto('session_tokens')
    .columns(['session_id', 'audience_key', 'sealed', 'expires'])
    .expression(db.selectFrom('sessions')
      .select((eb) => [eb.ref('id').as('session_id'), eb.val(key).as('audience_key'), eb.val(token.sealed).as('sealed'), eb.val(token.expires).as('expires')])
      .where('id', '=', sessionId))
    .onConflict((oc) => oc.columns(['session_id', 'audience_key']).doUpdateSet({ sealed: token.sealed, expires: token.expires }))
    .execute();
}

/** Deletes expired exchanged tokens (housekeeping); returns how many went. */
export async function pruneExchangedTokens(db: Db, now = Date.now()): Promise<number> {
  const result = await db.deleteFrom('session_tokens').where('expires', '<', now).executeTakeFirst();
  return Number(result.numDeletedRows);
}
