import type { Db } from '../../src/db/index.ts';

export type CountedTable = 'users' | 'identities' | 'sessions' | 'oidc_flows' | 'login_failures';

export async function rowCount(db: Db, table: CountedTable): Promise<number> {
  const row = await db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** What a sign-in writes; a refused one must leave all three as they were. */
export async function signInRows(db: Db): Promise<{ users: number; identities: number; sessions: number }> {
  return { users: await rowCount(db, 'users'), identities: await rowCount(db, 'identities'), sessions: await rowCount(db, 'sessions') };
}
