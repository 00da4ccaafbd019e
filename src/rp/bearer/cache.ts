/**
 * Verified JWT access tokens, so that a token's signature and claims are checked, and its user
 * looked up, once rather than at every request: the SHA-256 of the token maps to its verified claims
 * and its active local user, until the token expires and for at most MAX_AGE_MS.
 *
 * One configuration of src/db/invalidated-cache.ts, as the session cache is: a change to a user
 * (deactivation, staff, password, an unlinked identity…) drops that user's tokens on every instance,
 * and while the change feed can't promise that, nothing is served or kept. A token verified against
 * an older key set of its provider is verified again: the JWKS changed, and the key that signed it
 * may have been withdrawn.
 *
 * Only tokens of an active local user are kept: a token refused for its user, or let through with
 * none (`user: 'optional'`), is looked up again next time, so an account made meanwhile counts.
 */
import type { ChangeFeed } from '../../db/change-feed.ts';
import type { SignedInUser } from '../../accounts/roles.ts';
import { InvalidatedCache } from '../../db/invalidated-cache.ts';
import { sha256Base64url } from '../../digest.ts';
import type { JwksCache } from '../jwks.ts';
import type { BearerToken } from './token.ts';

/** The longest a token is trusted without being verified again (a key withdrawal, say, takes effect by then). */
export const MAX_AGE_MS = 5 * 60_000;
/** Some 2 KiB each (claims and user): about 20 MiB at most. */
export const MAX_ENTRIES = 10_000;

export interface VerifiedToken {
  readonly token: BearerToken;
  readonly user: SignedInUser;
  /** The key set it was verified against, and that set's version then. */
  readonly keys: JwksCache;
  readonly keysVersion: number;
}

export type VerifiedTokenCache = InvalidatedCache<VerifiedToken>;

/**
 * The cache for one app, on its database's change feed:
 *
 * ```ts
 * const cache = verifiedTokenCache(feed);
 * const hit = cachedToken(cache, raw);
 * if (!hit) { const keep = beforeVerify(cache); … keep(raw, { token, user, keys, keysVersion }); }
 * ```
 */
export function verifiedTokenCache(feed: ChangeFeed): VerifiedTokenCache {
  return new InvalidatedCache<VerifiedToken>(feed, { name: 'verified token cache', max: MAX_ENTRIES, userOf: (entry) => entry.user.id });
}

/** The token's entry, when it may be served now: not expired, and verified against the current keys. */
export function cachedToken(cache: VerifiedTokenCache, token: string, now = Date.now()): VerifiedToken | undefined {
  const key = sha256Base64url(token);
  const entry = cache.get(key);
  if (entry === undefined) return undefined;
  if (entry.keys.version !== entry.keysVersion || entry.token.expiresAt === undefined || entry.token.expiresAt <= now) {
    cache.delete(key);
    return undefined;
  }
  return entry;
}

/**
 * Call before verifying a token (and reading its user); the function it returns keeps the result
 * until the token expires, for MAX_AGE_MS at most, unless something was invalidated in between.
 */
export function beforeVerify(cache: VerifiedTokenCache, now = Date.now()): (token: string, entry: VerifiedToken) => void {
  const fill = cache.beforeFill();
  return (token, entry) => {
    const ttl = Math.min((entry.token.expiresAt ?? now) - now, MAX_AGE_MS);
    if (ttl > 0) fill(sha256Base64url(token), entry, ttl);
  };
}
