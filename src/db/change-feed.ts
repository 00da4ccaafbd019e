/**
 * Which sessions and users changed, told to every instance sharing the database, so that an
 * in-process cache of them (src/db/invalidated-cache.ts) drops exactly the entries that went stale.
 * The tables' owners (sessions/, accounts/, provisioning/) announce the writes that a cached session
 * or token depends on; this module knows nothing of what is cached. No other write (a login in
 * progress, an audit row, a lockout counter, last_login, last_seen…) invalidates anything.
 *
 * - PostgreSQL: NOTIFY on one channel, sent in the write's transaction, so it is delivered at
 *   commit, and never for a write rolled back. Each instance LISTENs on one dedicated connection
 *   (pg-listener.ts, which must answer a heartbeat every second); while it is down the feed is not
 *   live and caches must not serve.
 * - SQLite: a row in the change log (change-log.ts), in the write's transaction. The other
 *   connections to the file notice a commit through PRAGMA data_version, which `poll()` reads at
 *   most every SQLITE_CHECK_MS, and then read the rows they have not seen.
 * - Everywhere, a process hears its own announcements at once, before the write returns.
 * - "Everything changed" is left for what can't be told apart: a hole in the log (rows pruned before
 *   this process read them), and the listening connection coming back after a loss.
 *
 * A change made by hand (plain SQL, not through the owners) reaches no cache, on either database.
 */
import { randomBytes } from 'node:crypto';
import { PostgresAdapter, sql, type DialectAdapter, type Kysely } from 'kysely';
import type pg from 'pg';
import { appendChange, type ChangeLogReader } from './change-log.ts';
import { listen, type Listener, type ListenerEvents } from './pg-listener.ts';
import type { Database } from './schema.ts';

/** As db/index.ts's Db, named here because index.ts imports this module (no import cycle). */
type Db = Kysely<Database>;

export type Change =
  | { readonly kind: 'session'; readonly id: string }
  | { readonly kind: 'user'; readonly id: number }
  /** Every session whose `expires` is at or before `before`. */
  | { readonly kind: 'expired'; readonly before: number }
  | { readonly kind: 'all' };

export interface ChangeSubscriber {
  change(change: Change): void;
  /**
   * false: changes may be missed from now on, so nothing may be served from a cache; true: they arrive
   * again, and what was missed meanwhile is unknown, so a cache starts empty.
   */
  live(on: boolean, error?: Error): void;
}

/** @internal How the feed hears changes; its pg types stay out of the published declarations (stripInternal). */
export type ChangeSource =
  | { kind: 'sqlite'; dataVersion: () => number; inTransaction: () => boolean; log: ChangeLogReader }
  | { kind: 'postgres'; url: string; Client: typeof pg.Client };

export const CHANNEL = 'oidc_connect_sessions';
/** NOTIFY payloads are limited to 8000 bytes; a longer list is announced (on either database) as "everything changed". */
const MAX_PAYLOAD = 7900;
/**
 * An own announcement not heard back by then makes the listening connection answer a query at once:
 * if it doesn't, it is down; if it does, the announcement's transaction rolled back (or is still open).
 */
const ECHO_TIMEOUT_MS = 2000;
/** How long an answer waits for its own announcements to come back (see `heardSince`). */
const ANSWER_WAIT_MS = 100;
/**
 * SQLite: the file is checked for other connections' commits at most this often. Reading
 * data_version opens a read transaction (shared-memory locks, a few µs): once per request it was a
 * tenth of an authenticated page's CPU; a bounded lag this short is well inside the cross-instance
 * contract (100 ms at p99).
 */
const SQLITE_CHECK_MS = 10;

/**
 * Keyed by the Kysely adapter: a transaction is another Kysely object, but it shares its database's
 * adapter, so announcements made inside `db.transaction()` find the feed too.
 */
const feeds = new WeakMap<DialectAdapter, ChangeFeed>();

/** An own announcement on PostgreSQL not heard back yet: when it was made, and its ECHO_TIMEOUT_MS timer. */
interface Unconfirmed {
  readonly at: number;
  readonly timer: NodeJS.Timeout;
}

export class ChangeFeed {
  readonly #source: ChangeSource;
  readonly #subscribers = new Set<ChangeSubscriber>();
  /** Leaves the shared listening connection (PostgreSQL), while this feed is in it. */
  #leave: (() => Promise<void>) | undefined;
  #check: (() => Promise<boolean>) | undefined;
  #live: boolean;
  #dataVersion: number | undefined;
  /** performance.now() of the last SQLite check. */
  #checkedAt = Number.NEGATIVE_INFINITY;
  /** SQLite: the id of the last change-log row read; undefined until the first check. */
  #lastRow: number | undefined;
  /** Tells this instance's own NOTIFYs apart when they come back through the listener. */
  readonly #origin = randomBytes(6).toString('base64url');
  #sequence = 0;
  /** Own announcements on PostgreSQL not heard back yet: their transaction may not have committed. */
  readonly #unconfirmed = new Map<number, Unconfirmed>();
  /** Answers waiting for the announcements made since `since` (see `heardSince`). */
  #waiters: { since: number; wake: () => void }[] = [];
  /** Own announcements heard back through the listener, and the seconds that took in all (metrics). */
  #echoes = 0;
  #echoSeconds = 0;

  /** @internal */
  constructor(source: ChangeSource) {
    this.#source = source;
    this.#live = source.kind === 'sqlite';
  }

  /** Starts listening (PostgreSQL) with the first subscriber, and stops with the last. */
  subscribe(subscriber: ChangeSubscriber): () => Promise<void> {
    this.#subscribers.add(subscriber);
    const source = this.#source;
    if (source.kind === 'postgres' && this.#leave === undefined) {
      ({ leave: this.#leave, check: this.#check } = joinListener(source.Client, source.url, {
        up: () => this.#setLive(true),
        down: (error) => this.#setLive(false, error),
        message: (payload) => this.#heard(payload),
      }));
    }
    return async () => {
      this.#subscribers.delete(subscriber);
      if (this.#subscribers.size === 0) await this.close();
    };
  }

  /**
   * Whether every change made elsewhere reaches this process now, so that a cache may serve. A plain
   * answer: call `poll()` first to take in what other SQLite connections wrote.
   */
  get isLive(): boolean {
    return this.#live;
  }

  /**
   * Whether a cache may take in what it reads now: live, and no own announcement is unconfirmed
   * (a read on another pooled connection may still see the rows as they were before that transaction).
   */
  get isSettled(): boolean {
    return this.#live && this.#unconfirmed.size === 0;
  }

  /**
   * SQLite: takes in what other connections committed. At most every SQLITE_CHECK_MS it reads
   * data_version, and when that moved, the change log's new rows, and tells the subscribers what they
   * say. A log that can't be read (not migrated yet) makes the feed not live until it can.
   * PostgreSQL: nothing to do, its changes are pushed.
   */
  poll(): void {
    const source = this.#source;
    if (source.kind !== 'sqlite') return;
    const now = performance.now();
    // Not in the middle of another request's transaction on this connection: the log rows it added
    // are visible here but not committed, and might be rolled back and their ids used again.
    if (now - this.#checkedAt < SQLITE_CHECK_MS || source.inTransaction()) return;
    this.#checkedAt = now;
    try {
      const version = source.dataVersion();
      if (this.#lastRow === undefined) {
        this.#lastRow = source.log.last();
      } else if (version !== this.#dataVersion) {
        this.#readLog(source.log, this.#lastRow);
      }
      this.#dataVersion = version;
      this.#setLive(true);
    } catch (error) {
      this.#lastRow = undefined;
      this.#setLive(false, error as Error);
    }
  }

  /**
   * How far behind the listener is, for metrics: the seconds the oldest own announcement not heard back
   * yet has waited (PostgreSQL); 0 when none waits, and always on SQLite, which reads the log itself.
   */
  lagSeconds(now = performance.now()): number {
    let oldest = now;
    for (const { at } of this.#unconfirmed.values()) oldest = Math.min(oldest, at);
    return (now - oldest) / 1000;
  }

  /** Own announcements heard back through the listener since the feed started, and the seconds they took in all. */
  get echoes(): { readonly count: number; readonly seconds: number } {
    return { count: this.#echoes, seconds: this.#echoSeconds };
  }

  /** Whether an own announcement waits to be heard back (PostgreSQL): `heardSince` has anything to wait for. */
  get echoPending(): boolean {
    return this.#unconfirmed.size > 0;
  }

  /**
   * PostgreSQL: resolves once this instance has heard back its own announcements made since `since`
   * (a performance.now() time: when the request began), or after ANSWER_WAIT_MS; undefined when none
   * is pending, at no cost. Every instance listening hears them at that moment, so an answer that waits
   * for it lets the client's next request, to any instance, see the change.
   */
  heardSince(since: number): Promise<void> | undefined {
    if (this.#unconfirmed.size === 0 || !this.#pendingSince(since)) return undefined;
    return new Promise((resolve) => {
      const waiter = {
        since,
        wake: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve();
      }, ANSWER_WAIT_MS);
      this.#waiters.push(waiter);
    });
  }

  async close(): Promise<void> {
    const leave = this.#leave;
    this.#leave = undefined;
    this.#check = undefined;
    this.#confirmAll();
    if (this.#source.kind === 'postgres') this.#live = false;
    await leave?.();
  }

  /** Dispatches own changes at once; returns the tag its NOTIFY carries. */
  ownChanges(changes: readonly Change[]): string {
    for (const change of changes) this.#dispatch(change);
    const sequence = ++this.#sequence;
    if (this.#source.kind === 'postgres' && this.#live) {
      this.#unconfirmed.set(sequence, { at: performance.now(), timer: setTimeout(() => this.#overdue(sequence), ECHO_TIMEOUT_MS).unref() });
    }
    return `${this.#origin}.${sequence}`;
  }

  #readLog(log: ChangeLogReader, after: number): void {
    const rows = log.after(after);
    if (rows.length === 0) return;
    this.#lastRow = rows.at(-1)!.id;
    // Ids follow each other: a hole is rows pruned before this process read them.
    if (rows[0]!.id !== after + 1) return this.#dispatch({ kind: 'all' });
    for (const row of rows) for (const change of decodeAll(row.changes)) this.#dispatch(change);
  }

  #heard(payload: string): void {
    const space = payload.indexOf(' ');
    const tag = space === -1 ? payload : payload.slice(0, space);
    if (space !== -1) for (const change of decodeAll(payload.slice(space + 1))) this.#dispatch(change);
    const [origin, sequence] = tag.split('.');
    if (origin !== this.#origin) return;
    const unconfirmed = this.#unconfirmed.get(Number(sequence));
    if (unconfirmed !== undefined) {
      this.#echoes++;
      this.#echoSeconds += (performance.now() - unconfirmed.at) / 1000;
    }
    this.#confirm(Number(sequence));
  }

  /** Not heard back in time: the listening connection must answer now, or it is dropped (and the feed goes down). */
  #overdue(sequence: number): void {
    const check = this.#check;
    if (check === undefined) return this.#confirm(sequence);
    void check().then((answered) => {
      if (answered) this.#confirm(sequence);
    });
  }

  #pendingSince(since: number): boolean {
    for (const { at } of this.#unconfirmed.values()) if (at >= since) return true;
    return false;
  }

  #confirm(sequence: number): void {
    const unconfirmed = this.#unconfirmed.get(sequence);
    if (unconfirmed === undefined) return;
    clearTimeout(unconfirmed.timer);
    this.#unconfirmed.delete(sequence);
    if (this.#waiters.length === 0) return;
    const waiting = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiting) {
      if (this.#pendingSince(waiter.since)) this.#waiters.push(waiter);
      else waiter.wake();
    }
  }

  #confirmAll(): void {
    for (const sequence of [...this.#unconfirmed.keys()]) this.#confirm(sequence);
  }

  #setLive(on: boolean, error?: Error): void {
    if (!on) this.#confirmAll();
    // Down: nothing heard from now on. Up again: whatever was missed is unknown, so all of it changed.
    if (this.#live === on) return;
    this.#live = on;
    for (const subscriber of this.#subscribers) subscriber.live(on, error);
  }

  #dispatch(change: Change): void {
    for (const subscriber of this.#subscribers) subscriber.change(change);
  }
}

/**
 * One listening connection per database URL in this process (one instance), however many handles
 * are open on it: they hear each notification in the same turn of the event loop, so when one hears
 * its own NOTIFY back, the others have it too.
 */
class SharedListener {
  readonly #members = new Set<ListenerEvents>();
  readonly #listener: Listener;
  #up = false;

  constructor(Client: typeof pg.Client, url: string) {
    this.#listener = listen(Client, url, CHANNEL, {
      up: () => {
        this.#up = true;
        for (const member of this.#members) member.up();
      },
      down: (error) => {
        this.#up = false;
        for (const member of this.#members) member.down(error);
      },
      message: (payload) => {
        for (const member of this.#members) member.message(payload);
      },
    });
  }

  join(member: ListenerEvents): void {
    this.#members.add(member);
    if (this.#up) member.up();
  }

  check(): Promise<boolean> {
    return this.#listener.check();
  }

  /** Removes a member; with the last one gone, returns the closing of the connection. */
  leave(member: ListenerEvents): Promise<void> | undefined {
    this.#members.delete(member);
    return this.#members.size === 0 ? this.#listener.stop() : undefined;
  }
}

const listeners = new Map<string, SharedListener>();

function joinListener(Client: typeof pg.Client, url: string, member: ListenerEvents): { leave: () => Promise<void>; check: () => Promise<boolean> } {
  let shared = listeners.get(url);
  if (shared === undefined) listeners.set(url, (shared = new SharedListener(Client, url)));
  const joined = shared;
  joined.join(member);
  return {
    check: () => joined.check(),
    async leave() {
      const closing = joined.leave(member);
      if (closing === undefined) return;
      if (listeners.get(url) === joined) listeners.delete(url);
      await closing;
    },
  };
}

/** Called by openDatabase for each database it opens. @internal */
export function createChangeFeed(db: Db, source: ChangeSource): ChangeFeed {
  const feed = new ChangeFeed(source);
  feeds.set(db.getExecutor().adapter, feed);
  return feed;
}

/** The feed of a database opened by openDatabase (or of a transaction on it); undefined for another Kysely. */
export function changeFeedOf(db: Db): ChangeFeed | undefined {
  return feeds.get(db.getExecutor().adapter);
}

/**
 * Tells every instance what a write changed. Call it with the transaction the write ran in: the
 * NOTIFY (PostgreSQL) or the change-log row (SQLite) then goes out with its commit, and never for a
 * write rolled back. Outside a transaction use `changing()`.
 */
export async function announce(db: Db, changes: readonly Change[]): Promise<void> {
  if (changes.length === 0) return;
  const tag = changeFeedOf(db)?.ownChanges(changes) ?? '-';
  let items = changes.map(encode).join(' ');
  if (items.length > MAX_PAYLOAD) items = '*';
  if (db.getExecutor().adapter instanceof PostgresAdapter) await sql`select pg_notify(${CHANNEL}, ${`${tag} ${items}`})`.execute(db);
  else await appendChange(db, items);
}

/**
 * Runs `write` and announces the changes it reports, both in one transaction: the caller's when `db`
 * is one, else a new one, so no instance hears of a write that didn't happen, and none misses one that did.
 */
export async function changing<T>(db: Db, write: (db: Db) => Promise<T>, changes: (result: T) => readonly Change[]): Promise<T> {
  if (!db.isTransaction) return db.transaction().execute((trx) => changing(trx, write, changes));
  const result = await write(db);
  await announce(db, changes(result));
  return result;
}

function encode(change: Change): string {
  switch (change.kind) {
    case 'session': return `s:${change.id}`;
    case 'user': return `u:${change.id}`;
    case 'expired': return `e:${change.before}`;
    case 'all': return '*';
  }
}

function decode(item: string): Change | undefined {
  if (item === '*') return { kind: 'all' };
  const value = item.slice(2);
  switch (item.slice(0, 2)) {
    case 's:': return { kind: 'session', id: value };
    case 'u:': return Number.isSafeInteger(Number(value)) ? { kind: 'user', id: Number(value) } : undefined;
    case 'e:': return Number.isSafeInteger(Number(value)) ? { kind: 'expired', before: Number(value) } : undefined;
    default: return { kind: 'all' }; // unknown: from a newer version; safest to drop everything
  }
}

/** The changes of a NOTIFY payload (after its tag) or a change-log row: items separated by spaces. */
function decodeAll(items: string): Change[] {
  const changes: Change[] = [];
  for (const item of items.split(' ')) {
    const change = item === '' ? undefined : decode(item);
    if (change) changes.push(change);
  }
  return changes;
}
