/** Reads of live sessions for the admin pages; each one ranges over an index of `sessions`. */
import type { Db } from '../db/index.ts';
import type { SessionRow } from '../db/schema.ts';

export const PAGE_SIZE = 50;

type Policy = { idleTimeoutSeconds: number };

export type SessionListRow = Pick<SessionRow, 'id' | 'user_id' | 'created' | 'last_seen' | 'expires' | 'provider' | 'user_agent' | 'ip'>;

/** Sessions that would still be accepted now: not expired and not idle. Ranges over the expires index. */
export async function activeSessionCount(db: Db, policy: Policy, now = Date.now()): Promise<number> {
  const row = await db
    .selectFrom('sessions')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('expires', '>', now)
    .where('last_seen', '>', now - policy.idleTimeoutSeconds * 1000)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** A user's sessions that would still be accepted now, newest first. Uses sessions_user_id. */
export async function activeSessionsOf(db: Db, userId: number, policy: Policy, now = Date.now()): Promise<SessionListRow[]> {
  return db
    .selectFrom('sessions')
    .select(['id', 'user_id', 'created', 'last_seen', 'expires', 'provider', 'user_agent', 'ip'])
    .where('user_id', '=', userId)
    .where('expires', '>', now)
    .where('last_seen', '>', now - policy.idleTimeoutSeconds * 1000)
    .orderBy('created', 'desc')
    .limit(200)
    .execute();
}

export interface SessionCursor {
  expires: number;
  id: string;
}

/**
 * All active sessions, newest first (by expiry, which is creation + the fixed maximum age), keyset
 * on (expires, id) through the sessions_expires index.
 */
export async function listActiveSessions(
  db: Db,
  policy: Policy,
  before: SessionCursor | null,
  limit = PAGE_SIZE,
  now = Date.now(),
): Promise<{ sessions: SessionListRow[]; next: SessionCursor | null }> {
  let query = db
    .selectFrom('sessions')
    .select(['id', 'user_id', 'created', 'last_seen', 'expires', 'provider', 'user_agent', 'ip'])
    .where('expires', '>', now)
    .where('last_seen', '>', now - policy.idleTimeoutSeconds * 1000);
  if (before) {
    query = query
      .where('expires', '<=', before.expires)
      .where((eb) => eb.not(eb.and([eb('expires', '=', before.expires), eb('id', '>=', before.id)])));
  }
  const rows = await query.orderBy('expires', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
  const sessions = rows.slice(0, limit);
  const last = sessions.at(-1);
  return { sessions, next: rows.length > limit && last ? { expires: last.expires, id: last.id } : null };
}
