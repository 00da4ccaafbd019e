import type { Kysely } from 'kysely';
import type { Dialect } from './0001_init.ts';

/**
 * Protocol depth (issue 23). session_tokens: the access tokens a session obtained for other APIs by
 * token exchange (RFC 8693), one per audience and scope, sealed; they go with their session.
 */
export async function up(db: Kysely<unknown>, d: Dialect): Promise<void> {
  await db.schema
    .createTable('session_tokens')
    .addColumn('session_id', 'varchar(64)', (c) => c.notNull().references('sessions.id').onDelete('cascade'))
    // base64url SHA-256 of `${audience}\n${scope}`: a fixed width whatever the audience looks like.
    .addColumn('audience_key', 'varchar(64)', (c) => c.notNull())
    .addColumn('sealed', 'text', (c) => c.notNull())
    .addColumn('expires', d.millis, (c) => c.notNull())
    .addPrimaryKeyConstraint('session_tokens_pk', ['session_id', 'audience_key'])
    .execute();
  await db.schema.createIndex('session_tokens_expires').on('session_tokens').column('expires').execute();
}
