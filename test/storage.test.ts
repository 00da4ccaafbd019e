/**
 * The one storage suite, run against every database target (SQLite always, PostgreSQL from
 * TEST_DATABASE_URL): the same store functions must behave the same on both, including under
 * concurrency, where instances sharing PostgreSQL race each other.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { clearFailures, reserveAttempt } from '../src/accounts/lockout.ts';
import { verifyPassword } from '../src/accounts/passwords.ts';
import { createUser, findUserById, findUserByUsername, setPassword } from '../src/accounts/users.ts';
import { countAnonymousFailure, recordEvent } from '../src/audit/index.ts';
import { failuresByCode, signInsPerDay } from '../src/audit/stats.ts';
import { loadConfig, type DatabaseConfig, type ProviderConfig } from '../src/config/index.ts';
import { isUniqueViolation } from '../src/db/errors.ts';
import { migrate, openDatabase, type DatabaseHandle, type Db } from '../src/db/index.ts';
import { provisionUser, type ProvisioningPolicy } from '../src/provisioning/index.ts';
import { sha256Base64url } from '../src/digest.ts';
import { FLOW_LIFETIME_MS, saveFlow, takeFlow, type Flow } from '../src/rp/flows.ts';
import {
  createSession, deleteExpiredSessions, deleteSession, deleteUserSessions, loadSession, sessionIdFor,
} from '../src/sessions/index.ts';
import { findExchangedToken, keepExchangedToken, pruneExchangedTokens } from '../src/sessions/exchanged-tokens.ts';
import { databaseTargets, type TestDatabase } from './support/postgres.ts';
import { rowCount } from './support/rows.ts';

/** The app's own parsing of DATABASE_URL and DATABASE_POOL_SIZE, so the suite opens what the app opens. */
function databaseConfig(url: string, poolSize = 10): DatabaseConfig {
  const cwd = mkdtempSync(join(tmpdir(), 'oidc-connect-config-'));
  try {
    return loadConfig({
      cwd,
      env: { DATABASE_URL: url, DATABASE_POOL_SIZE: String(poolSize), SESSION_SECRET: 'x'.repeat(32), DEV_IDP_PORT: '1' },
    }).database;
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}


const CLI = fileURLToPath(new URL('../bin/oidc-connect.js', import.meta.url));

/** Runs the CLI as a user would, on this Node, in `cwd`, with only the given settings added. */
function runCli(args: string[], cwd: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(DATABASE_|OIDC_|OKTA_|SESSION_|NODE_ENV$)/.test(k)));
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { cwd, env: { ...base, SESSION_SECRET: 'x'.repeat(32), ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') reject(error);
        else resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
      });
  });
}

/** Rejects with an OidcConnectError of this code. */
async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: { code?: string }) => {
    assert.equal(error.code, code);
    return true;
  });
}

const T0 = Date.UTC(2030, 0, 1); // a fixed "now" far from the epoch: the int8 columns must round-trip it
const sessionPolicy = { maxAgeSeconds: 3600, idleTimeoutSeconds: 600 };
const lockoutPolicy = { maxFailures: 10, windowSeconds: 900 };
const provisioning: ProvisioningPolicy = { createUser: true, linkByEmail: true, allowedEmailDomains: [], requiredGroups: [] };
const provider: ProviderConfig = {
  id: 'default', name: 'Okta', issuer: 'https://idp.example.test/oauth2/default', clientId: 'c', clientSecret: 's',
  scopes: ['openid'], signAlgs: [], usernameAlgo: 'claims', endpoints: {},
};
const otherProvider: ProviderConfig = { ...provider, id: 'other', name: 'Other', issuer: 'https://other.example.test' };
const flow: Flow = { provider: 'default', codeVerifier: 'v'.repeat(43), nonce: 'n'.repeat(43), next: '/after', renewsSession: null, dpopKey: null };

for (const target of databaseTargets) {
  describe(`storage on ${target.name}`, { skip: target.skip }, () => {
    let database: TestDatabase | undefined;
    let handle: DatabaseHandle | undefined;
    let db: Db;
    let applied: string[];

    before(async () => {
      database = await target.create();
      handle = openDatabase(databaseConfig(database.url));
      db = handle.db;
      applied = await migrate(handle);
    });
    after(async () => {
      await handle?.close();
      await database?.drop();
    });

    test('migrations apply in order, then re-apply as a no-op', async () => {
      assert.equal(handle!.kind, target.name);
      assert.equal(applied[0], '0001_init');
      assert.deepEqual(applied, [...applied].sort(), 'applied in name order');
      assert.deepEqual(await migrate(handle!), [], 'nothing left to apply');
      const tables = (await db.introspection.getTables()).map((t) => t.name);
      for (const table of ['users', 'sessions', 'identities', 'login_failures', 'oidc_flows']) {
        assert.ok(tables.includes(table), `table ${table} exists`);
      }
      // A second handle (another instance starting later) finds nothing to do either.
      const other = openDatabase(databaseConfig(database!.url, 2));
      try {
        assert.deepEqual(await migrate(other), []);
      } finally {
        await other.close();
      }
    });

    test('instances starting at once on a fresh database migrate it exactly once', async () => {
      const fresh = await target.create();
      const handles = [0, 1, 2].map(() => openDatabase(databaseConfig(fresh.url, 2)));
      try {
        const results = await Promise.all(handles.map((h) => migrate(h)));
        const all = results.flat();
        assert.deepEqual([...new Set(all)].sort(), all.sort(), 'no migration applied twice');
        assert.deepEqual(all.slice().sort(), applied.slice().sort(), 'every migration applied once');
      } finally {
        await Promise.all(handles.map((h) => h.close()));
        await fresh.drop();
      }
    });

    test('separate processes migrating one fresh database at once: applied exactly once', async () => {
      const fresh = await target.create();
      const cwd = mkdtempSync(join(tmpdir(), 'oidc-connect-migrate-'));
      try {
        const runs = await Promise.all([0, 1, 2].map(() => runCli(['migrate'], cwd, { DATABASE_URL: fresh.url })));
        for (const run of runs) assert.equal(run.code, 0, run.stderr);
        const appliedBy = runs.filter((run) => /^Applied: /m.test(run.stdout));
        assert.equal(appliedBy.length, 1, runs.map((run) => run.stdout + run.stderr).join('\n'));
        assert.match(appliedBy[0]!.stdout, new RegExp(`Applied: ${applied.join(', ')}`));
        assert.equal(runs.filter((run) => /No migrations to apply/.test(run.stdout)).length, 2);
      } finally {
        rmSync(cwd, { recursive: true, force: true });
        await fresh.drop();
      }
    });

    describe('users', () => {
      test('create, find by username and id; times and flags come back as numbers', async () => {
        const user = await createUser(db, { username: 'ada', email: 'ada@example.com', password: 'correct horse', isStaff: true }, T0);
        assert.equal(typeof user.id, 'number');
        assert.equal(user.username, 'ada');
        assert.equal(user.date_joined, T0);
        assert.equal(user.is_active, 1);
        assert.equal(user.is_staff, 1);
        assert.equal(user.is_superuser, 0);
        assert.equal(user.last_login, null);
        assert.deepEqual(await findUserByUsername(db, 'ada'), user);
        assert.deepEqual(await findUserById(db, user.id), user);
        assert.equal(await findUserByUsername(db, 'nobody'), undefined);
        assert.equal(await findUserById(db, 987654), undefined);
      });

      test('a taken username is USERNAME_TAKEN (a unique violation on this dialect)', async () => {
        await createUser(db, { username: 'grace' });
        await assert.rejects(createUser(db, { username: 'grace', email: 'other@example.com' }), (error: { code?: string; cause?: unknown }) => {
          assert.equal(error.code, 'USERNAME_TAKEN');
          assert.ok(isUniqueViolation(error.cause), 'the driver error is recognised as a unique violation');
          return true;
        });
        assert.equal((await db.selectFrom('users').select('id').where('username', '=', 'grace').execute()).length, 1);
      });

      test('concurrent creates of one username: one wins, the rest get USERNAME_TAKEN', async () => {
        const results = await Promise.allSettled(Array.from({ length: 8 }, () => createUser(db, { username: 'race' })));
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        for (const r of results) {
          if (r.status === 'rejected') assert.equal((r.reason as { code?: string }).code, 'USERNAME_TAKEN');
        }
      });

      test('set password', async () => {
        const user = await createUser(db, { username: 'linus' });
        assert.equal(user.password, null);
        await setPassword(db, user.id, 'a new passphrase');
        const stored = (await findUserById(db, user.id))!.password!;
        assert.ok(await verifyPassword('a new passphrase', stored));
        assert.equal(await verifyPassword('wrong passphrase', stored), false);
      });
    });

    describe('sessions', () => {
      let userId: number;
      before(async () => {
        userId = (await createUser(db, { username: 'session-user', email: 's@example.com' })).id;
      });

      test('create and load; only the hash of the secret is stored', async () => {
        const secret = await createSession(db, sessionPolicy, {
          userId, provider: 'default', providerSid: 'sid-1', userAgent: 'test', ip: '127.0.0.1', tokens: { expiresAt: T0 + 3600_000, sealed: 'sealed.tokens.x' },
        }, T0);
        assert.equal(secret.length, 43);
        const loaded = await loadSession(db, sessionPolicy, secret, T0 + 1000);
        assert.ok(loaded);
        assert.equal(loaded.id, sessionIdFor(secret));
        assert.notEqual(loaded.id, secret);
        assert.equal(loaded.user.id, userId);
        assert.equal(loaded.user.username, 'session-user');
        assert.equal(loaded.row.created, T0);
        assert.equal(loaded.row.expires, T0 + 3600_000);
        assert.equal(loaded.row.provider, 'default');
        assert.equal(loaded.row.provider_sid, 'sid-1');
        assert.deepEqual(loaded.tokens, { expiresAt: T0 + 3600_000, sealed: 'sealed.tokens.x' });
        assert.equal(await db.selectFrom('sessions').select('id').where('id', '=', secret).executeTakeFirst(), undefined);
        assert.equal(await loadSession(db, sessionPolicy, 'x'.repeat(43), T0), undefined, 'unknown secret');
        assert.equal(await loadSession(db, sessionPolicy, 'short', T0), undefined, 'malformed secret');
      });

      test('last_seen is touched at most once a minute', async () => {
        const secret = await createSession(db, sessionPolicy, { userId }, T0);
        const id = sessionIdFor(secret);
        const lastSeen = async () => (await db.selectFrom('sessions').select('last_seen').where('id', '=', id).executeTakeFirstOrThrow()).last_seen;
        await loadSession(db, sessionPolicy, secret, T0 + 30_000);
        assert.equal(await lastSeen(), T0, 'not written within the minute');
        await loadSession(db, sessionPolicy, secret, T0 + 61_000);
        assert.equal(await lastSeen(), T0 + 61_000, 'written after a minute');
        // The touch pushes idleness back: 11 minutes after creation, but 10 after the touch.
        assert.ok(await loadSession(db, sessionPolicy, secret, T0 + 61_000 + 599_000));
      });

      test('an idle session ends and its row is deleted', async () => {
        const secret = await createSession(db, sessionPolicy, { userId }, T0);
        assert.ok(await loadSession(db, sessionPolicy, secret, T0 + 30_000), 'not idle yet (and not touched)');
        assert.equal(await loadSession(db, sessionPolicy, secret, T0 + 600_001), undefined, '10 minutes since last seen');
        assert.equal(await db.selectFrom('sessions').select('id').where('id', '=', sessionIdFor(secret)).executeTakeFirst(), undefined);
      });

      test('an expired session ends and its row is deleted, even when active', async () => {
        const policy = { maxAgeSeconds: 120, idleTimeoutSeconds: 600 };
        const secret = await createSession(db, policy, { userId }, T0);
        assert.ok(await loadSession(db, policy, secret, T0 + 119_000));
        assert.equal(await loadSession(db, policy, secret, T0 + 120_000), undefined);
        assert.equal(await db.selectFrom('sessions').select('id').where('id', '=', sessionIdFor(secret)).executeTakeFirst(), undefined);
      });

      test('an inactive user has no session', async () => {
        const other = await createUser(db, { username: 'inactive-user' });
        const secret = await createSession(db, sessionPolicy, { userId: other.id }, T0);
        await db.updateTable('users').set({ is_active: 0 }).where('id', '=', other.id).execute();
        assert.equal(await loadSession(db, sessionPolicy, secret, T0 + 1000), undefined);
      });

      test('delete one, delete all of a user but one, delete expired', async () => {
        const owner = (await createUser(db, { username: 'many-sessions' })).id;
        const secrets = [];
        for (let i = 0; i < 4; i++) secrets.push(await createSession(db, sessionPolicy, { userId: owner }, T0));
        await deleteSession(db, sessionIdFor(secrets[0]!));
        assert.equal(await loadSession(db, sessionPolicy, secrets[0]!, T0), undefined);
        assert.equal(await deleteUserSessions(db, owner, sessionIdFor(secrets[1]!)), 2);
        assert.ok(await loadSession(db, sessionPolicy, secrets[1]!, T0), 'the kept session survives');
        assert.equal(await loadSession(db, sessionPolicy, secrets[2]!, T0), undefined);
        assert.equal(await deleteUserSessions(db, owner), 1);
        assert.equal(await loadSession(db, sessionPolicy, secrets[1]!, T0), undefined);

        const old = await createSession(db, { maxAgeSeconds: 60, idleTimeoutSeconds: 60 }, { userId: owner }, T0 - 3600_000);
        const current = await createSession(db, sessionPolicy, { userId: owner }, T0);
        assert.ok(await deleteExpiredSessions(db, T0) >= 1);
        assert.equal(await db.selectFrom('sessions').select('id').where('id', '=', sessionIdFor(old)).executeTakeFirst(), undefined);
        assert.ok(await loadSession(db, sessionPolicy, current, T0));
      });

      test('deleting a user deletes their sessions (cascade)', async () => {
        const gone = (await createUser(db, { username: 'deleted-user' })).id;
        const secret = await createSession(db, sessionPolicy, { userId: gone }, T0);
        await db.deleteFrom('users').where('id', '=', gone).execute();
        assert.equal(await db.selectFrom('sessions').select('id').where('id', '=', sessionIdFor(secret)).executeTakeFirst(), undefined);
      });

      test('exchanged tokens: one per session and audience, replaced when kept again, gone with their session or when expired', async () => {
        const owner = (await createUser(db, { username: 'exchanging' })).id;
        const id = sessionIdFor(await createSession(db, sessionPolicy, { userId: owner }, T0));
        await keepExchangedToken(db, id, 'k1', { sealed: 'one', expires: T0 + 1000 });
        await keepExchangedToken(db, id, 'k1', { sealed: 'two', expires: T0 + 2000 });
        await keepExchangedToken(db, id, 'k2', { sealed: 'other', expires: T0 + 500 });
        assert.deepEqual({ ...await findExchangedToken(db, id, 'k1') }, { sealed: 'two', expires: T0 + 2000 });
        await keepExchangedToken(db, 'no-such-session', 'k1', { sealed: 'x', expires: T0 + 1000 });
        assert.equal(await findExchangedToken(db, 'no-such-session', 'k1'), undefined, 'nothing kept for a session that ended');
        assert.equal(await pruneExchangedTokens(db, T0 + 1000), 1);
        assert.equal(await findExchangedToken(db, id, 'k2'), undefined);
        await deleteSession(db, id);
        assert.equal(await findExchangedToken(db, id, 'k1'), undefined, 'the session\'s end takes its tokens (cascade)');
      });
    });

    describe('identities', () => {
      test('(issuer, subject) is unique; the same subject at another issuer is another identity', async () => {
        const a = (await createUser(db, { username: 'identity-a' })).id;
        const b = (await createUser(db, { username: 'identity-b' })).id;
        const identity = { issuer: 'https://one.example.test', subject: 'sub-1', created: T0, last_login: T0 };
        await db.insertInto('identities').values({ ...identity, user_id: a }).execute();
        await assert.rejects(db.insertInto('identities').values({ ...identity, user_id: b }).execute(), (error) => {
          assert.ok(isUniqueViolation(error), `a unique violation: ${String(error)}`);
          return true;
        });
        await db.insertInto('identities').values({ ...identity, issuer: 'https://two.example.test', user_id: b }).execute();
        assert.equal((await db.selectFrom('identities').select('id').where('subject', '=', 'sub-1').execute()).length, 2);
      });

      test('isUniqueViolation does not mistake other constraint errors', async () => {
        await assert.rejects(
          db.insertInto('identities').values({ issuer: 'https://x.test', subject: 'fk', user_id: 99_999_999, created: T0, last_login: T0 }).execute(),
          (error) => {
            assert.equal(isUniqueViolation(error), false, `a foreign-key error is not a unique violation: ${String(error)}`);
            return true;
          },
        );
      });
    });

    describe('lockout', () => {
      test('20 concurrent attempts each get their own count: exactly 10 may be checked', async () => {
        const allowed = await Promise.all(Array.from({ length: 20 }, () => reserveAttempt(db, lockoutPolicy, 'Concurrent', T0)));
        assert.equal(allowed.filter(Boolean).length, 10);
        const row = await db.selectFrom('login_failures').selectAll().where('username', '=', 'Concurrent').executeTakeFirstOrThrow();
        assert.equal(row.failures, 20);
        assert.equal(row.window_start, T0);
        // Usernames are case-sensitive, as the login form compares them: another username, another count.
        assert.equal(await reserveAttempt(db, lockoutPolicy, 'CONCURRENT', T0 + 1000), true);
      });

      test('the eleventh attempt is refused, until the window passes', async () => {
        for (let i = 0; i < 10; i++) assert.equal(await reserveAttempt(db, lockoutPolicy, 'window', T0 + i * 1000), true);
        assert.equal(await reserveAttempt(db, lockoutPolicy, 'window', T0 + 10_000), false);
        assert.equal(await reserveAttempt(db, lockoutPolicy, 'window', T0 + 899_999), false);
        assert.equal(await reserveAttempt(db, lockoutPolicy, 'window', T0 + 900_000), true, 'the window started at the first attempt');
        // The attempt after the window started a new count.
        const row = await db.selectFrom('login_failures').selectAll().where('username', '=', 'window').executeTakeFirstOrThrow();
        assert.equal(row.failures, 1);
        assert.equal(row.window_start, T0 + 900_000);
      });

      test('clearFailures resets the count', async () => {
        for (let i = 0; i < 10; i++) await reserveAttempt(db, lockoutPolicy, 'cleared', T0);
        await clearFailures(db, 'Cleared');
        assert.ok(await db.selectFrom('login_failures').select('username').where('username', '=', 'cleared').executeTakeFirst(), 'another username');
        await clearFailures(db, 'cleared');
        assert.equal(await db.selectFrom('login_failures').select('username').where('username', '=', 'cleared').executeTakeFirst(), undefined);
        assert.equal(await reserveAttempt(db, lockoutPolicy, 'cleared', T0), true);
      });
    });

    describe('flows', () => {
      test('saved once, taken once', async () => {
        await saveFlow(db, 'state-once', 'binding-1', flow, { now: T0 });
        const row = await db.selectFrom('oidc_flows').selectAll().where('id', '=', sha256Base64url('state-once')).executeTakeFirstOrThrow();
        assert.equal(await db.selectFrom('oidc_flows').select('id').where('id', '=', 'state-once').executeTakeFirst(), undefined, 'only a hash of state is stored');
        assert.notEqual(row.binding, 'binding-1', 'only a hash of the binding is stored');
        assert.equal(row.expires, T0 + FLOW_LIFETIME_MS);
        assert.deepEqual(await takeFlow(db, 'state-once', 'binding-1', T0 + 1000), flow);
        await rejectsWithCode(takeFlow(db, 'state-once', 'binding-1', T0 + 1000), 'STATE_INVALID');
      });

      test('a silent renewal flow keeps the session it renews', async () => {
        await saveFlow(db, 'state-silent', 'b', { ...flow, renewsSession: 'session-id-hash' }, { now: T0 });
        assert.equal((await takeFlow(db, 'state-silent', 'b', T0)).renewsSession, 'session-id-hash');
      });

      test('a DPoP sign-in keeps its sealed key until the callback', async () => {
        await saveFlow(db, 'state-dpop', 'b', { ...flow, dpopKey: 'sealed.key.jwe' }, { now: T0 });
        assert.equal((await takeFlow(db, 'state-dpop', 'b', T0)).dpopKey, 'sealed.key.jwe');
      });

      test('concurrent callbacks for one state: exactly one takes the flow', async () => {
        await saveFlow(db, 'state-race', 'b', flow, { now: T0 });
        const results = await Promise.allSettled(Array.from({ length: 6 }, () => takeFlow(db, 'state-race', 'b', T0)));
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        for (const r of results) {
          if (r.status === 'rejected') assert.equal((r.reason as { code?: string }).code, 'STATE_INVALID');
        }
      });

      test('an expired flow is FLOW_EXPIRED and gone', async () => {
        await saveFlow(db, 'state-old', 'b', flow, { now: T0 });
        await rejectsWithCode(takeFlow(db, 'state-old', 'b', T0 + FLOW_LIFETIME_MS), 'FLOW_EXPIRED');
        await rejectsWithCode(takeFlow(db, 'state-old', 'b', T0), 'STATE_INVALID');
      });

      test('another browser (binding mismatch or none) is refused, and the flow is spent', async () => {
        await saveFlow(db, 'state-bound', 'right', flow, { now: T0 });
        await rejectsWithCode(takeFlow(db, 'state-bound', 'wrong', T0), 'STATE_INVALID');
        await rejectsWithCode(takeFlow(db, 'state-bound', 'right', T0), 'STATE_INVALID');
        await saveFlow(db, 'state-unbound', 'right', flow, { now: T0 });
        await rejectsWithCode(takeFlow(db, 'state-unbound', undefined, T0), 'STATE_INVALID');
      });

      test('unknown state', async () => {
        await rejectsWithCode(takeFlow(db, 'never-saved', 'b', T0), 'STATE_INVALID');
      });

      test('a browser keeps its newest 20 flows and an address its newest maxPerClient; the oldest go', async () => {
        for (let i = 0; i < 25; i++) await saveFlow(db, `tab-${i}`, 'many-tabs', flow, { client: '192.0.2.1', maxPerClient: 30, now: T0 + i });
        for (let i = 0; i < 25; i++) await saveFlow(db, `fresh-${i}`, `browser-${i}`, flow, { client: '192.0.2.1', maxPerClient: 30, now: T0 + 100 + i });
        await rejectsWithCode(takeFlow(db, 'tab-4', 'many-tabs', T0), 'STATE_INVALID');
        await rejectsWithCode(takeFlow(db, 'tab-19', 'many-tabs', T0), 'STATE_INVALID');
        assert.deepEqual(await takeFlow(db, 'tab-20', 'many-tabs', T0), flow, 'the newest 5 tabs of the first browser are among the address\'s newest 30');
        assert.deepEqual(await takeFlow(db, 'fresh-0', 'browser-0', T0), flow);
        assert.deepEqual(await takeFlow(db, 'fresh-24', 'browser-24', T0), flow);
        assert.deepEqual(await takeFlow(db, 'tab-24', 'many-tabs', T0), flow);
      });

      test('30 starts in one millisecond share expires, and still leave exactly 20 per browser and maxPerClient per address; a later start is kept', async () => {
        const count = async (column: 'binding' | 'client', value: string) =>
          (await db.selectFrom('oidc_flows').select('id').where(column, '=', sha256Base64url(value)).execute()).length;
        for (let i = 0; i < 30; i++) await saveFlow(db, `same-ms-${i}`, 'fast-browser', flow, { now: T0 });
        assert.equal(await count('binding', 'fast-browser'), 20);
        for (let i = 0; i < 30; i++) await saveFlow(db, `same-ms-fresh-${i}`, `fresh-browser-${i}`, flow, { client: '192.0.2.99', maxPerClient: 7, now: T0 });
        assert.equal(await count('client', '192.0.2.99'), 7);
        await saveFlow(db, 'next-ms', 'fast-browser', flow, { client: '192.0.2.99', maxPerClient: 7, now: T0 + 1 });
        assert.equal(await count('binding', 'fast-browser'), 20);
        assert.equal(await count('client', '192.0.2.99'), 7);
        assert.deepEqual(await takeFlow(db, 'next-ms', 'fast-browser', T0), flow);
      });
    });

    describe('audit log', () => {
      test('concurrent anonymous failures of one minute, address and code are one row with their count; the sums see them all', async () => {
        const failure = { type: 'login_failure', method: 'default', errorCode: 'STATE_INVALID', ip: '192.0.2.7', time: T0 + 5_000 } as const;
        await Promise.all(Array.from({ length: 25 }, () => countAnonymousFailure(db, failure)));
        await countAnonymousFailure(db, { ...failure, time: T0 + 65_000 }); // the next minute
        await countAnonymousFailure(db, { ...failure, ip: '192.0.2.8' });
        await recordEvent(db, { type: 'login_failure', method: 'default', errorCode: 'STATE_INVALID', ip: '192.0.2.7', time: T0 + 6_000 });
        const rows = await db.selectFrom('audit_log').select(['time', 'ip', 'count', 'grouped']).where('ip', 'in', ['192.0.2.7', '192.0.2.8'])
          .orderBy('ip').orderBy('time').orderBy('grouped').execute();
        assert.deepEqual(rows.map((r) => ({ ...r })), [
          { time: T0, ip: '192.0.2.7', count: 25, grouped: 1 },
          { time: T0 + 6_000, ip: '192.0.2.7', count: 1, grouped: 0 },
          { time: T0 + 60_000, ip: '192.0.2.7', count: 1, grouped: 1 },
          { time: T0, ip: '192.0.2.8', count: 1, grouped: 1 },
        ]);
        assert.deepEqual(await failuresByCode(db, T0), [{ code: 'STATE_INVALID', count: 28 }]);
        const daily = await signInsPerDay(db, 1, T0 + 3600_000);
        assert.deepEqual(daily.filter((d) => d.type === 'login_failure').map((d) => d.count), [28]);
      });
    });

    describe('provisioning', () => {
      const claims = { sub: 'carol-sub', email: 'carol@example.com', email_verified: true, preferred_username: 'carol', given_name: 'Carol' };

      test('10 concurrent first logins of one (issuer, sub) create one user and one identity', async () => {
        const results = await Promise.all(Array.from({ length: 10 }, () => provisionUser(db, provisioning, provider, claims, T0)));
        const ids = new Set(results.map((r) => r.user.id));
        assert.equal(ids.size, 1, 'every login ends as the same user');
        assert.equal(results.filter((r) => r.linkedBy === 'created').length, 1);
        assert.equal((await db.selectFrom('users').select('id').where('email', '=', 'carol@example.com').execute()).length, 1);
        const identities = await db.selectFrom('identities').selectAll().where('subject', '=', 'carol-sub').execute();
        assert.equal(identities.length, 1);
        assert.equal(identities[0]!.issuer, provider.issuer);
        assert.equal(identities[0]!.user_id, [...ids][0]);
        const user = (await findUserById(db, [...ids][0]!))!;
        assert.equal(user.username, 'carol');
        assert.equal(user.first_name, 'Carol');
        assert.equal(user.password, null);
      });

      test('the next login finds the identity and follows the profile', async () => {
        const again = await provisionUser(db, provisioning, provider, { ...claims, given_name: 'Caroline' }, T0 + 1000);
        assert.equal(again.linkedBy, 'identity');
        assert.equal(again.user.first_name, 'Caroline');
        const identity = await db.selectFrom('identities').selectAll().where('subject', '=', 'carol-sub').executeTakeFirstOrThrow();
        assert.equal(identity.last_login, T0 + 1000);
      });

      test('concurrent first logins linking to one local user by verified email: one identity', async () => {
        const local = await createUser(db, { username: 'dave-local', email: 'Dave@Example.com' });
        const daveClaims = { sub: 'dave-sub', email: 'dave@example.com', email_verified: true, preferred_username: 'dave' };
        const results = await Promise.all(Array.from({ length: 10 }, () => provisionUser(db, provisioning, provider, daveClaims, T0)));
        assert.ok(results.every((r) => r.user.id === local.id), 'all linked to the local user');
        assert.equal((await db.selectFrom('identities').select('id').where('subject', '=', 'dave-sub').execute()).length, 1);
        assert.equal(await findUserByUsername(db, 'dave'), undefined, 'no second user');
      });

      test('a taken username gets a suffix; an unverified email never links', async () => {
        const eve = await provisionUser(db, provisioning, provider, { sub: 'eve-sub', email: 'carol@example.com', email_verified: false, preferred_username: 'carol' }, T0);
        assert.equal(eve.linkedBy, 'created');
        assert.equal(eve.user.username, 'carol-2');
      });

      test('whether an email is verified is stored: operators\' emails are, a provider\'s only when it says so', async () => {
        const local = await createUser(db, { username: 'hank', email: ' Hank@Example.com' });
        assert.deepEqual([local.email_verified, local.email_key], [1, 'hank@example.com']);
        const ivy = { sub: 'ivy-sub', preferred_username: 'ivy' };
        const unverified = await provisionUser(db, provisioning, provider, { ...ivy, email: 'Ivy@Example.com', email_verified: false }, T0);
        assert.deepEqual([unverified.user.email_verified, unverified.user.email_key], [0, 'ivy@example.com']);
        const verified = await provisionUser(db, provisioning, provider, { ...ivy, email: 'ivy@example.com', email_verified: true }, T0);
        assert.deepEqual([verified.user.email_verified, verified.user.email_key], [1, 'ivy@example.com']);
        const silent = await provisionUser(db, provisioning, provider, { ...ivy, email: 'IVY@example.com' }, T0);
        assert.equal(silent.user.email_verified, 1, 'the same address stays verified');
        const moved = await provisionUser(db, provisioning, provider, { ...ivy, email: 'ivy@elsewhere.example', email_verified: false }, T0);
        assert.deepEqual([moved.user.email_verified, moved.user.email_key], [0, 'ivy@elsewhere.example'], 'a new address is as verified as the provider says');
      });

      test('pre-account hijack: an unverified email is no link target for a later verified login', async () => {
        const planted = await provisionUser(db, provisioning, otherProvider, { sub: 'mallory-sub', email: 'frank@example.com', email_verified: false }, T0);
        const frank = await provisionUser(db, provisioning, provider, { sub: 'frank-sub', email: 'Frank@example.com', email_verified: true }, T0);
        assert.equal(frank.linkedBy, 'created');
        assert.notEqual(frank.user.id, planted.user.id);
      });

      test('emails compare by one key: ASCII case and outer spaces fold, U+212A KELVIN SIGN does not', async () => {
        const local = await createUser(db, { username: 'kate', email: 'kate@example.com' });
        const kelvin = await provisionUser(db, provisioning, provider, { sub: 'kelvin-sub', email: '\u212Aate@example.com', email_verified: true }, T0);
        assert.equal(kelvin.linkedBy, 'created');
        assert.notEqual(kelvin.user.id, local.id);
        const kate = await provisionUser(db, provisioning, otherProvider, { sub: 'kate-sub', email: ' KATE@Example.com ', email_verified: true }, T0);
        assert.deepEqual([kate.linkedBy, kate.user.id], ['email', local.id]);
      });

      test('a second sub from one issuer never joins an account that has an identity there', async () => {
        const first = await provisionUser(db, provisioning, provider, { sub: 'gina-1', email: 'gina@example.com', email_verified: true }, T0);
        await assert.rejects(
          provisionUser(db, provisioning, provider, { sub: 'gina-2', email: 'gina@example.com', email_verified: true }, T0),
          { code: 'IDENTITY_CONFLICT', status: 409 },
        );
        const identities = await db.selectFrom('identities').select('subject').where('user_id', '=', first.user.id).execute();
        assert.deepEqual(identities.map((i) => i.subject), ['gina-1']);
        const elsewhere = await provisionUser(db, provisioning, otherProvider, { sub: 'gina-2', email: 'gina@example.com', email_verified: true }, T0);
        assert.deepEqual([elsewhere.linkedBy, elsewhere.user.id], ['email', first.user.id], 'another issuer still links');
      });
    });
  });
}
