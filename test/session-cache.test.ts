/**
 * The session cache (src/sessions/cache.ts) and the change feed that keeps it right
 * (src/db/change-feed.ts), on SQLite and PostgreSQL. Each write that ends a session or alters a user
 * is checked the same way: a change made behind the owners' backs (plain SQL, announced to no one)
 * stays invisible to the instance that cached the session, which proves the cache is serving; then
 * the owner's write makes the instance see it, at once on the same instance and within 1 s on another
 * one. Writes that no cached session depends on must leave the cache serving.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { sql } from 'kysely';
import type { ImportPlan } from '../src/accounts/django-import.ts';
import { applyImportPlans } from '../src/accounts/django-import-store.ts';
import { rehashPassword } from '../src/accounts/rehash.ts';
import { createUser, recordLogin, setActive, setPassword, setStaff, updateProfile } from '../src/accounts/users.ts';
import { loadConfig } from '../src/config/index.ts';
import { announce, changeFeedOf } from '../src/db/change-feed.ts';
import { KEEP_MS, pruneChangeLog } from '../src/db/change-log.ts';
import { migrate, openDatabase, type DatabaseHandle, type Db } from '../src/db/index.ts';
import { listenerApplicationName } from '../src/db/pg-listener.ts';
import type { User } from '../src/db/schema.ts';
import { DEV_CLIENT_ID, DEV_CLIENT_SECRET, startDevIdp, type DevIdp } from '../src/dev-idp/index.ts';
import { ConfigError } from '../src/errors.ts';
import { recordEvent } from '../src/audit/index.ts';
import { reserveAttempt } from '../src/accounts/lockout.ts';
import { saveFlow } from '../src/rp/flows.ts';
import { sessionCacheFor, startSessionCache, type SessionCache } from '../src/sessions/cache.ts';
import {
  createSession, deleteExpiredSessions, deleteSession, deleteUserSessions, endProviderSessions, endUserSession, loadSession, sessionIdFor,
  type ActiveSession,
} from '../src/sessions/index.ts';
import { endSessionUnderLease, takeRefreshLease, writeRefreshedTokens } from '../src/sessions/refresh-lease.ts';
import { freePort, startTestApp } from './support/app.ts';
import { confirmProviderLogout, providerLogin } from './support/dev-stack.ts';
import { HttpClient, hiddenField } from './support/http-client.ts';
import { startInstance, type Instance } from './support/instances.ts';
import { databaseTargets, postgresTarget, sqliteTarget, type TestDatabase } from './support/postgres.ts';
import { openRowTokens } from './support/session-tokens.ts';

const policy = { maxAgeSeconds: 3600, idleTimeoutSeconds: 600 };
const alice = { email: 'alice@example.com', password: 'wonderland' };

function openTarget(database: TestDatabase): DatabaseHandle {
  return database.url.startsWith('sqlite:')
    ? openDatabase({ kind: 'sqlite', file: database.url.slice('sqlite:'.length), display: 'test' })
    : openDatabase({ kind: 'postgres', url: database.url, poolSize: 2, display: 'test' });
}

/**
 * Bytes of JavaScript memory after full collections (the flag is set here, for this file only): the
 * heap, and external memory, where Node keeps strings of over a megabyte made from a Buffer (as pg's are).
 */
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;
function memoryUsed(): number {
  collect();
  collect();
  const { heapUsed, external } = process.memoryUsage();
  return heapUsed + external;
}

/** Polls `check` until it holds; fails after `withinMs`. Returns how long it took. */
async function eventually(what: string, check: () => Promise<boolean>, withinMs = 1000): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > withinMs) assert.fail(`${what}: not within ${withinMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function waitForLiveCache(db: Db): Promise<void> {
  await eventually('the change feed is live', async () => changeFeedOf(db)!.isLive, 10_000);
}

/** A change behind the owners' backs: nobody is told, so only a database read can see it. */
async function unannouncedRename(db: Db, userId: number, firstName: string): Promise<void> {
  await sql`update users set first_name = ${firstName} where id = ${userId}`.execute(db);
}

interface Fixture { user: User; secret: string; id: string; providerSid: string }

let serial = 0;
/** A user and a session of theirs; with `provider`, a session that came through provider "p1". */
async function fixture(db: Db, provider = false): Promise<Fixture> {
  const user = await createUser(db, { username: `user${++serial}`, email: `user${serial}@example.com`, firstName: 'Original' });
  const providerSid = `sid-${serial}`;
  const secret = await createSession(db, policy, { userId: user.id, ...(provider ? { provider: 'p1', providerSid } : {}) });
  return { user, secret, id: sessionIdFor(secret), providerSid };
}

/**
 * Each owner write that a cached session must not outlive: what it does, and what the caching
 * instance must see afterwards (the unannounced rename included, for writes that keep the session).
 */
const WRITES: { name: string; provider?: boolean; run(db: Db, f: Fixture): Promise<unknown>; seen(loaded: ActiveSession | undefined): boolean }[] = [
  { name: 'logout (deleteSession)', run: (db, f) => deleteSession(db, f.id), seen: (s) => s === undefined },
  { name: 'ending all sessions of a user', run: (db, f) => deleteUserSessions(db, f.user.id), seen: (s) => s === undefined },
  { name: 'an admin ending one session', run: (db, f) => endUserSession(db, f.user.id, f.id), seen: (s) => s === undefined },
  { name: 'back-channel logout by sid', provider: true, run: (db, f) => endProviderSessions(db, 'p1', { sid: f.providerSid }), seen: (s) => s === undefined },
  { name: 'back-channel logout by sub / unlinking an identity', provider: true, run: (db, f) => endProviderSessions(db, 'p1', { userId: f.user.id }), seen: (s) => s === undefined },
  {
    name: 'a refused refresh',
    run: async (db, f) => endSessionUnderLease(db, f.id, (await takeRefreshLease(db, f.id, 10_000))!),
    seen: (s) => s === undefined,
  },
  {
    name: 'tokens rewritten by a refresh',
    run: async (db, f) => writeRefreshedTokens(db, f.id, { sealed: 'refreshed' }, (await takeRefreshLease(db, f.id, 10_000))!),
    seen: (s) => s?.tokens.sealed === 'refreshed' && s.user.first_name === 'Renamed',
  },
  { name: 'deactivation', run: (db, f) => setActive(db, f.user.id, false), seen: (s) => s === undefined },
  { name: 'activation', run: (db, f) => setActive(db, f.user.id, true), seen: (s) => s?.user.first_name === 'Renamed' },
  { name: 'staff granted', run: (db, f) => setStaff(db, f.user.id, true), seen: (s) => s?.user.is_staff === 1 && s.user.first_name === 'Renamed' },
  {
    name: 'superuser granted (import-django updating an account)',
    run: (db, f) => db.transaction().execute((trx) => applyImportPlans(trx, [{
      action: 'update', django: { groups: [] }, userId: f.user.id, username: f.user.username, set: { is_superuser: 1 },
      changes: ['is_superuser'], groups: false, mapping: false,
    } as unknown as ImportPlan])),
    seen: (s) => s?.user.is_superuser === 1 && s.user.first_name === 'Renamed',
  },
  { name: 'password change', run: (db, f) => setPassword(db, f.user.id, 'a-brand-new-password'), seen: (s) => s?.user.password !== null && s?.user.first_name === 'Renamed' },
  {
    name: 'password rehashed at login',
    run: async (db, f) => {
      await db.updateTable('users').set({ password: 'old-hash' }).where('id', '=', f.user.id).execute();
      await rehashPassword(db, f.user.id, 'old-hash', 'the-password');
    },
    seen: (s) => s?.user.password?.startsWith('scrypt') === true && s.user.first_name === 'Renamed',
  },
  {
    name: 'profile updated at provider login',
    run: (db, f) => updateProfile(db, { ...f.user, first_name: 'Renamed' }, { first_name: 'FromProvider' }),
    seen: (s) => s?.user.first_name === 'FromProvider',
  },
];

for (const target of databaseTargets) {
  describe(`session cache on ${target.name}, in one process`, { skip: target.skip }, () => {
    let database: TestDatabase;
    let a: DatabaseHandle;
    let b: DatabaseHandle;
    let cache: SessionCache;

    before(async () => {
      database = await target.create();
      a = openTarget(database);
      await migrate(a);
      b = openTarget(database);
      cache = startSessionCache(a.db)!;
      await waitForLiveCache(a.db);
    });
    after(async () => {
      await cache?.release();
      await a?.close();
      await b?.close();
      await database?.drop();
    });

    /** Caches the session on A and renames its user in plain SQL: that reaches no one, so A keeps serving the old name from memory. */
    async function cachedOnA(f: Fixture): Promise<void> {
      // Right after A's own write, A takes nothing in until its NOTIFY is back (see ChangeFeed.isSettled).
      await eventually('A caches the session', async () => (await loadSession(a.db, policy, f.secret)) !== undefined && cache.get(f.id) !== undefined);
      await unannouncedRename(a.db, f.user.id, 'Renamed');
      assert.equal((await loadSession(a.db, policy, f.secret))?.user.first_name, 'Original', 'served from the cache');
    }

    for (const write of WRITES) {
      test(`${write.name} through the owner, on the same instance: seen at once`, async () => {
        const f = await fixture(a.db, write.provider);
        await cachedOnA(f);
        await write.run(a.db, f);
        assert.ok(write.seen(await loadSession(a.db, policy, f.secret)));
      });

      // SQLite: another connection's change-log rows are read at the first request 10 ms after its commit.
      test(`${write.name} through the owner, on another instance: seen within 1 s`, async () => {
        const f = await fixture(a.db, write.provider);
        await cachedOnA(f);
        await write.run(b.db, f);
        await eventually(`A sees ${write.name}`, async () => write.seen(await loadSession(a.db, policy, f.secret)));
      });
    }

    test('on another instance, a login in progress, an audit row, a lockout count and a sign-in (last_login) of the same user leave A serving its cached session', async () => {
      const f = await fixture(a.db);
      const marker = await fixture(a.db);
      await cachedOnA(f);
      await cachedOnA(marker);
      await saveFlow(b.db, `state-${f.id}`, `binding-${f.id}`, { provider: 'p1', codeVerifier: 'v', nonce: 'n', next: '/', renewsSession: null, dpopKey: null });
      await recordEvent(b.db, { type: 'login_failure', method: 'local', errorCode: 'INVALID_CREDENTIALS', username: f.user.username });
      await reserveAttempt(b.db, { maxFailures: 5, windowSeconds: 60 }, f.user.username);
      await createSession(b.db, policy, { userId: f.user.id });
      await recordLogin(b.db, f.user.id);
      // Then a change A must hear: once A has, it has looked at every commit before it too.
      await deleteSession(b.db, marker.id);
      await eventually('A refuses the marker session', async () => (await loadSession(a.db, policy, marker.secret)) === undefined);
      const before = cache.stats();
      for (let i = 0; i < 3; i++) assert.equal((await loadSession(a.db, policy, f.secret))?.user.first_name, 'Original', 'still served from the cache');
      const after = cache.stats();
      assert.deepEqual([after.hits - before.hits, after.misses - before.misses], [3, 0], 'three hits, no miss');
    });

    test('a sign-in (last_login) on the same instance leaves the user\'s cached session in the cache', async () => {
      const f = await fixture(a.db);
      await cachedOnA(f);
      await recordLogin(a.db, f.user.id);
      assert.equal((await loadSession(a.db, policy, f.secret))?.user.first_name, 'Original');
    });

    if (target.name === 'sqlite') {
      test('change-log rows pruned before A read them (a hole in the log) empty A\'s whole cache', async () => {
        const f = await fixture(a.db);
        const bystander = await fixture(a.db);
        await cachedOnA(f);
        await cachedOnA(bystander);
        // Two logged changes on B, then housekeeping a day later: it keeps only the newest row.
        await deleteSession(b.db, (await fixture(b.db)).id);
        await deleteSession(b.db, (await fixture(b.db)).id);
        assert.equal(await pruneChangeLog(b.db, Date.now() + KEEP_MS + 86_400_000) >= 1, true, 'rows pruned');
        await eventually('A drops what it cached', async () => (await loadSession(a.db, policy, bystander.secret))?.user.first_name === 'Renamed');
        assert.equal((await loadSession(a.db, policy, f.secret))?.user.first_name, 'Renamed', 'every entry went');
      });
    }

    test('the expiry sweep on another instance drops the expired sessions from this one\'s cache within 1 s', async () => {
      const f = await fixture(a.db);
      const now = Date.now();
      assert.ok(await loadSession(a.db, policy, f.secret, now));
      assert.ok(cache.get(f.id), 'cached');
      await deleteExpiredSessions(b.db, now + policy.maxAgeSeconds * 1000);
      await eventually('the cache lets the expired session go', async () => cache.get(f.id) === undefined);
    });

    test('the throttled last_seen write keeps the session cached', async () => {
      const f = await fixture(a.db);
      const t0 = Date.now();
      await eventually('A caches the session', async () => (await loadSession(a.db, policy, f.secret, t0)) !== undefined && cache.get(f.id) !== undefined);
      const cached = cache.get(f.id)!;
      const touched = await loadSession(a.db, policy, f.secret, t0 + 61_000);
      assert.equal(touched?.row.last_seen, t0 + 61_000, 'last_seen written');
      assert.equal(touched?.user, cached.user, 'from the cache');
      const again = await loadSession(a.db, policy, f.secret, t0 + 62_000);
      assert.equal(again?.user, cached.user, 'and the write left it there');
      assert.equal(again?.row.last_seen, t0 + 61_000);
      const row = await a.db.selectFrom('sessions').select('last_seen').where('id', '=', f.id).executeTakeFirstOrThrow();
      assert.equal(row.last_seen, t0 + 61_000);
    });

    test('a session idle by this instance\'s copy but seen by another instance is kept', async () => {
      const f = await fixture(a.db);
      const t0 = Date.now();
      await loadSession(a.db, policy, f.secret, t0);
      // Another instance (no cache) serves the session later on and writes its last_seen.
      assert.ok(await loadSession(b.db, policy, f.secret, t0 + 300_000));
      const later = await loadSession(a.db, policy, f.secret, t0 + 300_000 + policy.idleTimeoutSeconds * 1000 - 1000);
      assert.ok(later, 'A asked the database instead of ending a live session');
      assert.ok(cache.get(f.id), 'and cached it again');
    });

    test('a session past its expiry is refused, though cached, and deleted', async () => {
      const f = await fixture(a.db);
      const now = Date.now();
      assert.ok(await loadSession(a.db, policy, f.secret, now));
      assert.equal(await loadSession(a.db, policy, f.secret, now + policy.maxAgeSeconds * 1000), undefined);
      assert.equal(await a.db.selectFrom('sessions').select('id').where('id', '=', f.id).executeTakeFirst(), undefined, 'and deleted');
    });
  });
}

for (const target of databaseTargets) {
  describe(`session cache bounds on ${target.name}`, { skip: target.skip }, () => {
    let database: TestDatabase;
    let handle: DatabaseHandle;
    let cache: SessionCache;
    before(async () => {
      database = await target.create();
      handle = openTarget(database);
      await migrate(handle);
      cache = startSessionCache(handle.db, { maxEntries: 25 })!;
      await waitForLiveCache(handle.db);
    });
    after(async () => {
      await cache?.release();
      await handle?.close();
      await database?.drop();
    });

    test('full, the cache takes a session in at its second read only: a stream of sessions read once leaves it as it was', async () => {
      cache.clear();
      const user = await createUser(handle.db, { username: 'scanned' });
      const secrets: string[] = [];
      for (let i = 0; i < 75; i++) secrets.push(await createSession(handle.db, policy, { userId: user.id }));
      const ids = secrets.map((secret) => sessionIdFor(secret));
      for (const secret of secrets.slice(0, 25)) assert.ok(await loadSession(handle.db, policy, secret));
      assert.equal(cache.size, 25, 'full');
      // 50 others, once each (a least-recently-used cache would now hold the last 25 of them, and none of the first).
      for (const secret of secrets.slice(25)) assert.equal((await loadSession(handle.db, policy, secret))?.user.username, 'scanned');
      assert.ok(ids.slice(0, 25).every((id) => cache.get(id) !== undefined), 'the first 25 are still cached');
      assert.ok(ids.slice(25).every((id) => cache.get(id) === undefined), 'none of the stream was taken in');
      // Read again while it is remembered: taken in, in place of the least recently used.
      assert.ok(await loadSession(handle.db, policy, secrets[74]!));
      assert.ok(cache.get(ids[74]!), 'taken in at its second read');
      assert.equal(cache.size, 25);
      assert.equal(cache.indexed, 25);
    });

    test('many sessions fill the cache up to its bound; those that did not fit still work through reads', async () => {
      cache.clear();
      const users = await Promise.all(Array.from({ length: 10 }, (_, i) => createUser(handle.db, { username: `bound${i}` })));
      const secrets: string[] = [];
      for (let i = 0; i < 300; i++) secrets.push(await createSession(handle.db, policy, { userId: users[i % 10]!.id }));
      for (const secret of secrets) assert.ok(await loadSession(handle.db, policy, secret));
      assert.equal(cache.size, 25, 'bounded');
      assert.equal(cache.indexed, 25, 'the per-user index lets evicted sessions go too');
      // Sessions past the first 25 were not taken in: read from the database, and right.
      for (const [i, secret] of secrets.slice(0, 30).entries()) {
        assert.equal((await loadSession(handle.db, policy, secret))?.user.username, `bound${i % 10}`);
      }
      assert.equal(cache.size, 25);
      assert.equal(cache.indexed, 25);
      // A change to one user drops that user's entries only: the cache holds sessions 0-24, and bound0 has 0, 10 and 20 of them.
      await setStaff(handle.db, users[0]!.id, true);
      assert.equal(cache.size, 22);
      assert.equal(cache.indexed, 22);
    });

    test('sessions with 1 MiB provider tokens: 15 of them are cached, holding at most 32 MiB of memory, measured', async (t) => {
      // Worked example: the README bounds the entries at 32 MiB. A session's tokens here are 1,048,588
      // characters of JSON (a 2^20-character sealed value, 12 of JSON around it), held once as read and
      // once as the value a route parses from it: some 2 MiB a session, so 15 fit (16 would pass 32 MiB).
      cache.clear();
      const user = await createUser(handle.db, { username: 'bigtokens' });
      const tokens = { sealed: 'a'.repeat(2 ** 20) };
      const secrets: string[] = [];
      for (let i = 0; i < 20; i++) secrets.push(await createSession(handle.db, policy, { userId: user.id, tokens }));
      for (const secret of secrets) assert.equal((await loadSession(handle.db, policy, secret))?.tokens.sealed?.length, 2 ** 20);
      assert.equal(cache.size, 15);
      assert.equal(cache.indexed, 15);
      assert.equal((await loadSession(handle.db, policy, secrets.at(-1)!))?.user.username, 'bigtokens', 'one that did not fit is read from the database');
      // What the cache holds, measured: the memory with its entries, and without.
      const held = memoryUsed();
      cache.clear();
      const freed = held - memoryUsed();
      t.diagnostic(`the cache held ${(freed / 2 ** 20).toFixed(1)} MiB`);
      assert.ok(freed <= 32 * 2 ** 20, `the cache held ${(freed / 2 ** 20).toFixed(1)} MiB`);
      // And the measure saw the entries at all: most of the 15 sessions' 2 MiB.
      assert.ok(freed >= 24 * 2 ** 20, `the cache held only ${(freed / 2 ** 20).toFixed(1)} MiB`);
    });
  });
}

describe('SESSION_CACHE', () => {
  test('on by default, off with SESSION_CACHE=off, and a bad value is one line', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'oidc-connect-config-'));
    const load = (extra: Record<string, string>) => loadConfig({ cwd, env: { SESSION_SECRET: 'x'.repeat(40), ...extra } });
    try {
      assert.equal(load({}).session.cache, true);
      assert.equal(load({ SESSION_CACHE: 'off' }).session.cache, false);
      assert.equal(load({ SESSION_CACHE: 'on' }).session.cache, true);
      assert.throws(() => load({ SESSION_CACHE: 'maybe' }), (error: unknown) =>
        error instanceof ConfigError && error.problems.length === 1 && error.problems[0] === 'SESSION_CACHE=maybe: must be on or off');
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  test('the app starts a cache unless it is off', async () => {
    const on = await startTestApp();
    const off = await startTestApp({ SESSION_CACHE: 'off' });
    try {
      assert.ok(sessionCacheFor(on.database.db));
      assert.equal(sessionCacheFor(off.database.db), undefined);
    } finally {
      await on.close();
      await off.close();
    }
  });
});

interface Pair {
  idp: DevIdp;
  a: Instance;
  b: Instance;
  dir: string;
}

/**
 * Two app processes, A and B, on one database, with one development provider (they find it by
 * OIDC_ISSUER). `publicName` is the instance at APP_URL: the provider's back-channel logouts go there.
 */
async function startPair(databaseUrl: string, publicName: 'A' | 'B', env: Record<string, string> = {}, envOfA: Record<string, string> = {}): Promise<Pair> {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-cache-'));
  const [portA, portB] = [await freePort(), await freePort()];
  const appUrl = `http://127.0.0.1:${publicName === 'A' ? portA : portB}`;
  const idp = await startDevIdp({ port: await freePort(), appUrl, dataDir: dir });
  const shared = {
    APP_URL: appUrl,
    SESSION_SECRET: 'shared-secret-of-both-instances-0123456789',
    OIDC_ISSUER: idp.issuer,
    OIDC_RP_CLIENT_ID: DEV_CLIENT_ID,
    OIDC_RP_CLIENT_SECRET: DEV_CLIENT_SECRET,
    DATABASE_URL: databaseUrl,
    ...env,
  };
  const b = await startInstance('B', portB, shared, dir);
  const a = await startInstance('A', portA, { ...shared, ...envOfA }, dir);
  return { idp, a, b, dir };
}

async function stopPair(pair: Pair | undefined): Promise<void> {
  if (pair === undefined) return;
  await Promise.all([pair.a.stop(), pair.b.stop()]);
  await pair.idp.close();
  rmSync(pair.dir, { recursive: true, force: true });
}

/** The session's user as an instance sees it, through /api/me; null when it refuses the cookie. */
async function me(instance: Instance, secret: string): Promise<Record<string, unknown> | null> {
  const response = await fetch(`${instance.url}/api/me`, { headers: { cookie: `oc_session=${secret}`, accept: 'application/json' } });
  if (response.status === 401) return null;
  assert.equal(response.status, 200, `${instance.name} answered ${response.status}`);
  return await response.json() as Record<string, unknown>;
}

/** Posts one of a page's forms on `instance` as the holder of `secret`, with that page's CSRF token. */
async function postForm(instance: Instance, secret: string, page: string, action: string, form: Record<string, string>): Promise<number> {
  const client = new HttpClient();
  client.setCookie(instance.url, 'oc_session', secret);
  const shown = await client.get(`${instance.url}${page}`);
  assert.equal(shown.status, 200, `${page} on ${instance.name} answered ${shown.status}`);
  const hop = await client.post(`${instance.url}${action}`, { _csrf: hiddenField(shown.body, '_csrf'), ...form });
  assert.ok(hop.status === 302 || hop.status === 303, `${action} on ${instance.name} answered ${hop.status}: ${hop.body.slice(0, 300)}`);
  return hop.status;
}

async function refusedWithin1s(instance: Instance, secret: string, what: string): Promise<void> {
  await eventually(`${instance.name} refuses the session after ${what}`, async () => (await me(instance, secret)) === null);
}

function waitForLog(instance: Instance, text: string, occurrence = 1): Promise<number> {
  return eventually(`"${text}" in ${instance.name}'s log`, async () => instance.output().split(text).length - 1 >= occurrence, 15_000);
}

/** A user (with `password`, when given) and a session of theirs that `instance` serves from its cache: a rename behind its back stays unseen. */
async function cachedOn(instance: Instance, db: Db, password?: string): Promise<Omit<Fixture, 'providerSid'>> {
  const user = await createUser(db, { username: `proc${++serial}`, firstName: 'Original', ...(password ? { password } : {}) });
  const secret = await createSession(db, policy, { userId: user.id });
  assert.equal((await me(instance, secret))?.['first_name'], 'Original');
  await unannouncedRename(db, user.id, 'Renamed');
  assert.equal((await me(instance, secret))?.['first_name'], 'Original', `${instance.name} serves the session from its cache`);
  return { user, secret, id: sessionIdFor(secret) };
}

/**
 * On B: a login started (a flow row), a wrong password (an audit row, a lockout count), then the right
 * one (a new session, last_login) for the user of a session A serves from its cache; A must go on
 * serving it from there. A logout on B of another session A cached comes last: once A refuses that
 * one, it has taken in everything B wrote before.
 */
async function unrelatedWritesOnB(a: Instance, b: Instance, db: Db): Promise<void> {
  const f = await cachedOn(a, db, 'first-password-123');
  const marker = await cachedOn(a, db);
  const client = new HttpClient();
  assert.equal((await client.get(`${b.url}/authorization-code/authenticate/?next=%2F`)).status, 302, 'a login started on B');
  const login = async (password: string) => {
    const page = await client.get(`${b.url}/accounts/login/`);
    return client.post(`${b.url}/accounts/login/`, { _csrf: hiddenField(page.body, '_csrf'), username: f.user.username, password, next: '/' });
  };
  assert.equal((await login('wrong-password-1')).status, 401);
  const signedIn = await login('first-password-123');
  assert.ok(signedIn.status >= 300 && signedIn.status < 400 && client.cookie(b.url, 'oc_session'), `the sign-in on B answered ${signedIn.status}`);
  await postForm(b, marker.secret, '/', '/accounts/logout/', {});
  await refusedWithin1s(a, marker.secret, 'a logout on B');
  assert.equal((await me(a, f.secret))?.['first_name'], 'Original', 'A still serves the session from its cache');
}

describe('two app processes on PostgreSQL, each with its session cache', { skip: postgresTarget.skip }, () => {
  let database: TestDatabase | undefined;
  let handle: DatabaseHandle | undefined;
  let pair: Pair | undefined;
  let a: Instance;
  let b: Instance;
  let admin: string;

  before(async () => {
    database = await postgresTarget.create();
    // B is the public address here: the provider's back-channel logouts go to B.
    pair = await startPair(database.url, 'B', { DATABASE_POOL_SIZE: '4' }, { LOG_LEVEL: 'info' });
    ({ a, b } = pair);
    handle = openDatabase({ kind: 'postgres', url: database.url, poolSize: 2, display: 'test' });
    await waitForLog(a, 'session cache on');
    const root = await createUser(handle.db, { username: 'root', email: 'root@example.com', isStaff: true, isSuperuser: true });
    admin = await createSession(handle.db, policy, { userId: root.id });
  });

  after(async () => {
    await stopPair(pair);
    await handle?.close();
    await database?.drop();
  });

  /** A user with a session that A has cached (a rename behind A's back stays unseen). */
  async function cachedOnA(password?: string): Promise<Omit<Fixture, 'providerSid'>> {
    const user = await createUser(handle!.db, { username: `proc${++serial}`, firstName: 'Original', ...(password ? { password } : {}) });
    const secret = await createSession(handle!.db, policy, { userId: user.id });
    assert.equal((await me(a, secret))?.['first_name'], 'Original');
    await unannouncedRename(handle!.db, user.id, 'Renamed');
    assert.equal((await me(a, secret))?.['first_name'], 'Original', 'A serves the session from its cache');
    return { user, secret, id: sessionIdFor(secret) };
  }

  const adminPost = (userId: number, action: string, form: Record<string, string>) =>
    postForm(b, admin, `/admin/users/${userId}/`, `/admin/users/${userId}/${action}`, form);

  test('a logout on B is refused by A within 1 s', async () => {
    const f = await cachedOnA();
    await postForm(b, f.secret, '/', '/accounts/logout/', {});
    await refusedWithin1s(a, f.secret, 'a logout on B');
  });

  test('a login started, a wrong password and a sign-in of the same user on B leave A serving the session from its cache', async () => {
    await unrelatedWritesOnB(a, b, handle!.db);
  });

  test('a password change on B ends the user\'s other sessions: refused by A within 1 s', async () => {
    const f = await cachedOnA('first-password-123');
    const other = await createSession(handle!.db, policy, { userId: f.user.id });
    await postForm(b, other, '/accounts/password_change/', '/accounts/password_change/', {
      old_password: 'first-password-123', new_password1: 'second-password-456', new_password2: 'second-password-456',
    });
    await refusedWithin1s(a, f.secret, 'a password change on B');
  });

  test('a deactivation by an admin on B is refused by A within 1 s', async () => {
    const f = await cachedOnA();
    await adminPost(f.user.id, 'active', { active: '0' });
    await refusedWithin1s(a, f.secret, 'a deactivation on B');
  });

  test('staff granted and revoked on B: A shows each within 1 s', async () => {
    const f = await cachedOnA();
    await adminPost(f.user.id, 'staff', { staff: '1' });
    await eventually('A sees the staff flag', async () => (await me(a, f.secret))?.['is_staff'] === true);
    await adminPost(f.user.id, 'staff', { staff: '0' });
    await eventually('A sees it revoked', async () => (await me(a, f.secret))?.['is_staff'] === false);
  });

  test('a new password set by an admin on B ends the session: refused by A within 1 s', async () => {
    const f = await cachedOnA();
    await adminPost(f.user.id, 'password', { password1: 'admin-chosen-pass-1', password2: 'admin-chosen-pass-1' });
    await refusedWithin1s(a, f.secret, 'an admin password on B');
  });

  test('an admin ending one session, then all of them, on B: A refuses each within 1 s and keeps the other session meanwhile', async () => {
    const f = await cachedOnA();
    const second = await createSession(handle!.db, policy, { userId: f.user.id });
    assert.ok(await me(a, second));
    await adminPost(f.user.id, 'sessions/end', { session: f.id });
    await refusedWithin1s(a, f.secret, 'ending that session on B');
    assert.ok(await me(a, second), 'the other session lives on');
    await adminPost(f.user.id, 'sessions/end', { session: 'all' });
    await refusedWithin1s(a, second, 'ending all sessions on B');
  });

  test('a back-channel logout sent to B, and an identity unlinked on B: A refuses each session within 1 s', async () => {
    const client = new HttpClient();
    assert.equal((await providerLogin(client, b.url, alice)).status, 302);
    const secret = client.cookie(b.url, 'oc_session')!;
    const row = await handle!.db.selectFrom('sessions').selectAll().where('id', '=', sessionIdFor(secret)).executeTakeFirstOrThrow();
    assert.equal((await me(a, secret))?.['email'], alice.email);

    // The provider ends its session: its back-channel logout reaches B, and A must let go too.
    const idToken = (await openRowTokens('shared-secret-of-both-instances-0123456789', row.data)).idToken!;
    const logout = new URL(`${pair!.idp.issuer}/v1/logout`);
    logout.search = new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: `${b.url}/signout/callback` }).toString();
    await confirmProviderLogout(client, await client.get(logout.href));
    await refusedWithin1s(a, secret, 'a back-channel logout on B');

    assert.equal((await providerLogin(client, b.url, alice)).status, 302);
    const again = client.cookie(b.url, 'oc_session')!;
    assert.ok(await me(a, again));
    const identity = await handle!.db.selectFrom('identities').select('id').where('user_id', '=', row.user_id).executeTakeFirstOrThrow();
    await adminPost(row.user_id, 'identities/unlink', { identity: String(identity.id) });
    await refusedWithin1s(a, again, 'unlinking the identity on B');
  });

  test('with its listening connection killed, A reads the database, refuses a logout at once, and caches again once back', async () => {
    const f = await cachedOnA();
    const other = await createSession(handle!.db, policy, { userId: f.user.id });
    assert.ok(await me(a, other));
    const name = listenerApplicationName(a.child.pid);
    const { rows } = await sql<{ n: number }>`select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where application_name = ${name}`.execute(handle!.db);
    assert.equal(rows[0]!.n, 1, 'A had one listening connection');
    await waitForLog(a, 'session cache paused');

    // Nothing is served from memory now: the rename made behind A's back shows at once.
    assert.equal((await me(a, f.secret))?.['first_name'], 'Renamed');
    await postForm(b, other, '/', '/accounts/logout/', {});
    assert.equal(await me(a, other), null, 'refused at once');

    await waitForLog(a, 'session cache on', 2);
    const back = await cachedOnA();
    await postForm(b, back.secret, '/', '/accounts/logout/', {});
    await refusedWithin1s(a, back.secret, 'a logout on B, once A listens again');
  });

  test('a change no instance announced stays unseen on A until one is', async () => {
    const f = await cachedOnA();
    await sql`delete from sessions where id = ${f.id}`.execute(handle!.db);
    assert.ok(await me(a, f.secret), 'still served from the cache');
    await announce(handle!.db, [{ kind: 'session', id: f.id }]);
    await refusedWithin1s(a, f.secret, 'the announcement');
  });
});

describe('two app processes sharing one SQLite file', () => {
  let database: TestDatabase | undefined;
  let handle: DatabaseHandle | undefined;
  let pair: Pair | undefined;
  let a: Instance;
  let b: Instance;

  before(async () => {
    database = await sqliteTarget.create();
    pair = await startPair(database.url, 'A');
    ({ a, b } = pair);
    handle = openTarget(database);
  });

  after(async () => {
    await stopPair(pair);
    await handle?.close();
    await database?.drop();
  });

  test('a logout in one process is refused by the other, which had the session cached, within 1 s', async () => {
    const f = await cachedOn(a, handle!.db);
    await postForm(b, f.secret, '/', '/accounts/logout/', {});
    // Each process looks for the other's commits at most every 10 ms (ChangeFeed.poll).
    await refusedWithin1s(a, f.secret, 'a logout on B');
  });

  test('a user deactivated by an admin in one process is refused by the other, which had their session cached, within 1 s', async () => {
    const root = await createUser(handle!.db, { username: `root${++serial}`, email: `root${serial}@example.com`, isStaff: true, isSuperuser: true });
    const admin = await createSession(handle!.db, policy, { userId: root.id });
    const f = await cachedOn(a, handle!.db);
    await postForm(b, admin, `/admin/users/${f.user.id}/`, `/admin/users/${f.user.id}/active`, { active: '0' });
    await refusedWithin1s(a, f.secret, 'a deactivation on B');
  });

  test('a login started, a wrong password and a sign-in of the same user in one process leave the other serving the session from its cache', async () => {
    await unrelatedWritesOnB(a, b, handle!.db);
  });
});
