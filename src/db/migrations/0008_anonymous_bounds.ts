import { sql, type Kysely } from 'kysely';

/**
 * What anonymous requests may write is bounded (issue 10, item 5).
 *
 * oidc_flows.client: a hash of the client's address (IPv6 by its /64), so that the logins in
 * progress of one address can be capped as those of one browser are; (binding, expires) and
 * (client, expires) find the oldest of either. Rows from before have '' and expire within minutes.
 *
 * audit_log.count and .grouped: repeated anonymous failures (a callback with an unknown state, a bad
 * back-channel logout token…) are one row per minute, address, type, method and error code
 * (grouped = 1) whose count goes up; the partial unique index is that upsert's conflict target. Every
 * other row is one event (count 1, grouped 0). The dashboard's index gains count, so its sums stay
 * index-only scans.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('oidc_flows').addColumn('client', 'varchar(64)', (c) => c.notNull().defaultTo('')).execute();
  await db.schema.createIndex('oidc_flows_binding').on('oidc_flows').columns(['binding', 'expires']).execute();
  await db.schema.createIndex('oidc_flows_client').on('oidc_flows').columns(['client', 'expires']).execute();

  await db.schema.alterTable('audit_log').addColumn('count', 'integer', (c) => c.notNull().defaultTo(1)).execute();
  await db.schema.alterTable('audit_log').addColumn('grouped', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.createIndex('audit_log_grouped').on('audit_log').unique()
    .columns(['time', 'ip', 'type', 'method', 'error_code']).where(sql<boolean>`grouped = 1`).execute();
  await db.schema.dropIndex('audit_log_type_time').execute();
  await db.schema.createIndex('audit_log_type_time').on('audit_log').columns(['type', 'time', 'method', 'error_code', 'count']).execute();
}
