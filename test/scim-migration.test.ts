/**
 * Migration 0013 on a database that already has users (written at the migration before it): a user
 * who has no password and signs in through a provider is marked as having come from one; everyone
 * else (a password, whether or not an identity is linked too; no password and no identity, as
 * createsuperuser --no-input may leave) stays local. SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Migrator, type Kysely } from 'kysely';
import { migrations, type DatabaseHandle } from '../src/db/index.ts';
import { databaseTargets, openTestDatabase, type TestDatabase } from './support/postgres.ts';

const HASH = 'pbkdf2_sha256$600000$salt$hash';
const JOINED = Date.parse('2023-05-04T03:02:01Z');

/** username, password, identities linked, is_active, and the source 0013 must give them. */
const USERS: [string, string | null, number, number, 'local' | 'provider'][] = [
  ['provider-only', null, 1, 1, 'provider'],
  ['provider-two-identities-inactive', null, 2, 0, 'provider'],
  ['local-password', HASH, 0, 1, 'local'],
  ['password-and-identity', HASH, 1, 1, 'local'],
  ['no-password-no-identity', null, 0, 1, 'local'],
];

for (const target of databaseTargets) {
  describe(`0013_scim on ${target.name}`, { skip: target.skip }, () => {
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

    test('existing users get source provider only when they have no password and a provider identity; modified starts at date_joined', async () => {
      const all = migrations(handle!.kind);
      const migrator = new Migrator({ db: handle!.db, provider: { getMigrations: async () => all } });
      const previous = Object.keys(all).sort().filter((name) => name < '0013').at(-1)!;
      const upTo = async (name: string) => {
        const { error } = await migrator.migrateTo(name);
        assert.equal(error, undefined, `migrating to ${name}: ${String(error)}`);
      };
      await upTo(previous);

      const db = handle!.db as unknown as Kysely<any>;
      for (const [i, [username, password, identities, active]] of USERS.entries()) {
        const { id } = await db.insertInto('users')
          .values({ username, email: `${username}@example.com`, password, is_active: active, date_joined: JOINED + i })
          .returning('id').executeTakeFirstOrThrow();
        for (let n = 0; n < identities; n++) {
          await db.insertInto('identities').values({ issuer: `https://idp${n}.example`, subject: username, user_id: id, created: 0, last_login: 0 }).execute();
        }
      }

      await upTo('0013_scim');
      const rows = await db.selectFrom('users').select(['username', 'source', 'modified', 'date_joined', 'rule_roles', 'external_id', 'deleted']).orderBy('id').execute();
      assert.deepEqual(rows.map((r: { username: string; source: string }) => [r.username, r.source]), USERS.map(([username, , , , source]) => [username, source]));
      for (const row of rows) {
        assert.equal(Number(row.modified), Number(row.date_joined), `${row.username}: modified`);
        assert.deepEqual([row.rule_roles, row.external_id, row.deleted], ['[]', null, null], row.username);
      }
    });
  });
}
