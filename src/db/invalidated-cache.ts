/**
 * An in-process cache of what the database says about sessions and users, kept right by the
 * database's change feed (./change-feed.ts): every write that a cached entry depends on is announced
 * by the table's owner, on every instance, and the entries it touches are dropped. While the feed
 * can't promise that (PostgreSQL's listening connection is down, SQLite's change log unreadable),
 * the cache neither serves nor fills. The session cache (src/sessions/cache.ts) and the verified
 * bearer-token cache (src/rp/bearer/cache.ts) are two configurations of it.
 *
 * Bounded by entries (and optionally by size), least recently used first out (lru-cache). Each entry
 * belongs to one user, so a change to a user drops all of theirs. Entries are frozen: every request
 * that hits one shares it.
 */
import { LRUCache } from 'lru-cache';
import type { Change, ChangeFeed } from './change-feed.ts';

export interface CacheStats {
  /** Lookups answered from the cache, and the others (missing, or the feed not live), since it started. */
  readonly hits: number;
  readonly misses: number;
  /** Entries held now. */
  readonly size: number;
}

export interface InvalidatedCacheOptions<V> {
  /** Names the cache in its log lines: "session cache". */
  name: string;
  /** At most this many entries. */
  max: number;
  /** Optionally, at most this much by `sizeOf` (an estimate of an entry's memory). */
  maxSize?: number;
  sizeOf?: (value: V) => number;
  /** The user an entry belongs to: a change to that user drops it. */
  userOf: (value: V) => number;
  /**
   * The keys are session ids: a change to a session drops its entry, and the expiry sweep (an
   * `expired` change) drops the entries whose session expired by then.
   */
  sessions?: { expiresOf: (value: V) => number };
  /**
   * Once full, a new entry is taken in (evicting the least recently used) only when it is offered a
   * second time while its key is still remembered: a stream of keys seen once each (more active ones
   * than fit, a scan) would otherwise replace the whole cache, hit nothing, and leave an evicted entry
   * for the garbage collector at every request; this way what is cached stays and keeps being hit.
   */
  admitOnSecondOffer?: boolean;
  /** Where the cache says it stops or starts serving (the feed went down, or is back). */
  log?: { info(message: string): void; warn(message: string): void };
  /** Called when the last user releases the cache. */
  onClose?: () => void;
}

/**
 * Keeps `value` under `key` when it may: `ttlMs` bounds how long (lru-cache's per-entry ttl).
 * Returns whether it was taken in.
 */
export type Fill<V> = (key: string, value: V, ttlMs?: number) => boolean;

/**
 * One cache per configuration, e.g. sessions:
 *
 * ```ts
 * const cache = new InvalidatedCache<CachedSession>(feed, { name: 'session cache', max: 10_000, userOf: (s) => s.user.id, sessions: { expiresOf: (s) => s.row.expires } });
 * const hit = cache.get(id);
 * if (hit === undefined) {
 *   const fill = cache.beforeFill(); // before the database read
 *   const found = await read(id);
 *   if (found) fill(id, found);
 * }
 * ```
 */
export class InvalidatedCache<V extends object> {
  readonly #entries: LRUCache<string, V>;
  /** Keys offered while the cache was full and not taken in (see admitOnSecondOffer); as many as it holds entries. */
  readonly #seen: LRUCache<string, true> | undefined;
  /** user id -> the keys of their entries, so a change to a user drops them all. */
  readonly #byUser = new Map<number, Set<string>>();
  readonly #feed: ChangeFeed;
  readonly #options: InvalidatedCacheOptions<V>;
  readonly #unsubscribe: () => Promise<void>;
  /** Bumped by every invalidation: a database read that started before one must not be cached. */
  #generation = 0;
  #users = 1;
  #hits = 0;
  #misses = 0;

  constructor(feed: ChangeFeed, options: InvalidatedCacheOptions<V>) {
    this.#feed = feed;
    this.#options = options;
    const { sizeOf, maxSize, userOf } = options;
    this.#entries = new LRUCache<string, V>({
      max: options.max,
      ...(maxSize !== undefined && sizeOf !== undefined ? { maxSize, sizeCalculation: sizeOf } : {}),
      dispose: (value, key) => this.#unindex(userOf(value), key),
    });
    this.#seen = options.admitOnSecondOffer ? new LRUCache<string, true>({ max: options.max }) : undefined;
    const { log, name } = options;
    this.#unsubscribe = feed.subscribe({
      change: (change) => this.#apply(change),
      live: (on, error) => {
        this.clear();
        if (on) log?.info(`${name} on: listening for session and user changes`);
        else log?.warn(`${name} paused: changes can't be heard${error ? ` (${error.message})` : ''}; everything is read from the database until they can`);
      },
    });
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Keys in the per-user index; equal to `size` (the tests check that evictions leave nothing behind). */
  get indexed(): number {
    let count = 0;
    for (const keys of this.#byUser.values()) count += keys.size;
    return count;
  }

  /** Cheap counters for benchmarks and metrics. */
  stats(): CacheStats {
    return { hits: this.#hits, misses: this.#misses, size: this.#entries.size };
  }

  /** The entry, when the cache may serve now (after taking in what other connections changed). */
  get(key: string): V | undefined {
    const feed = this.#feed;
    feed.poll();
    const value = feed.isLive ? this.#entries.get(key) : undefined;
    if (value === undefined) this.#misses++;
    else this.#hits++;
    return value;
  }

  /**
   * Call before the database read; the function it returns keeps what the read found, unless something
   * was invalidated in between (the read may predate it) or the feed can't vouch for it now.
   */
  beforeFill(): Fill<V> {
    const generation = this.#generation;
    return (key, value, ttlMs) => {
      if (generation !== this.#generation || !this.#feed.isSettled || !this.#admits(key, value)) return false;
      this.#entries.set(key, Object.freeze(value), ttlMs === undefined ? undefined : { ttl: ttlMs });
      const userId = this.#options.userOf(value);
      let keys = this.#byUser.get(userId);
      if (keys === undefined) this.#byUser.set(userId, (keys = new Set()));
      keys.add(key);
      return true;
    };
  }

  /**
   * Puts `value` in place of `served` (an entry this process updated in the database, in a write the
   * others needn't hear of), unless that entry was dropped or replaced meanwhile. Same user, same key.
   */
  replace(key: string, served: V, value: V): void {
    if (this.#entries.peek(key) === served) this.#entries.set(key, Object.freeze(value), { noDisposeOnSet: true });
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#generation++;
    this.#entries.clear();
    this.#byUser.clear();
  }

  /** Another user of a shared cache: each calls `release()` once. */
  retain(): this {
    this.#users++;
    return this;
  }

  /** With its last user gone, the cache stops listening and serves nothing more. */
  async release(): Promise<void> {
    if (--this.#users > 0) return;
    this.clear();
    this.#options.onClose?.();
    await this.#unsubscribe();
  }

  #admits(key: string, value: V): boolean {
    const seen = this.#seen;
    if (seen === undefined) return true;
    const entries = this.#entries;
    const { maxSize, sizeOf } = this.#options;
    const fits = entries.size < entries.max && (maxSize === undefined || sizeOf === undefined || entries.calculatedSize + sizeOf(value) <= maxSize);
    if (fits) return true;
    if (seen.delete(key)) return true;
    seen.set(key, true);
    return false;
  }

  #apply(change: Change): void {
    this.#generation++;
    const sessions = this.#options.sessions;
    switch (change.kind) {
      case 'session':
        if (sessions) this.#entries.delete(change.id);
        break;
      case 'user':
        for (const key of [...(this.#byUser.get(change.id) ?? [])]) this.#entries.delete(key);
        break;
      case 'expired':
        if (sessions) for (const [key, value] of [...this.#entries.entries()]) if (sessions.expiresOf(value) <= change.before) this.#entries.delete(key);
        break;
      case 'all':
        this.clear();
        break;
    }
  }

  #unindex(userId: number, key: string): void {
    const keys = this.#byUser.get(userId);
    if (keys === undefined) return;
    keys.delete(key);
    if (keys.size === 0) this.#byUser.delete(userId);
  }
}
