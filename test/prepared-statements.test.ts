/**
 * Contract test of src/db/prepared.ts with Kysely (issue 18, section 3). The statements every login
 * and page runs are compiled once and run with their parameters by name; this pins, for each one, the
 * SQL Kysely compiles and which named parameter fills each placeholder, so an upgrade of Kysely that
 * changes either fails here before a login binds a value to the wrong column. It also checks the one
 * Kysely internal that prepared() leans on: a database's transactions share its dialect adapter
 * (`getExecutor().adapter`, marked internal), which keeps a statement run in a transaction compiled once.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { migrate, openDatabase, type DatabaseHandle, type Db } from '../src/db/index.ts';
import { createUser } from '../src/accounts/users.ts';
import { prepared, preparedStatements } from '../src/db/prepared.ts';
import type { Database } from '../src/db/schema.ts';
import { databaseTargets, type TestDatabase } from './support/postgres.ts';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
const KYSELY_VERSION = (JSON.parse(readFileSync(new URL('../node_modules/kysely/package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Every module that makes prepared statements: the ones that import src/db/prepared.ts. */
function modulesWithStatements(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return modulesWithStatements(path);
    if (!entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts') || path === join(SRC, 'db', 'prepared.ts')) return [];
    return /from '(?:\.\.?\/)+(?:db\/)?prepared\.ts'/.test(readFileSync(path, 'utf8')) ? [path] : [];
  });
}

/**
 * Each statement's SQL as SQLite gets it, and what fills each placeholder in order: a parameter by its
 * name, or a value the statement fixes. PostgreSQL gets the same SQL with $1, $2… (checked below).
 */
const EXPECTED: Record<string, { sql: string; slots: (string | { value: unknown })[] }> = {
  'users.byId': { sql: 'select * from "users" where "id" = ?', slots: ['id'] },
  'users.stampLogin': { sql: 'update "users" set "last_login" = ? where "id" = ?', slots: ['lastLogin', 'id'] },
  'sessions.insert': {
    sql: 'insert into "sessions" ("id", "user_id", "created", "expires", "last_seen", "provider", "provider_sid", "user_agent", "ip", "data", "csrf", "amr", "acr") values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    slots: ['id', 'user_id', 'created', 'expires', 'last_seen', 'provider', 'provider_sid', 'user_agent', 'ip', 'data', 'csrf', 'amr', 'acr'],
  },
  'sessions.withUser': {
    sql: 'select "users".*, "sessions"."created" as "s_created", "sessions"."expires" as "s_expires", "sessions"."last_seen" as "s_last_seen", '
      + '"sessions"."provider" as "s_provider", "sessions"."provider_sid" as "s_provider_sid", "sessions"."user_agent" as "s_user_agent", '
      + '"sessions"."ip" as "s_ip", "sessions"."data" as "s_data", "sessions"."refresh_lock" as "s_refresh_lock", "sessions"."csrf" as "s_csrf", "sessions"."amr" as "s_amr", "sessions"."acr" as "s_acr" '
      + 'from "sessions" inner join "users" on "users"."id" = "sessions"."user_id" where "sessions"."id" = ?',
    slots: ['id'],
  },
  'oidc_flows.insert': {
    sql: 'insert into "oidc_flows" ("id", "provider", "binding", "code_verifier", "nonce", "next", "prompt_none", "renews_session", "expires", "client", "acr_values", "max_age", "dpop_key") values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    slots: ['id', 'provider', 'binding', 'code_verifier', 'nonce', 'next', 'prompt_none', 'renews_session', 'expires', 'client', 'acr_values', 'max_age', 'dpop_key'],
  },
  'oidc_flows.countOfBrowser': { sql: 'select count(*) as "flows" from "oidc_flows" where "binding" = ?', slots: ['value'] },
  'oidc_flows.deleteOldestOfBrowser': {
    sql: 'delete from "oidc_flows" where "id" in (select "id" from "oidc_flows" where "binding" = ? order by "expires", "id" limit ?)',
    slots: ['value', 'over'],
  },
  'oidc_flows.countOfClient': { sql: 'select count(*) as "flows" from "oidc_flows" where "client" = ?', slots: ['value'] },
  'oidc_flows.deleteOldestOfClient': {
    sql: 'delete from "oidc_flows" where "id" in (select "id" from "oidc_flows" where "client" = ? order by "expires", "id" limit ?)',
    slots: ['value', 'over'],
  },
  'oidc_flows.take': { sql: 'delete from "oidc_flows" where "id" = ? returning *', slots: ['id'] },
  'identities.find': { sql: 'select "id", "user_id" from "identities" where "issuer" = ? and "subject" = ?', slots: ['issuer', 'subject'] },
  'identities.withUser': {
    sql: 'select "users".*, "identities"."id" as "identity_id" from "identities" inner join "users" on "users"."id" = "identities"."user_id" '
      + 'where "identities"."issuer" = ? and "identities"."subject" = ?',
    slots: ['issuer', 'subject'],
  },
  'identities.activeUser': {
    sql: 'select "users".* from "identities" inner join "users" on "users"."id" = "identities"."user_id" where "identities"."issuer" = ? and "identities"."subject" = ?',
    slots: ['issuer', 'subject'],
  },
  'identities.stampLogin': { sql: 'update "identities" set "last_login" = ? where "id" = ?', slots: ['lastLogin', 'id'] },
  'audit_log.insert': {
    sql: 'insert into "audit_log" ("time", "type", "method", "error_code", "user_id", "username", "actor_id", "action", "detail", "ip", "user_agent") values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    slots: ['time', 'type', 'method', 'error_code', 'user_id', 'username', 'actor_id', 'action', 'detail', 'ip', 'user_agent'],
  },
};

const asSlots = (slots: readonly ({ parameter: string } | { value: unknown })[]) => slots.map((slot) => ('parameter' in slot ? slot.parameter : { value: slot.value }));
/** The same SQL with PostgreSQL's numbered placeholders. */
const numbered = (sql: string) => {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
};

describe(`prepared statements, as Kysely ${KYSELY_VERSION} compiles them`, () => {
  let sqlite: DatabaseHandle;
  // Compiling needs PostgreSQL's dialect, not a server: this pool never connects.
  const postgres = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: 'postgres://127.0.0.1:1/never-connected' }) }) });
  before(async () => {
    for (const module of modulesWithStatements()) await import(pathToFileURL(module).href);
    sqlite = openDatabase({ kind: 'sqlite', file: ':memory:', display: 'sqlite in memory' });
  });
  after(async () => {
    await sqlite?.close();
    await postgres.destroy();
  });

  test('every statement is listed here, from every module that makes one', () => {
    assert.ok(modulesWithStatements().length >= 5, modulesWithStatements().map((path) => relative(SRC, path)).join(', '));
    const made = [...preparedStatements.keys()].filter((name) => !name.startsWith('test.'));
    assert.deepEqual(made.sort(), Object.keys(EXPECTED).sort());
  });

  for (const [name, expected] of Object.entries(EXPECTED)) {
    test(`${name}: its SQL on SQLite and PostgreSQL, and the parameter named at each placeholder`, () => {
      const statement = preparedStatements.get(name);
      assert.ok(statement, `${name} is made by one of ${modulesWithStatements().map((path) => relative(SRC, path)).join(', ')}`);
      const onSqlite = statement.compile(sqlite.db);
      const onPostgres = statement.compile(postgres as unknown as Db);
      assert.equal(onSqlite.sql, expected.sql);
      assert.equal(onPostgres.sql, numbered(expected.sql));
      assert.deepEqual(asSlots(onSqlite.slots), expected.slots);
      assert.deepEqual(asSlots(onPostgres.slots), expected.slots);
    });
  }

  test('a parameter that Kysely would not send as a placeholder is refused when the statement is compiled', () => {
    const inlined = prepared('test.inlined', ['unused'], (db) => db.selectFrom('users').selectAll().limit(1));
    assert.throws(() => inlined.compile(sqlite.db), { name: 'TypeError', message: 'prepared(test.inlined): unused declared but not used' });
    assert.throws(() => prepared('test.inlined', [], (db) => db.selectFrom('users').selectAll()), /already named test\.inlined/);
  });
});

for (const target of databaseTargets) {
  describe(`prepared statements on ${target.name}`, { skip: target.skip }, () => {
    let database: TestDatabase;
    let handle: DatabaseHandle;
    before(async () => {
      database = await target.create();
      handle = openDatabase(target.name === 'sqlite'
        ? { kind: 'sqlite', file: database.url.slice('sqlite:'.length), display: 'test' }
        : { kind: 'postgres', url: database.url, poolSize: 2, display: 'test' });
      await migrate(handle);
    });
    after(async () => {
      await handle?.close();
      await database?.drop();
    });

    test('a transaction shares its database\'s dialect adapter (Kysely internal: getExecutor().adapter), so it reuses the compiled SQL', async () => {
      const adapter = handle.db.getExecutor().adapter;
      await handle.db.transaction().execute(async (trx) => {
        assert.equal(trx.getExecutor().adapter, adapter);
      });
    });

    test('parameters reach their columns by name, whatever order the caller gives them in', async () => {
      const stamp = preparedStatements.get('identities.stampLogin')!;
      const user = await createUser(handle.db, { username: 'named', email: 'named@example.com' });
      const identity = await handle.db.insertInto('identities').values({ issuer: 'https://id.example', subject: 's', user_id: user.id, created: 1, last_login: 1 })
        .returning('id').executeTakeFirstOrThrow();
      await stamp(handle.db, { id: identity.id, lastLogin: 1_700_000_000_000 });
      const row = await handle.db.selectFrom('identities').select(['id', 'last_login']).where('id', '=', identity.id).executeTakeFirstOrThrow();
      assert.deepEqual({ ...row }, { id: identity.id, last_login: 1_700_000_000_000 });
    });
  });
}
