import type { Kysely } from 'kysely';
import type { Dialect } from './0001_init.ts';

/**
 * Back-channel logout replay cache: one row per logout token accepted, keyed by a hash of
 * (issuer, jti), kept until the token could no longer pass the time checks. It lives in the
 * database so that a token replayed to another instance is refused too.
 */
export async function up(db: Kysely<unknown>, d: Dialect): Promise<void> {
  await db.schema
    .createTable('logout_tokens')
    // base64url SHA-256 of `${iss}\n${jti}`: a fixed width whatever the provider's jti looks like.
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('provider', 'varchar(100)', (c) => c.notNull())
    .addColumn('expires', d.millis, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('logout_tokens_expires').on('logout_tokens').column('expires').execute();
}
