import type { Db } from '../db/index.ts';
import { isOidcConnectError, OidcConnectError } from '../errors.ts';
import type { ActiveSession } from '../sessions/index.ts';
import {
  EARLY_MS, endSessionUnderLease, needsRefresh, releaseRefreshLease, storedTokens, takeRefreshLease, waitForRefresh, writeRefreshedTokens,
  type RefreshOutcome,
} from '../sessions/refresh-lease.ts';
import type { ProviderClient } from './provider.ts';
import type { SessionTokens } from './session-tokens.ts';

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

export interface RefreshResult {
  outcome: RefreshOutcome;
  /** Why, when this instance's own provider call failed: the refusal that ended the session, or the provider being down. */
  error?: OidcConnectError;
}

export interface RefreshOptions {
  httpTimeoutMs: number;
  /** SESSION_SECRET's sealer of the session's tokens. */
  tokens: SessionTokens;
  /** Refresh when the access token has less than this left; default 30 s (what a page needs). */
  marginMs?: number;
  now?: number;
}

/**
 * Refreshes an OIDC session's access token with its refresh token, under the session's refresh
 * lease (src/sessions/refresh-lease.ts): one instance calls the provider, the others wait for the
 * result. A refresh the provider refuses (its session ended) ends ours. Should the lease lapse all
 * the same and another instance take over, its outcome wins: our tokens or our refusal are dropped.
 */
export async function refreshSession(db: Db, provider: ProviderClient, session: ActiveSession, options: RefreshOptions): Promise<RefreshResult> {
  const marginMs = options.marginMs ?? EARLY_MS;
  const lease = await takeRefreshLease(db, session.id, refreshLeaseMs(options.httpTimeoutMs), options.now);
  if (lease === null) return { outcome: await waitForRefresh(db, session, marginMs) };

  // Another instance may have finished a refresh between our read and our lease.
  const stored = await storedTokens(db, session.id);
  if (!stored) return { outcome: 'ended' };
  if (!needsRefresh(stored, Date.now(), marginMs)) {
    await releaseRefreshLease(db, session.id, lease);
    session.tokens = stored;
    return { outcome: 'fresh' };
  }
  const tokens = await options.tokens.open(stored);
  if (!tokens?.refreshToken) {
    // Sealed under another SESSION_SECRET (an instance configured apart from the others): left for one that can open them.
    await releaseRefreshLease(db, session.id, lease);
    return { outcome: 'unavailable', error: new OidcConnectError('NO_PROVIDER_TOKENS', 'This session\'s provider tokens can\'t be opened here: was SESSION_SECRET changed, or does this instance have another one?') };
  }
  try {
    const fresh = await provider.refresh({
      refreshToken: tokens.refreshToken, ...(tokens.idToken ? { idToken: tokens.idToken } : {}), ...(tokens.dpopKey ? { dpopKey: tokens.dpopKey } : {}),
    });
    const next = await options.tokens.seal({ ...tokens, ...fresh });
    if (!(await writeRefreshedTokens(db, session.id, next, lease))) return { outcome: await waitForRefresh(db, session, marginMs) };
    session.tokens = next;
    return { outcome: 'refreshed' };
  } catch (error) {
    // invalid_grant & co: the provider says the grant is over, so the user is logged out here too.
    if (isOidcConnectError(error) && error.code === 'PROVIDER_ERROR') {
      return (await endSessionUnderLease(db, session.id, lease)) ? { outcome: 'ended', error } : { outcome: await waitForRefresh(db, session, marginMs) };
    }
    // Provider down or slow: keep the session and try again on a later request.
    await releaseRefreshLease(db, session.id, lease);
    return { outcome: 'unavailable', ...(isOidcConnectError(error) ? { error } : {}) };
  }
}
