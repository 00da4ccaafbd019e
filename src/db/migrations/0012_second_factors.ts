import type { Kysely } from 'kysely';
import type { Dialect } from './0001_init.ts';

/**
 * Second factors (src/mfa/, which owns the mfa_ tables), and what sign-in records of them.
 *
 * - mfa_totp: one authenticator app per user; its secret sealed (src/sealed.ts), and the last time
 *   step a code was accepted for, so that a code works once.
 * - mfa_recovery_codes: ten per set, each stored as the SHA-256 of the code; `used` once spent.
 * - mfa_webauthn: passkeys, several per user, each named; the credential id is unique.
 * - mfa_pending: a sign-in between its password and its second factor, bound to one browser.
 * - mfa_used_challenges: passkey sign-in challenges already answered, until they would expire anyway.
 *
 * sessions.amr and .acr: how the session's sign-in was made (RFC 8176 values, space-separated, and
 * the provider's acr), which the admin's multi-factor rule reads. Sessions from before have '' and null.
 * oidc_flows.acr_values and .max_age: what a step-up sign-in asked the provider for.
 */
export async function up(db: Kysely<unknown>, d: Dialect): Promise<void> {
  await db.schema
    .createTable('mfa_totp')
    .addColumn('user_id', 'integer', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('last_step', d.millis, (c) => c.notNull())
    .addColumn('created', d.millis, (c) => c.notNull())
    .addColumn('last_used', d.millis)
    .execute();

  await db.schema
    .createTable('mfa_recovery_codes')
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('code_hash', 'varchar(64)', (c) => c.notNull())
    .addColumn('created', d.millis, (c) => c.notNull())
    .addColumn('used', d.millis)
    .addPrimaryKeyConstraint('mfa_recovery_codes_pk', ['user_id', 'code_hash'])
    .execute();

  await db.schema
    .createTable('mfa_webauthn')
    .addColumn('id', d.autoId, (c) => c.primaryKey().$call((b) => (d.autoId === 'integer' ? b.autoIncrement() : b)))
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('name', 'varchar(100)', (c) => c.notNull())
    .addColumn('credential_id', 'varchar(1400)', (c) => c.notNull().unique())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('counter', d.millis, (c) => c.notNull())
    .addColumn('transports', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('user_handle', 'varchar(128)', (c) => c.notNull())
    .addColumn('backed_up', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created', d.millis, (c) => c.notNull())
    .addColumn('last_used', d.millis)
    .execute();
  await db.schema.createIndex('mfa_webauthn_user_id').on('mfa_webauthn').column('user_id').execute();

  await db.schema
    .createTable('mfa_pending')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('next', 'text', (c) => c.notNull())
    .addColumn('created', d.millis, (c) => c.notNull())
    .addColumn('expires', d.millis, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('mfa_pending_expires').on('mfa_pending').column('expires').execute();
  await db.schema.createIndex('mfa_pending_user_id').on('mfa_pending').column('user_id').execute();

  await db.schema
    .createTable('mfa_used_challenges')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('expires', d.millis, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('mfa_used_challenges_expires').on('mfa_used_challenges').column('expires').execute();

  await db.schema.alterTable('sessions').addColumn('amr', 'varchar(255)', (c) => c.notNull().defaultTo('')).execute();
  await db.schema.alterTable('sessions').addColumn('acr', 'varchar(255)').execute();
  await db.schema.alterTable('oidc_flows').addColumn('acr_values', 'varchar(1024)').execute();
  await db.schema.alterTable('oidc_flows').addColumn('max_age', 'integer').execute();
}
