import type { Kysely } from 'kysely';

/**
 * The session a silent (prompt=none) renewal confirms: its login_required answer ends that session
 * and no other, and no flow without one is ever sent with prompt=none.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('oidc_flows').addColumn('renews_session', 'text').execute();
}
