/**
 * The in-process session cache: the session id (the hash of the cookie secret) maps to the session
 * row and its user, so a page needs no database read. One configuration of src/db/invalidated-cache.ts,
 * which keeps it right: every write that ends a session or alters a user is announced by its owner,
 * on every instance, and the entries it touches are dropped.
 */
import type { SignedInUser } from '../accounts/roles.ts';
import { changeFeedOf, type ChangeFeed } from '../db/change-feed.ts';
import type { Db } from '../db/index.ts';
import { InvalidatedCache } from '../db/invalidated-cache.ts';
import type { SessionRow } from '../db/schema.ts';
import type { StoredTokens } from './tokens.ts';

export interface CachedSession {
  /** Its `last_seen` is this instance's last touch; its `refresh_lock` is not kept current (the lease is always read from the database). */
  readonly row: SessionRow;
  /** Its `last_login` is as it was when the session was read: a sign-in elsewhere is not announced. */
  readonly user: SignedInUser;
  /** The row's provider tokens, parsed at the first call (see parsedOnDemand). */
  readonly tokens: () => StoredTokens;
}

export type SessionCache = InvalidatedCache<CachedSession>;

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

const caches = new WeakMap<ChangeFeed, SessionCache>();

/**
 * Turns the cache on for a database opened by openDatabase (one cache per database, shared by every
 * app on it; `release()` once per call). Undefined for another Kysely: no feed, so no cache.
 *
 * ```ts
 * const cache = startSessionCache(db, { log: app.log });
 * app.addHook('onClose', () => cache?.release());
 * ```
 */
export function startSessionCache(db: Db, options: SessionCacheOptions = {}): SessionCache | undefined {
  const feed = changeFeedOf(db);
  if (feed === undefined) {
    options.log?.warn('session cache off: the database was not opened by oidc-connect, so its changes are not heard');
    return undefined;
  }
  const existing = caches.get(feed);
  if (existing) return existing.retain();
  const cache = new InvalidatedCache<CachedSession>(feed, {
    name: 'session cache',
    max: options.maxEntries ?? DEFAULT_MAX_ENTRIES,
    maxSize: MAX_BYTES,
    sizeOf: (entry) => entryBytes(entry.row.data),
    userOf: (entry) => entry.user.id,
    sessions: { expiresOf: (entry) => entry.row.expires },
    admitOnSecondOffer: true,
    ...(options.log ? { log: options.log } : {}),
    onClose: () => caches.delete(feed),
  });
  caches.set(feed, cache);
  return cache;
}

/** The database's session cache, when one was started. */
export function sessionCacheFor(db: Db): SessionCache | undefined {
  const feed = changeFeedOf(db);
  return feed && caches.get(feed);
}
