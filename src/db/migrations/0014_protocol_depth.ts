import type { Kysely } from 'kysely';
import type { Dialect } from './0001_init.ts';

/**
 * Protocol depth (issue 23). session_tokens: the access tokens a session obtained for other APIs by
 * token exchange (RFC 8693), one per audience and scope, sealed; they go with their session.
 * oidc_flows.dpop_key: with OIDC_DPOP, the sign-in's own DPoP key (sealed), which becomes its
 * session's. dpop_proofs: the DPoP proofs our API accepted (RFC 9449 §11.1), so that one replayed to
 * any instance is refused; kept until they would be too old anyway.
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

  await db.schema.alterTable('oidc_flows').addColumn('dpop_key', 'text').execute();

  await db.schema
    .createTable('dpop_proofs')
    // base64url SHA-256 of `${jkt}\n${jti}`: a jti is unique per key, and the width is fixed.
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('expires', d.millis, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('dpop_proofs_expires').on('dpop_proofs').column('expires').execute();
}
