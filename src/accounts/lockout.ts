import type { Db } from '../db/index.ts';

export interface LockoutPolicy {
  maxFailures: number;
  windowSeconds: number;
}

/**
 * Counts failed local logins per username in the database, so every instance sees the same
 * count. A window starts at the first failure; after it passes the count starts again.
 */
export async function isLockedOut(db: Db, policy: LockoutPolicy, username: string, now = Date.now()): Promise<boolean> {
  const row = await db
    .selectFrom('login_failures')
    .select(['failures', 'window_start'])
    .where('username', '=', username.toLowerCase())
    .executeTakeFirst();
  return row !== undefined && row.failures >= policy.maxFailures && now - row.window_start < policy.windowSeconds * 1000;
}

export async function recordFailure(db: Db, policy: LockoutPolicy, username: string, now = Date.now()): Promise<void> {
  const windowOpen = now - policy.windowSeconds * 1000;
  // One atomic upsert: concurrent failures on several instances can't lose a count.
  await db
    .insertInto('login_failures')
    .values({ username: username.toLowerCase(), failures: 1, window_start: now })
    .onConflict((oc) =>
      oc.column('username').doUpdateSet((eb) => ({
        failures: eb.case().when('login_failures.window_start', '<=', windowOpen).then(1)
          .else(eb('login_failures.failures', '+', 1)).end(),
        window_start: eb.case().when('login_failures.window_start', '<=', windowOpen).then(now)
          .else(eb.ref('login_failures.window_start')).end(),
      })),
    )
    .execute();
}

export async function clearFailures(db: Db, username: string): Promise<void> {
  await db.deleteFrom('login_failures').where('username', '=', username.toLowerCase()).execute();
}

/** Deletes counts whose window has passed: they lock nothing, and unknown usernames would pile up. */
export async function pruneLoginFailures(db: Db, policy: LockoutPolicy, now = Date.now()): Promise<number> {
  const result = await db.deleteFrom('login_failures').where('window_start', '<=', now - policy.windowSeconds * 1000).executeTakeFirst();
  return Number(result.numDeletedRows);
}
