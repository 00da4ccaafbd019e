import type { Kysely } from 'kysely';
import type { Dialect } from './0001_init.ts';

/** A lease on a session's refresh token, so only one instance refreshes it at a time. */
export async function up(db: Kysely<unknown>, d: Dialect): Promise<void> {
  await db.schema.alterTable('sessions').addColumn('refresh_lock', d.millis).execute();
}
