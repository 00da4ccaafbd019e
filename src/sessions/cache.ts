/**
 * The in-process session cache: the session id (the hash of the cookie secret) maps to the session
 * row and its user, so a page needs no database read. It stays correct through the database's
 * change feed (src/db/change-feed.ts): every write that ends a session or alters a user is announced
 * by its owner, on every instance, and the entries it touches are dropped. While the feed can't
 * promise that (PostgreSQL's listening connection is down), the cache neither serves nor fills.
 *
 * Bounded by entries and by an estimate of their size, least recently used first out (lru-cache).
 * Entries are frozen: every request of a session shares them.
 */
import { LRUCache } from 'lru-cache';
import { changeFeedOf, type Change, type ChangeFeed } from '../db/change-feed.ts';
import type { Db } from '../db/index.ts';
import type { SignedInUser } from '../accounts/roles.ts';
import type { SessionRow } from '../db/schema.ts';
import type { ProviderTokens } from './tokens.ts';

export interface CachedSession {
  /** Its `last_seen` is this instance's last touch; its `refresh_lock` is not kept current (the lease is always read from the database). */
  readonly row: SessionRow;
  readonly user: SignedInUser;
  /** The row's provider tokens, parsed at the first call (see parsedOnDemand). */
  readonly tokens: () => ProviderTokens;
}

export interface SessionCacheOptions {
  /** At most this many sessions; default DEFAULT_MAX_ENTRIES. */
  maxEntries?: number;
  /** Where the cache says it stops or starts serving (the listener dropped, or is back). */
  log?: { info(message: string): void; warn(message: string): void };
}

export const DEFAULT_MAX_ENTRIES = 10_000;
/**
 * What the entries may hold at most, by entryBytes(). Under churn (every request a miss) V8 keeps
 * about three times the live entries' size: evicted entries wait in the old space for a full
 * collection, and the stream of entries that outlive scavenges grows the young generation to its
 * limit. So the cache itself is kept small: with a provider's tokens of ~2 KB, ~6,800 sessions.
 */
export const MAX_BYTES = 32 * 1024 * 1024;

/**
 * An entry's size, measured (heap after a full GC, sessions with ~2 KB of token JSON): about 880
 * bytes of row, user and index, plus the token JSON at a byte a character; the tokens a route
 * parses are then kept with it, so they count twice.
 */
export const entryBytes = (data: string): number => 1024 + 2 * data.length;

export class SessionCache {
  readonly #entries: LRUCache<string, CachedSession>;
  /**
   * Sessions read while the cache was full and not taken in: one is, at its next read while it is
   * still here (see #admits). Ids only, as many as the cache holds sessions.
   */
  readonly #seen: LRUCache<string, true>;
  /** user id -> the ids of their cached sessions, so a change to a user drops them all. */
  readonly #byUser = new Map<number, Set<string>>();
  readonly #feed: ChangeFeed;
  readonly #unsubscribe: () => Promise<void>;
  /** Bumped by every invalidation: a database read that started before one must not be cached. */
  #generation = 0;
  #users = 1;

  constructor(feed: ChangeFeed, options: SessionCacheOptions) {
    this.#feed = feed;
    this.#entries = new LRUCache<string, CachedSession>({
      max: options.maxEntries ?? DEFAULT_MAX_ENTRIES,
      maxSize: MAX_BYTES,
      sizeCalculation: (entry) => entryBytes(entry.row.data),
      dispose: (entry, id) => this.#unindex(entry.user.id, id),
    });
    this.#seen = new LRUCache<string, true>({ max: options.maxEntries ?? DEFAULT_MAX_ENTRIES });
    const log = options.log;
    this.#unsubscribe = feed.subscribe({
      change: (change) => this.#apply(change),
      live: (on, error) => {
        this.clear();
        if (on) log?.info('session cache on: listening for session and user changes');
        else log?.warn(`session cache paused: lost the connection that listens for changes${error ? ` (${error.message})` : ''}; sessions are read from the database until it is back`);
      },
    });
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Sessions in the per-user index; equal to `size` (the tests check that evictions leave nothing behind). */
  get indexed(): number {
    let count = 0;
    for (const ids of this.#byUser.values()) count += ids.size;
    return count;
  }

  /** The cached session, when the cache may serve now. */
  get(id: string): CachedSession | undefined {
    if (!this.#feed.usable()) return undefined;
    return this.#entries.get(id);
  }

  /**
   * Call before a database read; the function it returns caches what the read found, unless
   * something was invalidated in between (the read may predate it) or the cache may not fill now.
   */
  beforeRead(): (id: string, entry: CachedSession) => void {
    const generation = this.#generation;
    return (id, entry) => {
      if (generation !== this.#generation || !this.#feed.settled() || !this.#admits(id, entry)) return;
      Object.freeze(entry.row);
      Object.freeze(entry.user);
      this.#entries.set(id, Object.freeze(entry));
      let ids = this.#byUser.get(entry.user.id);
      if (ids === undefined) this.#byUser.set(entry.user.id, (ids = new Set()));
      ids.add(id);
    };
  }

  /**
   * This instance wrote last_seen (a write the other instances needn't hear of): the entry served
   * takes the new time, unless it was dropped or replaced meanwhile. Returns the row to serve.
   */
  touched(id: string, served: CachedSession, lastSeen: number): SessionRow {
    const row = Object.freeze({ ...served.row, last_seen: lastSeen });
    if (this.#entries.peek(id) === served) this.#entries.set(id, Object.freeze({ ...served, row }), { noDisposeOnSet: true });
    return row;
  }

  clear(): void {
    this.#generation++;
    this.#entries.clear();
    this.#byUser.clear();
  }

  /** Stops listening; with its last user, the cache is gone (see sessionCacheFor). */
  async release(): Promise<void> {
    if (--this.#users > 0) return;
    caches.delete(this.#feed);
    this.clear();
    await this.#unsubscribe();
  }

  retain(): this {
    this.#users++;
    return this;
  }

  /**
   * While there is room, every session read is taken in. Once full, a session is taken in (evicting
   * the least recently used) only at its second read in a while: a stream of sessions read once each
   * (more active sessions than fit, a scan) would otherwise replace the whole cache, hit nothing, and
   * leave an evicted entry for the garbage collector at every request; this way what is cached stays
   * and keeps being hit.
   */
  #admits(id: string, entry: CachedSession): boolean {
    const entries = this.#entries;
    if (entries.size < entries.max && entries.calculatedSize + entryBytes(entry.row.data) <= MAX_BYTES) return true;
    if (this.#seen.delete(id)) return true;
    this.#seen.set(id, true);
    return false;
  }

  #apply(change: Change): void {
    this.#generation++;
    switch (change.kind) {
      case 'session':
        this.#entries.delete(change.id);
        break;
      case 'user':
        for (const id of [...(this.#byUser.get(change.id) ?? [])]) this.#entries.delete(id);
        break;
      case 'expired':
        for (const [id, entry] of [...this.#entries.entries()]) if (entry.row.expires <= change.before) this.#entries.delete(id);
        break;
      case 'all':
        this.clear();
        break;
    }
  }

  #unindex(userId: number, id: string): void {
    const ids = this.#byUser.get(userId);
    if (ids === undefined) return;
    ids.delete(id);
    if (ids.size === 0) this.#byUser.delete(userId);
  }
}

const caches = new WeakMap<ChangeFeed, SessionCache>();

/**
 * Turns the cache on for a database opened by openDatabase (one cache per database, shared by every
 * app on it; `release()` once per call). Undefined for another Kysely: no feed, so no cache.
 */
export function startSessionCache(db: Db, options: SessionCacheOptions = {}): SessionCache | undefined {
  const feed = changeFeedOf(db);
  if (feed === undefined) {
    options.log?.warn('session cache off: the database was not opened by oidc-connect, so its changes are not heard');
    return undefined;
  }
  const existing = caches.get(feed);
  if (existing) return existing.retain();
  const cache = new SessionCache(feed, options);
  caches.set(feed, cache);
  return cache;
}

/** The database's session cache, when one was started. */
export function sessionCacheFor(db: Db): SessionCache | undefined {
  const feed = changeFeedOf(db);
  return feed && caches.get(feed);
}
