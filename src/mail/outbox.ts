/**
 * The `mail_outbox` table: only this module reads or writes it. A mail is a row before it is sent, so
 * what causes a mail writes it in its own transaction, and the mail is neither lost when the SMTP
 * server is down or the process stops, nor sent when that transaction rolls back.
 *
 * A row is sent by whoever holds its lease: a random value and an expiry written by one conditional
 * UPDATE, as the session refresh lease does (src/sessions/refresh-lease.ts), so across instances a
 * row has one sender at a time, and every later write of that sender names the lease and fails once
 * another has taken it over.
 */
import { randomBytes } from 'node:crypto';
import { PostgresAdapter, sql } from 'kysely';
import { normalizeEmail } from '../accounts/email.ts';
import type { Db } from '../db/index.ts';
import type { OutboxRow } from '../db/schema.ts';
import { sha256Base64url } from '../digest.ts';

export interface NewMail {
  /** What it is (src/mail/kinds.ts). */
  kind: string;
  /** The address as entered; '' for a row that is not a mail yet (a password reset request). */
  recipient: string;
  userId?: number | null;
  /** Context for the audit log (an address, a browser); never a secret. */
  data?: Readonly<Record<string, string>>;
}

/** The right to send one row, held until `until`. */
export interface Lease {
  readonly id: number;
  readonly token: string;
  readonly until: number;
}

const ERROR_LENGTH = 500;

function row(mail: NewMail, now: number) {
  return {
    kind: mail.kind,
    recipient: mail.recipient,
    recipient_key: normalizeEmail(mail.recipient),
    user_id: mail.userId ?? null,
    data: JSON.stringify(mail.data ?? {}),
    message_id: randomBytes(18).toString('base64url'),
    created: now,
    next_attempt: now,
  };
}

/**
 * Adds a row to resolve now, in one INSERT: a request that is not a mail yet, whose mails
 * (enqueueLimitedMail) are worked out by the sender, outside the request that asked.
 *
 * @example
 * await enqueueRequest(db, { kind: 'password_reset_request', recipient: '', data: { email, ip } });
 */
export async function enqueueRequest(db: Db, request: NewMail, now = Date.now()): Promise<void> {
  await db.insertInto('mail_outbox').values(row(request, now)).execute();
}

/** At most this many mails to one address in any hour, whatever their kind: a flood of requests can't make a mail bomb. */
export const MAILS_PER_ADDRESS_PER_HOUR = 5;
const HOUR_MS = 60 * 60 * 1000;

/**
 * In a transaction: adds a mail unless its address already got MAILS_PER_ADDRESS_PER_HOUR in the
 * last hour (sent, waiting or given up); then the row is written all the same, as dropped. Both ways
 * cost the same statements, so the time an answer takes tells nothing of the limit. It first waits
 * until no other transaction is adding mail to this address (PostgreSQL: a transaction-scoped
 * advisory lock on it; SQLite's write transactions already take turns), so the limit holds however
 * many instances add mail at once. Returns whether the mail will be sent.
 *
 * @example
 * const queued = await db.transaction().execute((trx) => enqueueLimitedMail(trx, { kind: 'email_verification', recipient, userId }));
 */
export async function enqueueLimitedMail(trx: Db, mail: NewMail, now = Date.now()): Promise<boolean> {
  if (!trx.isTransaction) throw new TypeError('enqueueLimitedMail: call it inside db.transaction()');
  const key = normalizeEmail(mail.recipient);
  if (trx.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`select pg_advisory_xact_lock(${advisoryKey(key)})`.execute(trx);
  }
  const found = await trx.selectFrom('mail_outbox').select((eb) => eb.fn.countAll<number>().as('n'))
    .where('recipient_key', '=', key).where('created', '>', now - HOUR_MS).where('state', '!=', 'dropped')
    .executeTakeFirstOrThrow();
  const allowed = Number(found.n) < MAILS_PER_ADDRESS_PER_HOUR;
  await trx.insertInto('mail_outbox')
    .values({ ...row(mail, now), ...(allowed ? {} : { state: 'dropped', done: now, last_error: 'RATE_LIMITED' }) })
    .execute();
  return allowed;
}

/** A 64-bit lock key for an address, as pg_advisory_xact_lock takes it (a signed bigint, as text). */
function advisoryKey(key: string): string {
  return Buffer.from(sha256Base64url(`oidc-connect mail ${key}`), 'base64url').readBigInt64BE(0).toString();
}

/** Rows due to be sent now and not leased, oldest due first. */
export async function dueMails(db: Db, limit: number, now = Date.now()): Promise<OutboxRow[]> {
  return db.selectFrom('mail_outbox').selectAll()
    .where('state', '=', 'pending').where('next_attempt', '<=', now)
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
    .orderBy('next_attempt').orderBy('id').limit(limit).execute();
}

/**
 * When the next pending row may be taken: its next attempt, or if later the end of the lease another
 * sender holds on it. Maybe in the past; undefined when no row is pending.
 */
export async function nextDue(db: Db): Promise<number | undefined> {
  const free = sql<number>`case when lease_until is not null and lease_until > next_attempt then lease_until else next_attempt end`;
  const found = await db.selectFrom('mail_outbox').select((eb) => eb.fn.min(free).as('at'))
    .where('state', '=', 'pending').executeTakeFirst();
  return found?.at === null || found?.at === undefined ? undefined : Number(found.at);
}

/** Takes the row's lease for `leaseMs` and counts the attempt; null when it is sent, gone, or leased by another. */
export async function claimMail(db: Db, id: number, leaseMs: number, now = Date.now()): Promise<Lease | null> {
  const lease = { id, token: randomBytes(16).toString('base64url'), until: now + leaseMs };
  const claimed = await db.updateTable('mail_outbox')
    .set((eb) => ({ lease: lease.token, lease_until: lease.until, attempts: eb('attempts', '+', 1) }))
    .where('id', '=', id).where('state', '=', 'pending')
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
    .executeTakeFirst();
  return Number(claimed.numUpdatedRows) === 1 ? lease : null;
}

/** The row leaves `pending` for good; false when the lease was no longer ours (another sender took it over). */
export async function finishMail(db: Db, lease: Lease, state: 'sent' | 'failed' | 'dropped', error = '', now = Date.now()): Promise<boolean> {
  const done = await db.updateTable('mail_outbox')
    .set({ state, done: now, lease: null, lease_until: null, last_error: error.slice(0, ERROR_LENGTH) })
    .where('id', '=', lease.id).where('lease', '=', lease.token).executeTakeFirst();
  return Number(done.numUpdatedRows) === 1;
}

/** Gives the row back to be tried again at `at`, noting why this attempt failed. */
export async function retryMail(db: Db, lease: Lease, at: number, error: string): Promise<boolean> {
  const done = await db.updateTable('mail_outbox')
    .set({ next_attempt: at, lease: null, lease_until: null, last_error: error.slice(0, ERROR_LENGTH) })
    .where('id', '=', lease.id).where('lease', '=', lease.token).executeTakeFirst();
  return Number(done.numUpdatedRows) === 1;
}

/** Deletes a leased row (a request once resolved into mails); false when the lease was no longer ours. */
export async function removeMail(db: Db, lease: Lease): Promise<boolean> {
  const deleted = await db.deleteFrom('mail_outbox').where('id', '=', lease.id).where('lease', '=', lease.token).executeTakeFirst();
  return Number(deleted.numDeletedRows) === 1;
}

/**
 * How many rows wait to be sent: the outbox's depth, for monitoring (a growing depth means the SMTP
 * server refuses or is unreachable). One count over the (state, next_attempt) index.
 */
export async function outboxDepth(db: Db): Promise<number> {
  const found = await db.selectFrom('mail_outbox').select((eb) => eb.fn.countAll<number>().as('n'))
    .where('state', '=', 'pending').executeTakeFirstOrThrow();
  return Number(found.n);
}

/** A day: how long sent and given-up rows are kept (the per-address limit counts the last hour of them). */
export const KEEP_DONE_MS = 24 * 60 * 60 * 1000;

/** Deletes rows that left `pending` more than a day ago; the housekeeping sweep runs it. */
export async function pruneOutbox(db: Db, now = Date.now()): Promise<number> {
  const result = await db.deleteFrom('mail_outbox').where('done', '<', now - KEEP_DONE_MS).executeTakeFirst();
  return Number(result.numDeletedRows);
}
