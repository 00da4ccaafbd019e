import type { Db } from '../db/index.ts';
import { isOidcConnectError } from '../errors.ts';
import type { ActiveSession, ProviderTokens } from '../sessions/index.ts';
import {
  endSessionUnderLease, needsRefresh, releaseRefreshLease, storedTokens, takeRefreshLease, waitForRefresh, writeRefreshedTokens,
  type RefreshOutcome,
} from '../sessions/refresh-lease.ts';
import type { ProviderClient } from './provider.ts';

/**
 * Provider requests one refresh may make in a row, each bounded by OIDC_HTTP_TIMEOUT_SECONDS:
 * discovery, the token request and a retry with the other client authentication, the signing keys.
 */
const PROVIDER_CALLS = 4;
const LEASE_MARGIN_MS = 5_000;

/** The refresh lease outlasts the slowest refresh, so no other instance takes it while ours runs. */
export function refreshLeaseMs(httpTimeoutMs: number): number {
  return PROVIDER_CALLS * httpTimeoutMs + LEASE_MARGIN_MS;
}

/**
 * Refreshes an OIDC session's access token with its refresh token, under the session's refresh
 * lease (src/sessions/refresh-lease.ts): one instance calls the provider, the others wait for the
 * result. A refresh the provider refuses (its session ended) ends ours. Should the lease lapse all
 * the same and another instance take over, its outcome wins: our tokens or our refusal are dropped.
 */
export async function refreshSession(
  db: Db,
  provider: ProviderClient,
  session: ActiveSession,
  options: { httpTimeoutMs: number; now?: number },
): Promise<RefreshOutcome> {
  const lease = await takeRefreshLease(db, session.id, refreshLeaseMs(options.httpTimeoutMs), options.now);
  if (lease === null) return waitForRefresh(db, session);

  // Another instance may have finished a refresh between our read and our lease.
  const tokens = await storedTokens(db, session.id);
  if (!tokens) return 'ended';
  if (!needsRefresh(tokens)) {
    await releaseRefreshLease(db, session.id, lease);
    session.tokens = tokens;
    return 'fresh';
  }
  try {
    const fresh = await provider.refresh({ refreshToken: tokens.refreshToken!, ...(tokens.idToken ? { idToken: tokens.idToken } : {}) });
    const next: ProviderTokens = { ...tokens, ...fresh };
    if (!(await writeRefreshedTokens(db, session.id, next, lease))) return waitForRefresh(db, session);
    session.tokens = next;
    return 'refreshed';
  } catch (error) {
    // invalid_grant & co: the provider says the grant is over, so the user is logged out here too.
    if (isOidcConnectError(error) && error.code === 'PROVIDER_ERROR') {
      return (await endSessionUnderLease(db, session.id, lease)) ? 'ended' : waitForRefresh(db, session);
    }
    // Provider down or slow: keep the session and try again on a later request.
    await releaseRefreshLease(db, session.id, lease);
    return 'unavailable';
  }
}
