import { sql, type Kysely } from 'kysely';

/**
 * Whether each user's email is verified, and its comparison key (see src/accounts/email.ts): an
 * email is a link target only when both sides have verified it, and emails compare by this key in
 * TypeScript and SQL alike. Not unique: older data may hold the same email twice.
 *
 * Existing rows: the key is computed for every email. An email counts as verified when the user has
 * no provider identity, so that an operator (createsuperuser, the admin, the library) set it; a
 * provider user's flag is set by their provider's next login.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').addColumn('email_verified', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('users').addColumn('email_key', 'varchar(254)', (c) => c.notNull().defaultTo('')).execute();

  for (let after = 0; ;) {
    const rows: { id: number; email: string }[] = await db.selectFrom('users').select(['id', 'email'])
      .where('id', '>', after).where('email', '!=', '').orderBy('id').limit(BATCH).execute();
    if (rows.length === 0) break;
    const keys = sql.join(rows.map((r) => sql`when ${r.id} then ${emailKey(r.email)}`), sql` `);
    await db.updateTable('users').set({ email_key: sql`case id ${keys} end` }).where('id', 'in', rows.map((r) => r.id)).execute();
    after = rows.at(-1)!.id;
  }
  await db.updateTable('users').set({ email_verified: 1 }).where('email_key', '!=', '')
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom('identities').select('id').whereRef('identities.user_id', '=', 'users.id'))))
    .execute();
  await db.schema.createIndex('users_email_key').on('users').column('email_key').execute();
}

const BATCH = 500;

/**
 * normalizeEmail (src/accounts/email.ts) as it stands at this migration: a migration keeps its own
 * copy, since the code it would import may change after it has run.
 */
const emailKey = (email: string): string => email.trim().replace(/[A-Z]+/g, (upper) => upper.toLowerCase());
