import { LRUCache } from 'lru-cache';
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

/**
 * What is used of the LRUCache: through this interface of methods alone a TokenCache<Outcome> stays
 * usable as a TokenCache<unknown>, which the types of lru-cache's options and statuses would forbid.
 */
interface Store<V> {
  readonly size: number;
  get(key: string): Entry<V> | undefined;
  set(key: string, entry: Entry<V>): unknown;
  delete(key: string): unknown;
  clear(): void;
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
 * Bounded LRU (lru-cache) with a per-entry lifetime. Positive answers live until the token's own
 * `exp` or `maxTtlMs`, whichever comes first (a revoked token is trusted at most that long); negative
 * answers live `negativeTtlMs`, so replaying one bad token does not reach the provider on every request.
 *
 * It is a per-instance cache, not shared state: another instance that misses asks the provider
 * itself, and gets the same answer.
 */
export class TokenCache<V> {
  readonly maxEntries: number;
  readonly maxTtlMs: number;
  readonly negativeTtlMs: number;
  /** Lifetimes are checked here, against the caller's `now`, not by lru-cache's own clock. */
  readonly #entries: Store<V>;

  constructor(options: TokenCacheOptions = {}) {
    this.maxEntries = Math.max(1, Math.floor(options.maxEntries ?? DEFAULT_TOKEN_CACHE.maxEntries));
    this.maxTtlMs = Math.max(0, options.maxTtlMs ?? DEFAULT_TOKEN_CACHE.maxTtlMs);
    this.negativeTtlMs = Math.max(0, options.negativeTtlMs ?? DEFAULT_TOKEN_CACHE.negativeTtlMs);
    this.#entries = new LRUCache<string, Entry<V>>({ max: this.maxEntries });
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The live value for `key`, refreshing its LRU position; undefined when missing or expired. */
  get(key: string, now = Date.now()): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (now < entry.expires) return entry.value;
    this.#entries.delete(key);
    return undefined;
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
    if (expires > now) this.#entries.set(key, { value, expires });
    else this.#entries.delete(key);
  }
}
