import { createRemoteJWKSet, type JSONWebKeySet } from 'jose';

/** An unknown `kid` may trigger a network re-fetch at most this often. */
export const JWKS_COOLDOWN_MS = 10_000;
/** A JWKS older than this is fetched again even when every kid is known. */
export const JWKS_MAX_AGE_MS = 10 * 60_000;

/**
 * One cached JWKS per provider, owned by jose's remote key set (cache, max age, cooldown). It
 * serves both our own jose verifications (bearer tokens, logout tokens) and openid-client's ID
 * token signature check, through the fetch hook below.
 */
export class JwksCache {
  readonly url: URL;
  readonly keySet: ReturnType<typeof createRemoteJWKSet>;

  constructor(url: string, timeoutMs: number) {
    this.url = new URL(url);
    this.keySet = createRemoteJWKSet(this.url, {
      cooldownDuration: JWKS_COOLDOWN_MS,
      cacheMaxAge: JWKS_MAX_AGE_MS,
      timeoutDuration: timeoutMs,
    });
  }

  /** The current set if it is still fresh, without any network request. */
  current(): JSONWebKeySet | undefined {
    return this.keySet.fresh ? this.keySet.jwks() : undefined;
  }

  /**
   * Called when a verifier did not find its key: fetch again unless a fetch happened within the
   * cooldown, so a flood of tokens with made-up kids can't hammer the provider.
   */
  async refreshed(): Promise<JSONWebKeySet> {
    const cached = this.keySet.jwks();
    if (cached === undefined || !this.keySet.coolingDown) await this.keySet.reload();
    return this.keySet.jwks() as JSONWebKeySet;
  }
}
