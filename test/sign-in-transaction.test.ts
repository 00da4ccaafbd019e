/**
 * A provider sign-in's writes are one transaction (src/web/session/provider-sign-in.ts): when the database
 * refuses a write after the user and the identity were inserted (the session's, or the success's
 * audit entry), none of them stays; the failed sign-in writes nothing but its audit entry.
 * Failures are injected with a trigger, on SQLite and on PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import type { Db } from '../src/db/index.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { startFakeOp, type FakeOp } from './support/fake-op.ts';
import { HttpClient, type Hop } from './support/http-client.ts';
import { databaseTargets, type TestDatabase } from './support/postgres.ts';
import { signInRows } from './support/rows.ts';

async function login(app: TestApp, op: FakeOp): Promise<Hop> {
  const browser = new HttpClient();
  const start = await browser.get(`${app.url}/authorization-code/authenticate/?next=%2F`);
  const callback = await op.authorize(start.location!);
  return browser.get(callback.href);
}

async function auditTypes(db: Db): Promise<string[]> {
  const rows = await db.selectFrom('audit_log').select(['type', 'error_code']).where('method', '=', 'default').orderBy('id').execute();
  return rows.map((row) => (row.error_code ? `${row.type} ${row.error_code}` : row.type));
}

for (const target of databaseTargets) {
  describe(`a provider sign-in's writes on ${target.name}`, { skip: target.skip }, () => {
    let database: TestDatabase;
    let op: FakeOp;
    let app: TestApp;
    const postgres = target.name === 'postgres';

    /** Makes the database refuse inserts into `table` (those for which `when` holds). */
    async function refuse(table: 'sessions' | 'audit_log', when = 'true'): Promise<void> {
      const db = app.database.db;
      if (postgres) {
        await sql`CREATE OR REPLACE FUNCTION injected_failure() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql`.execute(db);
        await sql.raw(`CREATE TRIGGER injected BEFORE INSERT ON ${table} FOR EACH ROW WHEN (${when}) EXECUTE FUNCTION injected_failure()`).execute(db);
      } else {
        await sql.raw(`CREATE TRIGGER injected BEFORE INSERT ON ${table} WHEN ${when} BEGIN SELECT RAISE(ABORT, 'injected failure'); END`).execute(db);
      }
    }

    async function allow(table: 'sessions' | 'audit_log'): Promise<void> {
      await sql.raw(postgres ? `DROP TRIGGER injected ON ${table}` : 'DROP TRIGGER injected').execute(app.database.db);
    }

    before(async () => {
      database = await target.create();
      op = await startFakeOp({ claims: { email: 'nina@example.com', email_verified: true, preferred_username: 'nina' } });
      app = await startTestApp({ DATABASE_URL: database.url, OIDC_ISSUER: op.issuer, OIDC_RP_CLIENT_ID: 'test-client', OIDC_RP_CLIENT_SECRET: 'test-secret' });
    });
    after(async () => {
      await app?.close();
      await op?.close();
      await database?.drop();
    });

    test('the session insert fails after the user and the identity: none of them stays', async () => {
      await refuse('sessions');
      try {
        const failed = await login(app, op);
        assert.equal(failed.status, 500, failed.body.slice(0, 300));
        assert.match(failed.body, /Error code: INTERNAL/);
      } finally {
        await allow('sessions');
      }
      assert.deepEqual(await signInRows(app.database.db), { users: 0, identities: 0, sessions: 0 });
      assert.deepEqual(await auditTypes(app.database.db), ['login_failure INTERNAL']);
    });

    test('the success\'s audit entry fails: the session, the user and the identity go with it', async () => {
      await refuse('audit_log', "NEW.type = 'login_success'");
      try {
        assert.equal((await login(app, op)).status, 500);
      } finally {
        await allow('audit_log');
      }
      assert.deepEqual(await signInRows(app.database.db), { users: 0, identities: 0, sessions: 0 });
      assert.deepEqual(await auditTypes(app.database.db), ['login_failure INTERNAL', 'login_failure INTERNAL']);
    });

    test('with nothing refused, the same sign-in writes all of it', async () => {
      const done = await login(app, op);
      assert.equal(done.status, 302, done.body.slice(0, 300));
      assert.deepEqual(await signInRows(app.database.db), { users: 1, identities: 1, sessions: 1 });
      assert.deepEqual((await auditTypes(app.database.db)).at(-1), 'login_success');
    });
  });
}
