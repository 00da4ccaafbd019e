import type { Db } from '../db/index.ts';
import { isOidcConnectError } from '../errors.ts';
import type { ProviderClient } from '../rp/provider.ts';
import { deleteSession, type ActiveSession, type ProviderTokens } from './index.ts';

/** Refresh a little before expiry, so a request never carries a token that dies on its way. */
const EARLY_MS = 30_000;
/** How long one instance may hold a session's refresh lease. */
const LEASE_MS = 15_000;
const POLL_MS = 100;

export type RefreshOutcome = 'fresh' | 'refreshed' | 'ended' | 'unavailable';

export function needsRefresh(tokens: ProviderTokens, now = Date.now()): boolean {
  return tokens.refreshToken !== undefined && tokens.expiresAt !== undefined && now >= tokens.expiresAt - EARLY_MS;
}

/**
 * Refreshes an OIDC session's access token with its refresh token. A lease in the session row lets
 * only one instance refresh at a time, so a rotated refresh token is never used twice and lost;
 * the others wait for the result. A refresh the provider refuses (its session ended) ends ours.
 */
export async function refreshSession(db: Db, provider: ProviderClient, session: ActiveSession, now = Date.now()): Promise<RefreshOutcome> {
  const leased = await db.updateTable('sessions')
    .set({ refresh_lock: now + LEASE_MS })
    .where('id', '=', session.id)
    .where((eb) => eb.or([eb('refresh_lock', 'is', null), eb('refresh_lock', '<', now)]))
    .executeTakeFirst();
  if (Number(leased.numUpdatedRows) !== 1) return waitForOtherRefresh(db, session);

  // Another instance may have finished a refresh between our read and our lease.
  const current = await db.selectFrom('sessions').select('data').where('id', '=', session.id).executeTakeFirst();
  if (!current) return 'ended';
  const tokens = JSON.parse(current.data) as ProviderTokens;
  if (!needsRefresh(tokens)) {
    await db.updateTable('sessions').set({ refresh_lock: null }).where('id', '=', session.id).execute();
    session.tokens = tokens;
    return 'fresh';
  }
  try {
    const fresh = await provider.refresh({ refreshToken: tokens.refreshToken!, ...(tokens.idToken ? { idToken: tokens.idToken } : {}) });
    const next: ProviderTokens = { ...tokens, ...fresh };
    await db.updateTable('sessions').set({ data: JSON.stringify(next), refresh_lock: null }).where('id', '=', session.id).execute();
    session.tokens = next;
    return 'refreshed';
  } catch (error) {
    // invalid_grant & co: the provider says the grant is over, so the user is logged out here too.
    if (isOidcConnectError(error) && error.code === 'PROVIDER_ERROR') {
      await deleteSession(db, session.id);
      return 'ended';
    }
    // Provider down or slow: keep the session and try again on a later request.
    await db.updateTable('sessions').set({ refresh_lock: null }).where('id', '=', session.id).execute();
    return 'unavailable';
  }
}

async function waitForOtherRefresh(db: Db, session: ActiveSession): Promise<RefreshOutcome> {
  const deadline = Date.now() + LEASE_MS;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    const row = await db.selectFrom('sessions').select(['data', 'refresh_lock']).where('id', '=', session.id).executeTakeFirst();
    if (!row) return 'ended';
    if (row.refresh_lock === null || row.refresh_lock < Date.now()) {
      session.tokens = JSON.parse(row.data) as ProviderTokens;
      return needsRefresh(session.tokens) ? 'unavailable' : 'refreshed';
    }
  }
  return 'unavailable';
}
