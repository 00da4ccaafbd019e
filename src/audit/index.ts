/**
 * The audit log: one row per sign-in event, so staff can answer "who signed in, how, and what
 * failed" from /admin/ instead of a SQL shell.
 *
 * What is stored: the event type, the method ('local' or a provider id), a stable error code from
 * src/errors.ts for failures, the user (id and username) when known, the time, the client's IP and
 * user agent, and for admin actions who acted and what they did. What is never stored: passwords,
 * tokens, cookies, codes, claims. Callers pass only the fields below; there is no free-form
 * "payload" that a secret could slip into.
 *
 * Every sign-in attempt that names an account or a login in progress is a row of its own. Failures
 * that name neither, which anyone can send at any rate, are counted instead (countAnonymousFailure):
 * one row per minute, address, type, method and error code, so a flood adds rows at the pace of
 * the clock, not of the flood, and the dashboard, which sums the counts, still shows all of it.
 */
import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import { preparedInsert } from '../db/prepared.ts';
import type { ErrorCode } from '../errors.ts';

export const AUDIT_EVENT_TYPES = [
  'login_success',
  'login_failure',
  'logout',
  'backchannel_logout',
  'password_change',
  'admin_action',
  'password_reset_request',
  'password_reset',
  'email_change',
  'email_verified',
  'session_end',
  'mail_failed',
  // A second factor added, removed or reset by its user (src/mfa/); its detail says which.
  'second_factor',
  'provisioning',
  'universal_logout',
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** The admin actions, as stored in the `action` column. */
export const ADMIN_ACTIONS = [
  'deactivate',
  'reactivate',
  'end_session',
  'end_all_sessions',
  'unlink_identity',
  'set_password',
  'grant_staff',
  'revoke_staff',
  'set_email',
  'remove_factors',
] as const;

export type AdminAction = (typeof ADMIN_ACTIONS)[number];

export interface AuditEvent {
  type: AuditEventType;
  /** 'local' for the username/password form, 'passkey' for a passkey alone, else the provider id. */
  method?: string;
  /** Set for failures only. */
  errorCode?: ErrorCode | null;
  userId?: number | null;
  /**
   * The account's username, or for a failed local login the username typed. A value that can't
   * be a username (see `auditUsername`) is not stored, since it may be a password typed into the
   * wrong field.
   */
  username?: string;
  /** For admin actions: the staff user who acted (userId is the account acted on). */
  actorId?: number | null;
  action?: AdminAction;
  /** Short, non-secret context, e.g. "2 sessions ended". */
  detail?: string;
  ip?: string;
  userAgent?: string;
  /** Epoch ms; default now. */
  time?: number;
}

export const isAuditEventType = (value: unknown): value is AuditEventType =>
  typeof value === 'string' && (AUDIT_EVENT_TYPES as readonly string[]).includes(value);

/** Django's username rule, as src/accounts/users.ts checks it. */
const USERNAME = /^[\w.@+-]{1,150}$/;

/**
 * What the log keeps of a typed username: the value itself when it could be a username, else ''.
 * People sometimes type their password into the username field; passwords with a space or a
 * symbol such as ! # $ % & * ? are then not written down. (One made only of letters, digits and
 * @ . + - _ is indistinguishable from a username; the length cap still applies.)
 */
export function auditUsername(value: string): string {
  return USERNAME.test(value) ? value : '';
}

// Control characters (CR, LF, ESC…) could forge lines when the log is exported or printed.
const clean = (value: string | undefined, max: number): string =>
  (value ?? '').replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, max);

/** Writes one event. Throws when the database does; see `src/web/audit.ts` for the never-failing variant. */
export async function recordEvent(db: Db, event: AuditEvent): Promise<void> {
  await insertEvent(db, {
    time: event.time ?? Date.now(),
    type: event.type,
    method: clean(event.method, 100),
    error_code: event.errorCode ?? null,
    user_id: event.userId ?? null,
    username: auditUsername(event.username ?? ''),
    actor_id: event.actorId ?? null,
    action: event.action ?? '',
    detail: clean(event.detail, 255),
    ip: clean(event.ip, 64),
    user_agent: clean(event.userAgent, 512),
  });
}

/** Every sign-in runs it: compiled once (see src/db/prepared.ts). */
const insertEvent = preparedInsert('audit_log', [
  'time', 'type', 'method', 'error_code', 'user_id', 'username', 'actor_id', 'action', 'detail', 'ip', 'user_agent',
]);

export interface AnonymousFailure {
  type: AuditEventType;
  method?: string;
  errorCode: ErrorCode;
  /** The client's address; a network (an IPv6 /64) counts as one. */
  ip?: string;
  /** Kept from the minute's first request. */
  userAgent?: string;
  /** Epoch ms; default now. */
  time?: number;
}

const MINUTE_MS = 60_000;

/**
 * Counts a failure that names no account and no login in progress (a callback whose state is
 * unknown, a back-channel POST with a bad token, a form refused by a per-address limit): one upsert
 * into the row of its minute, address, type, method and code.
 */
export async function countAnonymousFailure(db: Db, failure: AnonymousFailure): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      time: Math.floor((failure.time ?? Date.now()) / MINUTE_MS) * MINUTE_MS,
      type: failure.type,
      method: clean(failure.method, 100),
      error_code: failure.errorCode,
      user_id: null,
      actor_id: null,
      ip: clean(failure.ip, 64),
      user_agent: clean(failure.userAgent, 512),
      grouped: 1,
    })
    // The partial unique index of grouped rows (0008); its predicate is spelled as the index has it.
    .onConflict((oc) => oc.columns(['time', 'ip', 'type', 'method', 'error_code']).where(sql<boolean>`grouped = 1`)
      .doUpdateSet((eb) => ({ count: eb('audit_log.count', '+', 1) })))
    .execute();
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Deletes events older than the retention; 0 days keeps everything. Returns how many went. */
export async function pruneAuditLog(db: Db, retentionDays: number, now = Date.now()): Promise<number> {
  if (retentionDays <= 0) return 0;
  const result = await db.deleteFrom('audit_log').where('time', '<', now - retentionDays * DAY_MS).executeTakeFirst();
  return Number(result.numDeletedRows);
}
