import { sql, type Kysely } from 'kysely';
import type { Dialect } from './0001_init.ts';

/**
 * The enterprise lifecycle (SCIM 2.0, groups to roles; src/scim/, src/accounts/roles.ts):
 * - users.source: how the account came to be ('local', 'provider', 'scim'), shown in the admin;
 * - users.external_id: the provider's id of a SCIM user (unique when set), compared with the
 *   SCIM_MATCH_CLAIM claim at their first provider sign-in;
 * - users.nick_name, display_name: SCIM attributes with no Django column;
 * - users.deleted: when a SCIM DELETE removed the account (it stays, inactive, for the audit trail);
 * - users.modified: SCIM's meta.lastModified and version (existing rows start at date_joined);
 * - users.rule_roles: the roles ROLE_RULES gave from the user's groups, as a JSON array, so a request
 *   reads them with the user and a flag set by a rule is known apart from one set by hand;
 * - groups.external_id, created, modified: SCIM's Group attributes.
 * Universal Logout's jti replay cache is logout_tokens (0002), shared with back-channel logout.
 */
export async function up(db: Kysely<unknown>, d: Dialect): Promise<void> {
  await db.schema.alterTable('users').addColumn('source', 'varchar(16)', (c) => c.notNull().defaultTo('local')).execute();
  await db.schema.alterTable('users').addColumn('external_id', 'varchar(255)').execute();
  await db.schema.alterTable('users').addColumn('nick_name', 'varchar(150)', (c) => c.notNull().defaultTo('')).execute();
  await db.schema.alterTable('users').addColumn('display_name', 'varchar(255)', (c) => c.notNull().defaultTo('')).execute();
  await db.schema.alterTable('users').addColumn('deleted', d.millis).execute();
  await db.schema.alterTable('users').addColumn('modified', d.millis, (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('users').addColumn('rule_roles', 'text', (c) => c.notNull().defaultTo('[]')).execute();
  await sql`update users set modified = date_joined`.execute(db);
  // Users who only sign in through a provider came from one.
  await sql`update users set source = 'provider' where password is null and exists (select 1 from identities where identities.user_id = users.id)`.execute(db);
  // Several NULLs are allowed by a unique index on both databases.
  await db.schema.createIndex('users_external_id').on('users').column('external_id').unique().execute();

  await db.schema.alterTable('groups').addColumn('external_id', 'varchar(255)').execute();
  await db.schema.alterTable('groups').addColumn('created', d.millis, (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('groups').addColumn('modified', d.millis, (c) => c.notNull().defaultTo(0)).execute();
}
