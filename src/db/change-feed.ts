/**
 * Which sessions and users changed, told to every instance sharing the database, so that an
 * in-process cache of them (src/sessions/cache.ts) drops what went stale. The tables' owners
 * (sessions/, accounts/) announce their writes here; this module knows nothing of what is cached,
 * and accounts/ needn't know that sessions/ caches users.
 *
 * - PostgreSQL: NOTIFY on one channel, sent in the write's transaction, so it is delivered at
 *   commit, and never for a write rolled back. Each instance LISTENs on one dedicated connection
 *   (pg-listener.ts, which must answer a heartbeat every second); while it is down the feed is not
 *   live and caches must not serve.
 * - SQLite: processes sharing the file see each other's commits through PRAGMA data_version, which
 *   changes when another connection commits, and this connection's own writes through total_changes();
 *   any of them but the writes declared quiet (the last_seen touch) reports that everything changed.
 *   So on SQLite even a change made by hand is seen: at once on this connection, within
 *   SQLITE_CHECK_MS from another.
 * - Everywhere, a process hears its own announcements at once, before the write returns.
 */
import { randomBytes } from 'node:crypto';
import { PostgresAdapter, sql, type DialectAdapter, type Kysely } from 'kysely';
import type pg from 'pg';
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

export type ChangeSource =
  | { kind: 'sqlite'; dataVersion: () => number; totalChanges: () => number }
  | { kind: 'postgres'; url: string; Client: typeof pg.Client };

export const CHANNEL = 'oidc_connect_sessions';
/** NOTIFY payloads are limited to 8000 bytes; a longer list is sent as "everything changed". */
const MAX_PAYLOAD = 7900;
/**
 * An own announcement not heard back by then makes the listening connection answer a query at once:
 * if it doesn't, it is down; if it does, the announcement's transaction rolled back (or is still open).
 */
const ECHO_TIMEOUT_MS = 2000;
/** How long an answer waits for its own announcements to come back (see `heard`). */
const ANSWER_WAIT_MS = 100;
/**
 * SQLite: the file is checked for other connections' commits at most this often. Reading
 * data_version opens a read transaction (shared-memory locks, a few µs): once per request it was a
 * tenth of an authenticated page's CPU; a bounded lag this short is well inside the cross-instance
 * contract (100 ms at p99). This connection's own writes (total_changes(), no system call) are still
 * checked at every request.
 */
const SQLITE_CHECK_MS = 10;

/**
 * Keyed by the Kysely adapter: a transaction is another Kysely object, but it shares its database's
 * adapter, so announcements made inside `db.transaction()` find the feed too.
 */
const feeds = new WeakMap<DialectAdapter, ChangeFeed>();

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
  /** total_changes() as last seen, plus the quiet writes declared since. */
  #ownChanges: number | undefined;
  /** Tells this instance's own NOTIFYs apart when they come back through the listener. */
  readonly #origin = randomBytes(6).toString('base64url');
  #sequence = 0;
  /** Own announcements on PostgreSQL not heard back yet: their transaction may not have committed. */
  readonly #unconfirmed = new Map<number, NodeJS.Timeout>();
  /** Waiting for #unconfirmed to empty (see `heard`). */
  #waiters: (() => void)[] = [];

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
   * Whether a cache may serve now: every change made elsewhere reaches this process. On SQLite this
   * reads total_changes(), and data_version at most every SQLITE_CHECK_MS: an unannounced write by
   * this connection, or a commit by another, is reported as "everything changed".
   */
  usable(): boolean {
    if (this.#source.kind === 'sqlite') {
      const own = this.#source.totalChanges();
      let version = this.#dataVersion;
      const now = performance.now();
      if (now - this.#checkedAt >= SQLITE_CHECK_MS) {
        this.#checkedAt = now;
        version = this.#source.dataVersion();
      }
      if (version !== this.#dataVersion || own !== this.#ownChanges) {
        if (this.#dataVersion !== undefined) this.#dispatch({ kind: 'all' });
        this.#dataVersion = version;
        this.#ownChanges = own;
      }
      return true;
    }
    return this.#live;
  }

  /**
   * SQLite: the next write on this connection changes one row that no cache needs to hear of. If
   * another write slips in first, the count still differs afterwards, and caches are emptied.
   */
  quietWrite(): void {
    if (this.#ownChanges !== undefined) this.#ownChanges++;
  }

  /**
   * PostgreSQL: resolves once this instance has heard its own announcements back (every instance
   * listening gets them at the same moment), or after ANSWER_WAIT_MS; undefined when none is pending.
   * An answer that waits for it lets the client's next request, to any instance, see the change.
   */
  heard(): Promise<void> | undefined {
    if (this.#unconfirmed.size === 0) return undefined;
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ANSWER_WAIT_MS);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * Whether a cache may take in what it reads now. Not while an own announcement is unconfirmed: a
   * read on another pooled connection may still see the rows as they were before that transaction.
   */
  settled(): boolean {
    return this.usable() && this.#unconfirmed.size === 0;
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
      this.#unconfirmed.set(sequence, setTimeout(() => this.#overdue(sequence), ECHO_TIMEOUT_MS).unref());
    }
    return `${this.#origin}.${sequence}`;
  }

  #heard(payload: string): void {
    const [tag = '', ...items] = payload.split(' ');
    for (const item of items) {
      const change = decode(item);
      if (change) this.#dispatch(change);
    }
    const [origin, sequence] = tag.split('.');
    if (origin === this.#origin) this.#confirm(Number(sequence));
  }

  /** Not heard back in time: the listening connection must answer now, or it is dropped (and the feed goes down). */
  #overdue(sequence: number): void {
    const check = this.#check;
    if (check === undefined) return this.#confirm(sequence);
    void check().then((answered) => {
      if (answered) this.#confirm(sequence);
    });
  }

  #confirm(sequence: number): void {
    clearTimeout(this.#unconfirmed.get(sequence));
    this.#unconfirmed.delete(sequence);
    if (this.#unconfirmed.size === 0) for (const wake of this.#waiters.splice(0)) wake();
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

/** Called by openDatabase for each database it opens. */
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
 * Tells every instance what a write changed. Call it with the transaction the write ran in: on
 * PostgreSQL the NOTIFY then goes out with its commit. Outside a transaction use `changing()`.
 */
export async function announce(db: Db, changes: readonly Change[]): Promise<void> {
  if (changes.length === 0) return;
  const tag = changeFeedOf(db)?.ownChanges(changes) ?? '-';
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  let payload = [tag, ...changes.map(encode)].join(' ');
  if (payload.length > MAX_PAYLOAD) payload = `${tag} *`;
  await sql`select pg_notify(${CHANNEL}, ${payload})`.execute(db);
}

/**
 * Runs `write` and announces the changes it reports. On PostgreSQL both run in one transaction: the
 * caller's when `db` is one, else a new one, so no instance hears of a write that didn't happen,
 * and none misses one that did.
 */
export async function changing<T>(db: Db, write: (db: Db) => Promise<T>, changes: (result: T) => readonly Change[]): Promise<T> {
  if (db.getExecutor().adapter instanceof PostgresAdapter && !db.isTransaction) {
    return db.transaction().execute((trx) => changing(trx, write, changes));
  }
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
