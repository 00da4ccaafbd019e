import { randomBytes } from 'node:crypto';
import { changing, type Change } from '../db/change-feed.ts';
import type { Db } from '../db/index.ts';
import { prepared, preparedInsert } from '../db/prepared.ts';
import { userRoles, type SignedInUser } from '../accounts/roles.ts';
import type { SessionRow } from '../db/schema.ts';
import { sha256Base64url } from '../digest.ts';
import { sessionCacheFor, type CachedSession } from './cache.ts';
import { parsedOnDemand, serializeTokens, type StoredTokens } from './tokens.ts';

export interface SessionPolicy {
  maxAgeSeconds: number;
  idleTimeoutSeconds: number;
}

export type { StoredTokens } from './tokens.ts';

export interface NewSession {
  userId: number;
  provider?: string | null;
  providerSid?: string | null;
  userAgent?: string;
  ip?: string;
  /** The provider tokens as the row keeps them: sealed by rp/session-tokens.ts. */
  tokens?: StoredTokens;
  /**
   * How the user proved who they are (RFC 8176 `amr` values: 'pwd', 'otp', 'hwk', 'mfa', or the
   * provider's ID token's, whose non-strings are dropped), and the provider's `acr`: the admin's
   * multi-factor rule reads them.
   */
  amr?: readonly unknown[];
  acr?: string | null;
}

export interface ActiveSession {
  id: string;
  row: SessionRow;
  /** The user with their roles (src/accounts/roles.ts). */
  user: SignedInUser;
  /** The row's provider tokens (their times in the clear, the tokens sealed), parsed when first read; a refresh replaces them. */
  tokens: StoredTokens;
}

/** A class: an object literal with a getter and a setter cost about 1 µs per request to make. */
class LoadedSession implements ActiveSession {
  readonly id: string;
  row: SessionRow;
  readonly user: SignedInUser;
  readonly #stored: () => StoredTokens;
  #replaced: StoredTokens | undefined;

  constructor(id: string, row: SessionRow, user: SignedInUser, stored: () => StoredTokens) {
    this.id = id;
    this.row = row;
    this.user = user;
    this.#stored = stored;
  }

  get tokens(): StoredTokens {
    return this.#replaced ?? this.#stored();
  }

  set tokens(tokens: StoredTokens) {
    this.#replaced = tokens;
  }
}

/** last_seen is written at most this often, so reading a page doesn't cost a write each time. */
const TOUCH_INTERVAL_MS = 60_000;

/**
 * The row id is the SHA-256 of the cookie's 256-bit random secret. Someone who reads the table
 * can't use it as a cookie, and looking the hash up leaks nothing about the secret.
 */
export function sessionIdFor(secret: string): string {
  return sha256Base64url(secret);
}

export async function createSession(db: Db, policy: SessionPolicy, input: NewSession, now = Date.now()): Promise<string> {
  // The cookie secret and the forms' token, 32 bytes each, from one call to the CSPRNG (each call costs some 7 µs).
  const random = randomBytes(64);
  const secret = random.toString('base64url', 0, 32);
  await insertSession(db, {
    id: sessionIdFor(secret),
    user_id: input.userId,
    created: now,
    expires: now + policy.maxAgeSeconds * 1000,
    last_seen: now,
    provider: input.provider ?? null,
    provider_sid: input.providerSid ?? null,
    user_agent: (input.userAgent ?? '').slice(0, 512),
    ip: (input.ip ?? '').slice(0, 64),
    data: serializeTokens(input.tokens ?? {}),
    // Its forms' anti-forgery token (src/web/protection/csrf.ts): made once, new with every sign-in.
    csrf: random.toString('base64url', 32, 64),
    amr: amrText(input.amr ?? []),
    acr: typeof input.acr === 'string' ? input.acr.slice(0, 255) : null,
  });
  return secret;
}

/** Every sign-in runs it: compiled once (see src/db/prepared.ts). */
const insertSession = preparedInsert('sessions', [
  'id', 'user_id', 'created', 'expires', 'last_seen', 'provider', 'provider_sid', 'user_agent', 'ip', 'data', 'csrf', 'amr', 'acr',
]);

/** The `amr` column: the values a provider sent may be anything, so only short words are kept, in 255 characters. */
function amrText(amr: readonly unknown[]): string {
  const words = amr.filter((value): value is string => typeof value === 'string' && /^[\x21-\x7e]{1,40}$/.test(value));
  let text = '';
  for (const word of words) {
    if (text.length + word.length + 1 > 255) break;
    text = text === '' ? word : `${text} ${word}`;
  }
  return text;
}

/**
 * The live session for a cookie secret, or undefined when missing, expired, idle or the user is
 * inactive. Served from the session cache (./cache.ts) when it is on and holds the session; the
 * expiry and idle checks run on every request all the same.
 */
export async function loadSession(db: Db, policy: SessionPolicy, secret: string, now = Date.now()): Promise<ActiveSession | undefined> {
  if (secret.length !== 43) return undefined;
  const id = sessionIdFor(secret);
  const cache = sessionCacheFor(db);
  const cached = cache?.get(id);
  if (cached !== undefined) {
    if (now >= cached.row.expires) {
      await deleteSession(db, id);
      return undefined;
    }
    // Idle by this instance's last_seen: another instance may have seen it since, so the database decides.
    if (now - cached.row.last_seen <= policy.idleTimeoutSeconds * 1000) {
      let row = cached.row;
      if (now - row.last_seen > TOUCH_INTERVAL_MS) {
        await touch(db, id, now);
        // The entry served takes the new time, unless it was dropped or replaced meanwhile.
        row = Object.freeze({ ...row, last_seen: now });
        cache!.replace(id, cached, { ...cached, row });
      }
      return new LoadedSession(id, row, cached.user, cached.tokens);
    }
  }

  const fill = cache?.beforeFill();
  const [found] = await sessionWithUser(db, { id });
  if (!found) return undefined;
  const idle = now - found.s_last_seen > policy.idleTimeoutSeconds * 1000;
  if (now >= found.s_expires || idle || !found.is_active) {
    await deleteSession(db, id);
    return undefined;
  }
  let lastSeen = found.s_last_seen;
  if (now - lastSeen > TOUCH_INTERVAL_MS) {
    await touch(db, id, now);
    lastSeen = now;
  }
  // Built field by field: a rest spread over the joined row was a measurable part of every request.
  const user: SignedInUser = {
    id: found.id, username: found.username, email: found.email, email_key: found.email_key, email_verified: found.email_verified,
    first_name: found.first_name, last_name: found.last_name, password: found.password, is_active: found.is_active,
    is_staff: found.is_staff, is_superuser: found.is_superuser, last_login: found.last_login, date_joined: found.date_joined,
    source: found.source, external_id: found.external_id, nick_name: found.nick_name, display_name: found.display_name,
    deleted: found.deleted, modified: found.modified, rule_roles: found.rule_roles, roles: Object.freeze(userRoles(found)),
  };
  const row: SessionRow = {
    id, user_id: found.id, created: found.s_created, expires: found.s_expires, last_seen: lastSeen,
    provider: found.s_provider, provider_sid: found.s_provider_sid, user_agent: found.s_user_agent, ip: found.s_ip,
    data: found.s_data, refresh_lock: found.s_refresh_lock, csrf: found.s_csrf, amr: found.s_amr, acr: found.s_acr,
  };
  const entry: CachedSession = { row, user, tokens: parsedOnDemand(found.s_data) };
  if (fill) {
    // Shared by every request of the session once cached.
    Object.freeze(row);
    Object.freeze(user);
    fill(id, entry);
  }
  return new LoadedSession(id, row, user, entry.tokens);
}

/** The throttled last_seen write. Not announced: it ends nothing and changes no user, so caches keep the session. */
async function touch(db: Db, id: string, now: number): Promise<void> {
  await db.updateTable('sessions').set({ last_seen: now }).where('id', '=', id).execute();
}

/**
 * Every request runs this: compiled once (see src/db/prepared.ts). The user's columns come in the same indexed read, driven by the session row: a second query per
 * request for the user would double the cost of the hottest path.
 */
const sessionWithUser = prepared('sessions.withUser', ['id'], (db, p) => db
  .selectFrom('sessions')
  .innerJoin('users', 'users.id', 'sessions.user_id')
  .selectAll('users')
  .select([
    'sessions.created as s_created', 'sessions.expires as s_expires', 'sessions.last_seen as s_last_seen',
    'sessions.provider as s_provider', 'sessions.provider_sid as s_provider_sid', 'sessions.user_agent as s_user_agent',
    'sessions.ip as s_ip', 'sessions.data as s_data', 'sessions.refresh_lock as s_refresh_lock', 'sessions.csrf as s_csrf',
    'sessions.amr as s_amr', 'sessions.acr as s_acr',
  ])
  .where('sessions.id', '=', p('id')));

/*
 * Every write below that ends a session, or changes what a cached one holds, is announced through
 * the change feed (src/db/change-feed.ts) in its own transaction, so every instance's session cache
 * drops it. Callers can't forget: the announcement is part of the owner's write.
 */

export async function deleteSession(db: Db, id: string): Promise<void> {
  await changing(db, (db) => db.deleteFrom('sessions').where('id', '=', id).execute(), () => [{ kind: 'session', id }]);
}

/** Ends every session of a user, except optionally the one given. */
export async function deleteUserSessions(db: Db, userId: number, exceptId?: string): Promise<number> {
  return changing(db, async (db) => {
    let query = db.deleteFrom('sessions').where('user_id', '=', userId);
    if (exceptId !== undefined) query = query.where('id', '!=', exceptId);
    return Number((await query.executeTakeFirst()).numDeletedRows);
  }, (ended) => (ended > 0 ? [{ kind: 'user', id: userId }] : []));
}

/** Ends one session of a user; false when it had already ended. */
export async function endUserSession(db: Db, userId: number, id: string): Promise<boolean> {
  return changing(db, async (db) => {
    const result = await db.deleteFrom('sessions').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }, (ended) => (ended ? [{ kind: 'session', id }] : []));
}

/**
 * Ends the sessions that came through `provider` and match: one provider session (`sid`, as a
 * back-channel logout names it) or every session of a user. Returns how many ended. Works inside
 * `db.transaction()`.
 */
export async function endProviderSessions(db: Db, provider: string, match: { sid: string } | { userId: number }): Promise<number> {
  const ended = await changing(db, (db) => {
    let query = db.deleteFrom('sessions').where('provider', '=', provider);
    query = 'sid' in match ? query.where('provider_sid', '=', match.sid) : query.where('user_id', '=', match.userId);
    return query.returning('id').execute();
  }, (rows) => rows.map((row): Change => ({ kind: 'session', id: row.id })));
  return ended.length;
}

/** The expiry sweep. Caches refuse an expired session by its own expiry time anyway; this frees their memory. */
export async function deleteExpiredSessions(db: Db, now = Date.now()): Promise<number> {
  return changing(db, async (db) => {
    const result = await db.deleteFrom('sessions').where('expires', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }, (deleted) => (deleted > 0 ? [{ kind: 'expired', before: now }] : []));
}
