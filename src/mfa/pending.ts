/**
 * A sign-in between its password and its second factor (mfa_pending, owned here). It grants nothing:
 * no session exists yet. The browser holds a random secret (a cookie, set by web/); the row is keyed
 * by its hash, lives 5 minutes, and is taken once, when the second factor is right.
 */
import { randomBytes } from 'node:crypto';
import type { Db } from '../db/index.ts';
import { sha256Base64url } from '../digest.ts';

export const PENDING_LIFETIME_MS = 5 * 60 * 1000;

export interface PendingSignIn {
  userId: number;
  /** Where the sign-in goes once done (already checked to be a path of this site). */
  next: string;
  expires: number;
}

/** A secret that can be one of ours: 32 random bytes, base64url. */
const SECRET = /^[\w-]{43}$/;

/**
 * Starts the second step of a user's sign-in; returns the browser's secret. Any step of this browser
 * still open (`previous`, its old secret) ends, so each browser has one at most.
 */
export async function startPendingSignIn(db: Db, input: { userId: number; next: string; previous?: string }, now = Date.now()): Promise<string> {
  const secret = randomBytes(32).toString('base64url');
  await db.transaction().execute(async (trx) => {
    if (input.previous !== undefined && SECRET.test(input.previous)) {
      await trx.deleteFrom('mfa_pending').where('id', '=', sha256Base64url(input.previous)).execute();
    }
    await trx.insertInto('mfa_pending').values({
      id: sha256Base64url(secret), user_id: input.userId, next: input.next, created: now, expires: now + PENDING_LIFETIME_MS,
    }).execute();
  });
  return secret;
}

/** The live step for a browser's secret, or undefined (missing, expired, not one of ours). */
export async function findPendingSignIn(db: Db, secret: string | undefined, now = Date.now()): Promise<PendingSignIn | undefined> {
  if (secret === undefined || !SECRET.test(secret)) return undefined;
  const row = await db.selectFrom('mfa_pending').select(['user_id', 'next', 'expires']).where('id', '=', sha256Base64url(secret)).executeTakeFirst();
  if (!row || row.expires <= now) return undefined;
  return { userId: row.user_id, next: row.next, expires: row.expires };
}

/** Takes the step: the first caller gets it, a second (a double submit, a replay) gets undefined. */
export async function takePendingSignIn(db: Db, secret: string, now = Date.now()): Promise<PendingSignIn | undefined> {
  if (!SECRET.test(secret)) return undefined;
  const row = await db.deleteFrom('mfa_pending').where('id', '=', sha256Base64url(secret)).returning(['user_id', 'next', 'expires']).executeTakeFirst();
  if (!row || row.expires <= now) return undefined;
  return { userId: row.user_id, next: row.next, expires: row.expires };
}

export async function cancelPendingSignIn(db: Db, secret: string): Promise<void> {
  if (SECRET.test(secret)) await db.deleteFrom('mfa_pending').where('id', '=', sha256Base64url(secret)).execute();
}

/** Deletes abandoned steps (housekeeping); returns how many went. */
export async function prunePendingSignIns(db: Db, now = Date.now()): Promise<number> {
  const result = await db.deleteFrom('mfa_pending').where('expires', '<=', now).executeTakeFirst();
  return Number(result.numDeletedRows);
}
