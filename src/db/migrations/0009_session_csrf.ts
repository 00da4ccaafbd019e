import type { Kysely } from 'kysely';

/**
 * sessions.csrf: the session's anti-forgery token, made with it (src/sessions/index.ts) and put in
 * the forms of its pages as it is (src/web/protection/csrf.ts). Sessions from before have none; their
 * forms use the double-submit cookie, as every form did.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('sessions').addColumn('csrf', 'varchar(64)').execute();
}
