import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { providerFetch } from './http.ts';

/** An unknown `kid` may trigger a network re-fetch at most this often. */
export const JWKS_COOLDOWN_MS = 10_000;
/** A JWKS older than this is fetched again even when every kid is known. */
export const JWKS_MAX_AGE_MS = 10 * 60_000;

/**
 * One cached JWKS per provider, shared by every verifier: openid-client's ID token check (through
 * the provider's fetch hook) and our jose checks of bearer and logout tokens (through `getKey`).
 * A token with an unknown `kid` re-fetches the set at most once per cooldown, counted from the
 * last such re-fetch (not from routine fetches), so a key rotated right after a fetch is still
 * picked up, while a flood of made-up kids can't hammer the provider. Concurrent callers share
 * one request.
 */
export class JwksCache {
  readonly url: URL;
  private readonly timeoutMs: number;
  private jwks: JSONWebKeySet | undefined;
  private local: JWTVerifyGetKey | undefined;
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private kidRefetchAt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<JSONWebKeySet> | undefined;
  /**
   * Goes up whenever a fetch brings a set with other keys than the one before: what was verified
   * against an older set may rest on a key the provider has since withdrawn.
   */
  version = 0;

  /** The issuer whose keys these are, for the provider-call span and metrics. */
  private readonly issuer: string;

  constructor(url: string, timeoutMs: number, issuer = '') {
    this.url = new URL(url);
    this.timeoutMs = timeoutMs;
    this.issuer = issuer;
  }

  /** The cached set while it is fresh, without any network request. */
  current(now = Date.now()): JSONWebKeySet | undefined {
    return now - this.fetchedAt < JWKS_MAX_AGE_MS ? this.jwks : undefined;
  }

  /** The fresh set, fetching it when there is none (a routine fetch, not rate-limited). */
  async load(): Promise<JSONWebKeySet> {
    return this.current() ?? this.fetch();
  }

  /** A verifier found no key for its kid: fetch again, unless the cooldown says not yet. */
  async refreshForUnknownKid(now = Date.now()): Promise<JSONWebKeySet> {
    if (this.inflight) return this.inflight;
    if (now - this.kidRefetchAt < JWKS_COOLDOWN_MS) return this.load();
    this.kidRefetchAt = now;
    return this.fetch();
  }

  /** A jose key resolver over this cache, for `jwtVerify(token, cache.getKey, …)`. */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    await this.load();
    const before = this.local!;
    try {
      return await before(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      await this.refreshForUnknownKid();
      if (this.local === before) throw error; // no new set within the cooldown
      return this.local!(header, token);
    }
  };

  private fetch(): Promise<JSONWebKeySet> {
    this.inflight ??= (async () => {
      try {
        const response = await providerFetch(this.url, { headers: { accept: 'application/json' }, timeoutMs: this.timeoutMs, call: { issuer: this.issuer, endpoint: 'jwks' } });
        if (!response.ok) throw new errors.JOSEError(`JWKS request answered HTTP ${response.status}`);
        const body = (await response.json()) as JSONWebKeySet;
        const local = createLocalJWKSet(body); // throws JWKSInvalid for a malformed set
        if (JSON.stringify(body.keys) !== JSON.stringify(this.jwks?.keys)) this.version++;
        this.jwks = body;
        this.local = local;
        this.fetchedAt = Date.now();
        return body;
      } finally {
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }
}
