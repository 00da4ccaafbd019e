import type { Db } from '../db/index.ts';
import { OidcConnectError } from '../errors.ts';

export interface LockoutPolicy {
  maxFailures: number;
  windowSeconds: number;
}

/**
 * Counts password attempts per username in the database, so every instance sees the same count. The
 * key is the username exactly as the login form looks it up (usernames are case-sensitive, as in
 * Django): `Alice` and `alice` are two accounts with two counts. Counts written before this rule, under
 * lower-cased keys, end with their window (15 minutes by default), so they needed no migration. A
 * window starts at the first attempt; after it passes the count starts again. A successful check
 * clears the count, so what it holds is the attempts not (yet) known to be right.
 *
 * The attempt is counted before its password is checked, in one atomic upsert that returns the new
 * count: concurrent attempts, on one instance or on several sharing PostgreSQL, each get their own
 * number, so at most `maxFailures` passwords are checked per window however many arrive at once.
 * Returns true when this attempt may be checked, false when the username is locked.
 */
export async function reserveAttempt(db: Db, policy: LockoutPolicy, username: string, now = Date.now()): Promise<boolean> {
  const windowOpen = now - policy.windowSeconds * 1000;
  const row = await db
    .insertInto('login_failures')
    .values({ username, failures: 1, window_start: now })
    .onConflict((oc) =>
      oc.column('username').doUpdateSet((eb) => ({
        failures: eb.case().when('login_failures.window_start', '<=', windowOpen).then(1)
          .else(eb('login_failures.failures', '+', 1)).end(),
        window_start: eb.case().when('login_failures.window_start', '<=', windowOpen).then(now)
          .else(eb.ref('login_failures.window_start')).end(),
      })),
    )
    .returning('failures')
    .executeTakeFirstOrThrow();
  return row.failures <= policy.maxFailures;
}

/**
 * The key that counts a user's wrong second-factor codes, apart from their password's: a right
 * password clears its own count, and must not clear this one, or each right password would buy
 * another round of code guesses. No username has a colon (src/accounts/users.ts), so none can share it.
 */
export function secondFactorKey(userId: number): string {
  return `mfa:${userId}`;
}

/** The answer to a locked key: TOO_MANY_ATTEMPTS, with how long to wait. */
export function lockedOut(policy: LockoutPolicy): OidcConnectError {
  return new OidcConnectError('TOO_MANY_ATTEMPTS',
    `Too many failed sign-in attempts for this account. Wait ${Math.ceil(policy.windowSeconds / 60)} minutes, then try again.`,
    { retryAfterSeconds: policy.windowSeconds });
}

export async function clearFailures(db: Db, username: string): Promise<void> {
  await db.deleteFrom('login_failures').where('username', '=', username).execute();
}

/** Deletes counts whose window has passed: they lock nothing, and unknown usernames would pile up. */
export async function pruneLoginFailures(db: Db, policy: LockoutPolicy, now = Date.now()): Promise<number> {
  const result = await db.deleteFrom('login_failures').where('window_start', '<=', now - policy.windowSeconds * 1000).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * Keys locked now (a username's password attempts or a user's second-factor codes, see
 * secondFactorKey): more attempts than `maxFailures` within a window that has not passed. For metrics.
 */
export async function lockedCount(db: Db, policy: LockoutPolicy, now = Date.now()): Promise<number> {
  const found = await db.selectFrom('login_failures').select((eb) => eb.fn.countAll<number>().as('n'))
    .where('failures', '>', policy.maxFailures).where('window_start', '>', now - policy.windowSeconds * 1000)
    .executeTakeFirstOrThrow();
  return Number(found.n);
}
