import type { Kysely } from 'kysely';
import type { Dialect } from './0001_init.ts';

/**
 * What `import-django` brings besides the users themselves (see src/accounts/django-import-store.ts):
 * - groups and user_groups: Django's auth_group names and memberships, for the admin and for
 *   group checks on local users;
 * - django_users: which Django user (auth_user.id) each imported account came from, so a re-import
 *   updates the same account even after the user changed username or email in Django, and never
 *   merges two Django users into one here.
 * Imported password hashes need no column: they are stored as `django$<Django's hash>`.
 */
export async function up(db: Kysely<unknown>, d: Dialect): Promise<void> {
  await db.schema
    .createTable('groups')
    .addColumn('id', d.autoId, (c) => c.primaryKey().$call((b) => (d.autoId === 'integer' ? b.autoIncrement() : b)))
    .addColumn('name', 'varchar(150)', (c) => c.notNull().unique())
    .execute();

  await db.schema
    .createTable('user_groups')
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('group_id', 'integer', (c) => c.notNull().references('groups.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('user_groups_pk', ['user_id', 'group_id'])
    .execute();
  await db.schema.createIndex('user_groups_group_id').on('user_groups').column('group_id').execute();

  await db.schema
    .createTable('django_users')
    .addColumn('django_id', 'integer', (c) => c.primaryKey())
    .addColumn('user_id', 'integer', (c) => c.notNull().unique().references('users.id').onDelete('cascade'))
    .addColumn('imported', d.millis, (c) => c.notNull())
    .execute();
}
