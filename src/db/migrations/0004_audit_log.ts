import { sql, type Kysely } from 'kysely';
import type { Dialect } from './0001_init.ts';

/**
 * The audit log of sign-in events (see src/audit/), and the indexes the admin pages read through.
 *
 * audit_log indexes, one per question the admin asks:
 * - (type, time, method, error_code): the dashboard's aggregates ("successes per day and method",
 *   "failures per error code", both over the last 30 days) are index-only range scans; the table
 *   itself is never read for them.
 * - (time): the newest events first, keyset-paged; and retention pruning (`time < cutoff`).
 * - (user_id, time): one user's events, on their detail page and the log filtered by user.
 * There is no foreign key to users on purpose: the log outlives the accounts it mentions.
 *
 * users: case-insensitive prefix search and alphabetical keyset paging of the admin's users list
 * (src/accounts/user-list.ts) need indexes on lower(username) and lower(email) in *byte* order, so that
 * the prefix p is exactly the range [p, p + U+10FFFF). SQLite's default collation already is byte
 * order (0001 made users_email_lower); PostgreSQL's default collation usually is a locale, so
 * there the indexes are built with COLLATE "C" and the queries say the same.
 */
export async function up(db: Kysely<unknown>, d: Dialect): Promise<void> {
  await db.schema
    .createTable('audit_log')
    .addColumn('id', d.autoId, (c) => c.primaryKey().$call((b) => (d.autoId === 'integer' ? b.autoIncrement() : b)))
    .addColumn('time', d.millis, (c) => c.notNull())
    .addColumn('type', 'varchar(32)', (c) => c.notNull())
    // 'local', a provider id, or '' when no sign-in method applies (admin actions).
    .addColumn('method', 'varchar(100)', (c) => c.notNull().defaultTo(''))
    // A stable code from src/errors.ts when the event is a failure; null for a success.
    .addColumn('error_code', 'varchar(64)')
    .addColumn('user_id', 'integer')
    .addColumn('username', 'varchar(150)', (c) => c.notNull().defaultTo(''))
    // For admin actions: the staff user who acted (user_id is the account acted on).
    .addColumn('actor_id', 'integer')
    .addColumn('action', 'varchar(40)', (c) => c.notNull().defaultTo(''))
    .addColumn('detail', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('ip', 'varchar(64)', (c) => c.notNull().defaultTo(''))
    .addColumn('user_agent', 'varchar(512)', (c) => c.notNull().defaultTo(''))
    .execute();
  await db.schema.createIndex('audit_log_type_time').on('audit_log').columns(['type', 'time', 'method', 'error_code']).execute();
  await db.schema.createIndex('audit_log_time').on('audit_log').column('time').execute();
  await db.schema.createIndex('audit_log_user_time').on('audit_log').columns(['user_id', 'time']).execute();

  if (d.autoId === 'integer') {
    await sql`create index users_username_lower on users (lower(username), id)`.execute(db);
  } else {
    await sql`create index users_username_lower on users ((lower(username) collate "C"), id)`.execute(db);
    await sql`create index users_email_lower_c on users ((lower(email) collate "C"), id)`.execute(db);
  }
}
