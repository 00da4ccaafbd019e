/**
 * Reads of the audit log for the admin pages. Each one is a range scan on an index of
 * 0004_audit_log (widened by 0008): the dashboard's aggregates sum the rows' counts (a grouped row
 * stands for many anonymous failures) reading only the (type, time, method, error_code, count) index;
 * the event list pages through (time), (type, time) or (user_id, time), 50 rows at a time.
 */
import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import type { AuditEventType } from './index.ts';

export const DAY_MS = 24 * 60 * 60 * 1000;

/** The UTC day number of an epoch-ms time. */
export const dayOf = (time: number): number => Math.floor(time / DAY_MS);

export interface DailyCount {
  /** UTC day number (epoch ms / 86 400 000). */
  day: number;
  type: 'login_success' | 'login_failure';
  method: string;
  count: number;
}

/** Successful and failed sign-ins per UTC day and method, over the last `days` days including today. */
export async function signInsPerDay(db: Db, days: number, now = Date.now()): Promise<DailyCount[]> {
  const since = (dayOf(now) - days + 1) * DAY_MS;
  const day = sql<number>`cast(${sql.ref('time')} / ${sql.lit(DAY_MS)} as integer)`;
  const rows = await db
    .selectFrom('audit_log')
    .select((eb) => ['type', 'method', day.as('day'), eb.fn.sum<number>('count').as('n')])
    .where('type', 'in', ['login_success', 'login_failure'])
    .where('time', '>=', since)
    .groupBy(['type', 'method', day])
    .execute();
  return rows.map((r) => ({
    day: Number(r.day),
    type: r.type as DailyCount['type'],
    method: r.method,
    count: Number(r.n),
  }));
}

/** Failed sign-ins by error code since a time, most frequent first. */
export async function failuresByCode(db: Db, since: number): Promise<{ code: string; count: number }[]> {
  const rows = await db
    .selectFrom('audit_log')
    .select((eb) => ['error_code', eb.fn.sum<number>('count').as('n')])
    .where('type', '=', 'login_failure')
    .where('time', '>=', since)
    .groupBy('error_code')
    .execute();
  return rows
    .map((r) => ({ code: r.error_code ?? 'UNKNOWN', count: Number(r.n) }))
    .sort((a, b) => b.count - a.count || a.code.localeCompare(b.code));
}

export interface EventFilter {
  type?: AuditEventType;
  userId?: number;
  /** Keyset cursor: events strictly older than this (time, id). */
  before?: { time: number; id: number };
}

export interface EventRow {
  id: number;
  time: number;
  type: string;
  method: string;
  error_code: string | null;
  user_id: number | null;
  username: string;
  actor_id: number | null;
  action: string;
  detail: string;
  ip: string;
  user_agent: string;
  /** 1, or the anonymous failures a grouped row counts. */
  count: number;
}

/**
 * Newest events first, `limit` at a time; `next` is the cursor of the following page, or null.
 * Actors come as ids: their usernames are the users table's, read through src/accounts/.
 */
export async function listEvents(db: Db, filter: EventFilter, limit = 50): Promise<{ events: EventRow[]; next: { time: number; id: number } | null }> {
  let query = db
    .selectFrom('audit_log')
    .select(['id', 'time', 'type', 'method', 'error_code', 'user_id', 'username', 'actor_id', 'action', 'detail', 'ip', 'user_agent', 'count']);
  if (filter.type !== undefined) query = query.where('type', '=', filter.type);
  if (filter.userId !== undefined) query = query.where('user_id', '=', filter.userId);
  const before = filter.before;
  if (before !== undefined) {
    // `time <= t` is the index range; the tie on t is settled by id.
    query = query
      .where('time', '<=', before.time)
      .where((eb) => eb.not(eb.and([eb('time', '=', before.time), eb('id', '>=', before.id)])));
  }
  const rows = await query
    .orderBy('time', 'desc')
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  const events = rows.slice(0, limit);
  const last = events.at(-1);
  return { events, next: rows.length > limit && last ? { time: last.time, id: last.id } : null };
}
