/**
 * Migration 0005 on a database that already has users (one written at 0004): every email gets its
 * comparison key, and only emails an operator set count as verified. SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import { normalizeEmail } from '../src/accounts/email.ts';
import type { DatabaseHandle } from '../src/db/index.ts';
import * as m0001 from '../src/db/migrations/0001_init.ts';
import * as m0002 from '../src/db/migrations/0002_logout_tokens.ts';
import * as m0003 from '../src/db/migrations/0003_session_refresh.ts';
import * as m0004 from '../src/db/migrations/0004_audit_log.ts';
import * as m0005 from '../src/db/migrations/0005_email_verification.ts';
import { databaseTargets, openTestDatabase, type TestDatabase } from './support/postgres.ts';

const EMAILS = [' Ann@Example.COM', 'bob@example.com', '\u212Aate@example.com', 'ÉLODIE@Example.com\t', ''];

for (const target of databaseTargets) {
  describe(`0005_email_verification on ${target.name}`, { skip: target.skip }, () => {
    let database: TestDatabase | undefined;
    let handle: DatabaseHandle | undefined;

    before(async () => {
      database = await target.create();
      handle = openTestDatabase(database);
    });
    after(async () => {
      await handle?.close();
      await database?.drop();
    });

    test('fills the key of every existing email; only users without a provider identity count as verified', async () => {
      const db = handle!.db as unknown as Kysely<any>;
      const dialect: m0001.Dialect = target.name === 'sqlite' ? { autoId: 'integer', millis: 'integer' } : { autoId: 'serial', millis: 'bigint' };
      for (const m of [m0001, m0002, m0003, m0004]) await m.up(db, dialect);
      const ids: number[] = [];
      for (const [i, email] of EMAILS.entries()) {
        const row = await db.insertInto('users').values({ username: `u${i}`, email, date_joined: 0 }).returning('id').executeTakeFirstOrThrow();
        ids.push(row.id);
      }
      // bob signed up through a provider: his email came from its claims, verified or not.
      await db.insertInto('identities').values({ issuer: 'https://idp.example', subject: 'bob', user_id: ids[1], created: 0, last_login: 0 }).execute();

      await m0005.up(db);
      const rows = await db.selectFrom('users').select(['email', 'email_key', 'email_verified']).orderBy('id').execute();
      assert.deepEqual(rows.map((r: { email_key: string }) => r.email_key), EMAILS.map(normalizeEmail), 'the same key as the app computes');
      assert.deepEqual(rows.map((r: { email_verified: number }) => Number(r.email_verified)), [1, 0, 1, 1, 0]);
    });
  });
}
