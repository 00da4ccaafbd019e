import type { Db } from '../db/index.ts';
import { isOidcConnectError } from '../errors.ts';
import { deleteSession, type ActiveSession, type ProviderTokens } from '../sessions/index.ts';
import {
  needsRefresh, releaseRefreshLease, storedTokens, takeRefreshLease, waitForRefresh, writeRefreshedTokens, type RefreshOutcome,
} from '../sessions/refresh-lease.ts';
import type { ProviderClient } from './provider.ts';

/**
 * Refreshes an OIDC session's access token with its refresh token, under the session's refresh
 * lease (src/sessions/refresh-lease.ts): one instance calls the provider, the others wait for the
 * result. A refresh the provider refuses (its session ended) ends ours.
 */
export async function refreshSession(db: Db, provider: ProviderClient, session: ActiveSession, now = Date.now()): Promise<RefreshOutcome> {
  if (!(await takeRefreshLease(db, session.id, now))) return waitForRefresh(db, session);

  // Another instance may have finished a refresh between our read and our lease.
  const tokens = await storedTokens(db, session.id);
  if (!tokens) return 'ended';
  if (!needsRefresh(tokens)) {
    await releaseRefreshLease(db, session.id);
    session.tokens = tokens;
    return 'fresh';
  }
  try {
    const fresh = await provider.refresh({ refreshToken: tokens.refreshToken!, ...(tokens.idToken ? { idToken: tokens.idToken } : {}) });
    const next: ProviderTokens = { ...tokens, ...fresh };
    await writeRefreshedTokens(db, session.id, next);
    session.tokens = next;
    return 'refreshed';
  } catch (error) {
    // invalid_grant & co: the provider says the grant is over, so the user is logged out here too.
    if (isOidcConnectError(error) && error.code === 'PROVIDER_ERROR') {
      await deleteSession(db, session.id);
      return 'ended';
    }
    // Provider down or slow: keep the session and try again on a later request.
    await releaseRefreshLease(db, session.id);
    return 'unavailable';
  }
}
