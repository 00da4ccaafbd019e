import type { Kysely } from 'kysely';
import type { Dialect } from './0001_init.ts';

/**
 * mail_outbox (src/mail/outbox.ts): every mail the app sends is a row here first, written in the
 * transaction of what causes it, and sent later by whichever instance holds the row's lease, so a
 * request never waits for the SMTP server and a mail outlives a server that is down or a restart.
 * A password reset request is a row too, resolved into mails outside the request. Rows hold no
 * token: the links in a mail are made when it is sent.
 */
export async function up(db: Kysely<unknown>, d: Dialect): Promise<void> {
  await db.schema
    .createTable('mail_outbox')
    .addColumn('id', d.autoId, (c) => c.primaryKey().$call((b) => (d.autoId === 'integer' ? b.autoIncrement() : b)))
    .addColumn('kind', 'varchar(40)', (c) => c.notNull())
    .addColumn('recipient', 'varchar(254)', (c) => c.notNull())
    // The recipient's comparison key (src/accounts/email.ts): mails to one address are counted by it.
    .addColumn('recipient_key', 'varchar(254)', (c) => c.notNull())
    .addColumn('user_id', 'integer')
    // JSON; context for the audit log (the request's address and browser), never a secret.
    .addColumn('data', 'text', (c) => c.notNull().defaultTo('{}'))
    // The random left part of the Message-ID, the same at every attempt.
    .addColumn('message_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('created', d.millis, (c) => c.notNull())
    // pending, sent, failed (given up) or dropped (nothing to send any more).
    .addColumn('state', 'varchar(16)', (c) => c.notNull().defaultTo('pending'))
    .addColumn('next_attempt', d.millis, (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    // Who holds the right to send it (a random value) and until when.
    .addColumn('lease', 'varchar(32)')
    .addColumn('lease_until', d.millis)
    .addColumn('done', d.millis)
    .addColumn('last_error', 'varchar(500)', (c) => c.notNull().defaultTo(''))
    .execute();
  await db.schema.createIndex('mail_outbox_due').on('mail_outbox').columns(['state', 'next_attempt']).execute();
  await db.schema.createIndex('mail_outbox_recipient').on('mail_outbox').columns(['recipient_key', 'created']).execute();
  await db.schema.createIndex('mail_outbox_done').on('mail_outbox').column('done').execute();
}
