import { sha256Base64url } from '../digest.ts';

/** A small in-process cache of token checks (introspection or userinfo answers). */
export interface TokenCacheOptions {
  /** Most entries kept; the least recently used one goes first. Default 10,000. */
  maxEntries?: number;
  /** No entry outlives this, whatever the token's own lifetime. Default 60 s. */
  maxTtlMs?: number;
  /** How long a refusal ("this token is not active") is remembered. Default 10 s. */
  negativeTtlMs?: number;
}

interface Entry<V> {
  value: V;
  /** Epoch ms after which the entry is gone. */
  expires: number;
}

export const DEFAULT_TOKEN_CACHE = Object.freeze({ maxEntries: 10_000, maxTtlMs: 60_000, negativeTtlMs: 10_000 });

/**
 * The cache key of a token: base64url SHA-256, so the cache (and a heap dump) never holds a usable
 * bearer token, and keys have a fixed size whatever the client sends.
 */
export function tokenCacheKey(token: string): string {
  return sha256Base64url(token);
}

/**
 * Bounded LRU with a per-entry lifetime. Positive answers live until the token's own `exp` or
 * `maxTtlMs`, whichever comes first (a revoked token is trusted at most that long); negative answers
 * live `negativeTtlMs`, so replaying one bad token does not reach the provider on every request.
 *
 * It is a per-instance cache, not shared state: another instance that misses asks the provider
 * itself, and gets the same answer.
 */
export class TokenCache<V> {
  readonly maxEntries: number;
  readonly maxTtlMs: number;
  readonly negativeTtlMs: number;
  readonly #entries = new Map<string, Entry<V>>();

  constructor(options: TokenCacheOptions = {}) {
    this.maxEntries = Math.max(1, Math.floor(options.maxEntries ?? DEFAULT_TOKEN_CACHE.maxEntries));
    this.maxTtlMs = Math.max(0, options.maxTtlMs ?? DEFAULT_TOKEN_CACHE.maxTtlMs);
    this.negativeTtlMs = Math.max(0, options.negativeTtlMs ?? DEFAULT_TOKEN_CACHE.negativeTtlMs);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The live value for `key`, refreshing its LRU position; undefined when missing or expired. */
  get(key: string, now = Date.now()): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (now >= entry.expires) return undefined;
    this.#entries.set(key, entry); // most recently used goes last
    return entry.value;
  }

  /**
   * Keeps a positive answer until `tokenExpiresAt` (epoch ms; undefined when the provider did not
   * say) or `maxTtlMs` from now, whichever is sooner. A token already expired is not stored.
   */
  setPositive(key: string, value: V, tokenExpiresAt: number | undefined, now = Date.now()): void {
    const expires = Math.min(now + this.maxTtlMs, tokenExpiresAt ?? Number.POSITIVE_INFINITY);
    this.#put(key, value, expires, now);
  }

  /** Remembers a refusal for `negativeTtlMs`. */
  setNegative(key: string, value: V, now = Date.now()): void {
    this.#put(key, value, now + this.negativeTtlMs, now);
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  #put(key: string, value: V, expires: number, now: number): void {
    this.#entries.delete(key);
    if (!(expires > now)) return;
    this.#entries.set(key, { value, expires });
    if (this.#entries.size > this.maxEntries) this.#evict();
  }

  /** Drops the least recently used entries: O(1) each, since a Map iterates in insertion order. */
  #evict(): void {
    for (const key of this.#entries.keys()) {
      if (this.#entries.size <= this.maxEntries) return;
      this.#entries.delete(key);
    }
  }
}
