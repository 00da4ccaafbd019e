/**
 * Verified JWT access tokens, so that a token's signature and claims are checked, and its user
 * looked up, once rather than at every request: the SHA-256 of the token maps to its verified claims
 * and its active local user, until the token expires and for at most MAX_AGE_MS.
 *
 * It stays right the way the session cache does (src/sessions/cache.ts), through the database's
 * change feed (src/db/change-feed.ts): a change to a user (deactivation, staff, password, an
 * unlinked identity…) drops that user's tokens on every instance, and while the feed can't promise
 * that (PostgreSQL's listening connection is down) nothing is served or kept. A token verified
 * against an older key set of its provider is verified again: the JWKS changed, and the key that
 * signed it may have been withdrawn.
 *
 * Only tokens of an active local user are kept: a token refused for its user, or let through with
 * none (`user: 'optional'`), is looked up again next time, so an account made meanwhile counts.
 */
import { LRUCache } from 'lru-cache';
import type { ChangeFeed } from '../../db/change-feed.ts';
import type { SignedInUser } from '../../accounts/roles.ts';
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

export class VerifiedTokenCache {
  readonly #entries: LRUCache<string, VerifiedToken>;
  /** user id -> the keys of their cached tokens, so a change to a user drops them all. */
  readonly #byUser = new Map<number, Set<string>>();
  readonly #feed: ChangeFeed;
  readonly #unsubscribe: () => Promise<void>;
  /** Bumped by every invalidation: a verification that started before one must not be kept. */
  #generation = 0;

  constructor(feed: ChangeFeed) {
    this.#feed = feed;
    this.#entries = new LRUCache<string, VerifiedToken>({
      max: MAX_ENTRIES,
      dispose: (entry, key) => this.#unindex(entry.user.id, key),
    });
    this.#unsubscribe = feed.subscribe({
      change: (change) => {
        this.#generation++;
        if (change.kind === 'user') for (const key of [...(this.#byUser.get(change.id) ?? [])]) this.#entries.delete(key);
        else if (change.kind === 'all') this.clear();
      },
      live: () => this.clear(),
    });
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The token's entry, when it may be served now: not expired, and verified against the current keys. */
  get(token: string, now = Date.now()): VerifiedToken | undefined {
    if (!this.#feed.usable()) return undefined;
    const key = sha256Base64url(token);
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.keys.version !== entry.keysVersion || entry.token.expiresAt === undefined || entry.token.expiresAt <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /**
   * Call before verifying a token (and reading its user); the function it returns keeps the result,
   * unless something was invalidated in between (the read may predate it) or the cache may not fill now.
   */
  beforeVerify(now = Date.now()): (token: string, entry: VerifiedToken) => void {
    const generation = this.#generation;
    return (token, entry) => {
      const ttl = Math.min((entry.token.expiresAt ?? now) - now, MAX_AGE_MS);
      if (ttl <= 0 || generation !== this.#generation || !this.#feed.settled()) return;
      const key = sha256Base64url(token);
      this.#entries.set(key, Object.freeze(entry), { ttl });
      let keys = this.#byUser.get(entry.user.id);
      if (keys === undefined) this.#byUser.set(entry.user.id, (keys = new Set()));
      keys.add(key);
    };
  }

  clear(): void {
    this.#generation++;
    this.#entries.clear();
    this.#byUser.clear();
  }

  /** Stops listening for changes; the cache serves nothing from then on. */
  async close(): Promise<void> {
    this.clear();
    await this.#unsubscribe();
  }

  #unindex(userId: number, key: string): void {
    const keys = this.#byUser.get(userId);
    if (keys === undefined) return;
    keys.delete(key);
    if (keys.size === 0) this.#byUser.delete(userId);
  }
}
