import { sql, type Kysely } from 'kysely';

/** Types that differ by dialect; everything else is portable through Kysely's schema builder. */
export interface Dialect {
  autoId: 'integer' | 'serial';
  millis: 'integer' | 'bigint';
}

export async function up(db: Kysely<unknown>, d: Dialect): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', d.autoId, (c) => c.primaryKey().$call((b) => (d.autoId === 'integer' ? b.autoIncrement() : b)))
    .addColumn('username', 'varchar(150)', (c) => c.notNull().unique())
    .addColumn('email', 'varchar(254)', (c) => c.notNull().defaultTo(''))
    .addColumn('first_name', 'varchar(150)', (c) => c.notNull().defaultTo(''))
    .addColumn('last_name', 'varchar(150)', (c) => c.notNull().defaultTo(''))
    .addColumn('password', 'text')
    .addColumn('is_active', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('is_staff', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('is_superuser', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_login', d.millis)
    .addColumn('date_joined', d.millis, (c) => c.notNull())
    .execute();
  // Lower-cased email: provisioning links by email, the admin searches by it.
  await db.schema.createIndex('users_email_lower').on('users').expression(sql`lower(email)`).execute();

  await db.schema
    .createTable('sessions')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created', d.millis, (c) => c.notNull())
    .addColumn('expires', d.millis, (c) => c.notNull())
    .addColumn('last_seen', d.millis, (c) => c.notNull())
    .addColumn('provider', 'varchar(100)')
    .addColumn('provider_sid', 'varchar(255)')
    .addColumn('user_agent', 'varchar(512)', (c) => c.notNull().defaultTo(''))
    .addColumn('ip', 'varchar(64)', (c) => c.notNull().defaultTo(''))
    .addColumn('data', 'text', (c) => c.notNull().defaultTo('{}'))
    .execute();
  await db.schema.createIndex('sessions_user_id').on('sessions').column('user_id').execute();
  await db.schema.createIndex('sessions_expires').on('sessions').column('expires').execute();
  await db.schema.createIndex('sessions_provider_sid').on('sessions').columns(['provider', 'provider_sid']).execute();

  await db.schema
    .createTable('identities')
    .addColumn('id', d.autoId, (c) => c.primaryKey().$call((b) => (d.autoId === 'integer' ? b.autoIncrement() : b)))
    .addColumn('issuer', 'varchar(255)', (c) => c.notNull())
    .addColumn('subject', 'varchar(255)', (c) => c.notNull())
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created', d.millis, (c) => c.notNull())
    .addColumn('last_login', d.millis, (c) => c.notNull())
    .addUniqueConstraint('identities_issuer_subject', ['issuer', 'subject'])
    .execute();
  await db.schema.createIndex('identities_user_id').on('identities').column('user_id').execute();

  await db.schema
    .createTable('login_failures')
    .addColumn('username', 'varchar(150)', (c) => c.primaryKey())
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('window_start', d.millis, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('oidc_flows')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('provider', 'varchar(100)', (c) => c.notNull())
    .addColumn('binding', 'varchar(64)', (c) => c.notNull())
    .addColumn('code_verifier', 'varchar(128)', (c) => c.notNull())
    .addColumn('nonce', 'varchar(128)', (c) => c.notNull())
    .addColumn('next', 'text', (c) => c.notNull())
    .addColumn('prompt_none', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('expires', d.millis, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('oidc_flows_expires').on('oidc_flows').column('expires').execute();
}
