/**
 * Scale-out: two real app processes (`oidc-connect serve`) on two ports, sharing one PostgreSQL
 * database, behind an imaginary load balancer. Both have the same public APP_URL (instance A's
 * address, as the balancer's would be) and the same SESSION_SECRET, and the browser's cookies are
 * shared between them as they would be under one host name. Every hop is sent to the instance the
 * test chooses, so anything kept only in one process's memory would show up as a failure.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createUser } from '../src/accounts/users.ts';
import { openDatabase, type DatabaseHandle } from '../src/db/index.ts';
import { DEV_CLIENT_ID, DEV_CLIENT_SECRET, startDevIdp, type DevIdp } from '../src/dev-idp/index.ts';
import { freePort } from './support/app.ts';
import { HttpClient, hiddenField, type Hop } from './support/http-client.ts';
import { startInstance, type Instance } from './support/instances.ts';
import { postgresTarget, type TestDatabase } from './support/postgres.ts';
import { rowCount } from './support/rows.ts';

const alice = { email: 'alice@example.com', password: 'wonderland' };

/**
 * One browser talking to one public host that is really several instances: after every answer,
 * the cookies of the instance that answered become the cookies of all of them (cookies are kept
 * per host:port in HttpClient's jar).
 */
function shareCookies(client: HttpClient, origins: string[]): HttpClient {
  const hostKey = (origin: string) => `${new URL(origin).hostname}:${new URL(origin).port} `;
  const request = client.request.bind(client);
  client.request = async (method, url, init) => {
    const hop = await request(method, url, init);
    const from = origins.find((origin) => url.startsWith(origin));
    if (from !== undefined) {
      const prefix = hostKey(from);
      const current = [...client.cookies].filter(([key]) => key.startsWith(prefix));
      for (const other of origins.filter((origin) => origin !== from)) {
        const otherPrefix = hostKey(other);
        for (const key of [...client.cookies.keys()]) if (key.startsWith(otherPrefix)) client.cookies.delete(key);
        for (const [key, value] of current) client.cookies.set(otherPrefix + key.slice(prefix.length), value);
      }
    }
    return hop;
  };
  return client;
}

/**
 * From "Log In with Okta" on one instance through the provider's sign-in form, up to (not
 * including) the redirect back to the app: returns the callback URL the provider sent the browser to.
 */
async function signInAtProvider(client: HttpClient, start: Hop, callbackPrefix: string, credentials: { email: string; password: string }): Promise<URL> {
  assert.equal(start.status, 302, `authenticate answered ${start.status}: ${start.body.slice(0, 300)}`);
  let pending: { email: string; password: string } | null = credentials;
  let location = start.location!;
  for (let hops = 0; hops < 20; hops++) {
    if (location.startsWith(callbackPrefix)) return new URL(location);
    let hop = await client.get(location);
    if (hop.status === 200 && /name="password"/.test(hop.body) && pending) {
      const action = /<form method="post" action="([^"]+)"/.exec(hop.body)![1]!.replace(/&amp;/g, '&');
      hop = await client.post(new URL(action, hop.url).href, pending);
      pending = null;
    }
    assert.ok(hop.status >= 300 && hop.status < 400 && hop.location, `provider sign-in stopped at ${hop.url} (${hop.status})`);
    location = hop.location;
  }
  throw new Error('too many redirects at the provider');
}

const SCIM_TOKEN = 'multi-instance-scim-token-0123456789abcdef';

const sessionCount = (db: DatabaseHandle['db']) => rowCount(db, 'sessions');

describe('two app instances sharing one PostgreSQL database', { skip: postgresTarget.skip }, () => {
  let database: TestDatabase | undefined;
  let handle: DatabaseHandle | undefined;
  let idp: DevIdp | undefined;
  let a: Instance | undefined;
  let b: Instance | undefined;
  const dirs: string[] = [];

  before(async () => {
    database = await postgresTarget.create();
    const [portA, portB, idpPort] = [await freePort(), await freePort(), await freePort()];
    const publicUrl = `http://127.0.0.1:${portA}`; // the load balancer's address: instance A here
    for (let i = 0; i < 3; i++) dirs.push(mkdtempSync(join(tmpdir(), 'oidc-connect-multi-')));
    // One development provider for both instances, in this process; each instance finds it by OIDC_ISSUER.
    idp = await startDevIdp({ port: idpPort, appUrl: publicUrl, dataDir: dirs[2]! });
    const env = {
      APP_URL: publicUrl,
      DATABASE_URL: database.url,
      DATABASE_POOL_SIZE: '4',
      SESSION_SECRET: 'shared-secret-of-both-instances-0123456789',
      DEV_IDP_PORT: String(idpPort),
      OIDC_ISSUER: idp.issuer,
      OIDC_RP_CLIENT_ID: DEV_CLIENT_ID,
      OIDC_RP_CLIENT_SECRET: DEV_CLIENT_SECRET,
      SCIM_TOKENS: SCIM_TOKEN,
    };
    // Started at the same moment, on an empty database: both migrate, and neither may trip on the other.
    const started = await Promise.allSettled([startInstance('A', portA, env, dirs[0]!), startInstance('B', portB, env, dirs[1]!)]);
    if (started[0].status === 'fulfilled') a = started[0].value;
    if (started[1].status === 'fulfilled') b = started[1].value;
    for (const result of started) if (result.status === 'rejected') throw result.reason;
    handle = openDatabase({ kind: 'postgres', url: database.url, poolSize: 2, display: 'test' });
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await idp?.close();
    await handle?.close();
    await database?.drop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test('a login started on A and finished on B\'s callback ends logged in on both', async () => {
    const client = shareCookies(new HttpClient(), [a!.url, b!.url]);
    const start = await client.get(`${a!.url}/authorization-code/authenticate/?next=%2F`);
    assert.equal((await handle!.db.selectFrom('oidc_flows').select('id').execute()).length, 1, 'A stored the flow in the database');

    const callback = await signInAtProvider(client, start, `${a!.url}/authorization-code/callback`, alice);
    assert.ok(callback.searchParams.get('code'), 'the provider sent a code');
    // The balancer routes the callback to B, which never saw the login start.
    const done = await client.get(`${b!.url}${callback.pathname}${callback.search}`);
    assert.equal(done.status, 302, `B's callback answered ${done.status}: ${done.body.slice(0, 500)}\n${b!.output()}`);
    assert.equal(new URL(done.location!).pathname, '/');
    assert.equal((await handle!.db.selectFrom('oidc_flows').select('id').execute()).length, 0, 'B took the flow');

    for (const instance of [a!, b!]) {
      const home = await client.get(`${instance.url}/`);
      assert.equal(home.status, 200);
      assert.match(home.body, /Hi alice - alice@example.com!/, `logged in on ${instance.name}`);
    }
    // The callback can't be replayed on the other instance either: the flow is gone for everyone.
    const replay = await client.get(`${a!.url}${callback.pathname}${callback.search}`);
    assert.ok(replay.status >= 400 && replay.status < 500, `replay on A answered ${replay.status}`);
  });

  test('after a logout on B, A treats that cookie as logged out on its next request', async () => {
    const client = shareCookies(new HttpClient(), [a!.url, b!.url]);
    const start = await client.get(`${a!.url}/authorization-code/authenticate/?next=%2F`);
    const callback = await signInAtProvider(client, start, `${a!.url}/authorization-code/callback`, alice);
    assert.equal((await client.get(`${a!.url}${callback.pathname}${callback.search}`)).status, 302);
    const cookie = client.cookie(a!.url, 'oc_session');
    assert.ok(cookie, 'A set the session cookie');
    assert.match((await client.get(`${a!.url}/`)).body, /Hi alice - alice@example.com!/);
    const before = await sessionCount(handle!.db);

    // Log out on B, with the CSRF token of a page B served.
    const home = await client.get(`${b!.url}/`);
    assert.match(home.body, /Hi alice/);
    const logout = await client.post(`${b!.url}/accounts/logout/`, { _csrf: hiddenField(home.body, '_csrf') });
    assert.equal(logout.status, 302, `logout on B answered ${logout.status}: ${logout.body.slice(0, 300)}`);
    assert.equal(await sessionCount(handle!.db), before - 1, 'B deleted the session row');

    // A browser that kept the old cookie (or an attacker who copied it) gets nothing from A.
    client.setCookie(a!.url, 'oc_session', cookie);
    const after = await client.get(`${a!.url}/`);
    assert.equal(after.status, 200);
    assert.match(after.body, /You are not logged in/);
    assert.doesNotMatch(after.body, /Hi alice/);
    client.setCookie(a!.url, 'oc_session', cookie);
    const api = await client.get(`${a!.url}/api/me`, { accept: 'application/json' });
    assert.equal(api.status, 401);
  });

  test('a lockout counted on A holds on B', async () => {
    await createUser(handle!.db, { username: 'carol', email: 'carol@example.com', password: 'carol-local-pass' });
    const client = shareCookies(new HttpClient(), [a!.url, b!.url]);
    const csrf = async (instance: Instance) => hiddenField((await client.get(`${instance.url}/accounts/login/`)).body, '_csrf');
    const login = async (instance: Instance, password: string, token?: string) =>
      client.post(`${instance.url}/accounts/login/`, { _csrf: token ?? await csrf(instance), username: 'carol', password, next: '/' });
    // Ten wrong passwords on A, at once (each checks the lock before its own failure is counted).
    const token = await csrf(a!);
    const failures = await Promise.all(Array.from({ length: 10 }, (_, i) => login(a!, `wrong-password-${i}`, token)));
    assert.deepEqual(failures.map((hop) => hop.status), Array(10).fill(401));
    const row = await handle!.db.selectFrom('login_failures').selectAll().where('username', '=', 'carol').executeTakeFirstOrThrow();
    assert.equal(row.failures, 10, 'every failure counted');
    const onB = await login(b!, 'carol-local-pass');
    assert.equal(onB.status, 429, 'B refuses even the right password while the account is locked');
    assert.equal(client.cookie(b!.url, 'oc_session'), undefined, 'and starts no session');
    assert.equal((await login(a!, 'carol-local-pass')).status, 429);
  });

  test('a deactivation through SCIM on A ends the user\'s sessions cached on B by B\'s next request', async () => {
    const client = shareCookies(new HttpClient(), [a!.url, b!.url]);
    const start = await client.get(`${a!.url}/authorization-code/authenticate/?next=%2F`);
    const callback = await signInAtProvider(client, start, `${a!.url}/authorization-code/callback`, alice);
    assert.equal((await client.get(`${a!.url}${callback.pathname}${callback.search}`)).status, 302);
    // B serves the session twice: the second time from its cache.
    for (let i = 0; i < 2; i++) assert.match((await client.get(`${b!.url}/`)).body, /Hi alice/);
    const user = await handle!.db.selectFrom('users').select('id').where('email', '=', alice.email).executeTakeFirstOrThrow();

    const answer = await fetch(`${a!.url}/scim/v2/Users/${user.id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${SCIM_TOKEN}`, 'content-type': 'application/scim+json' },
      body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', value: { active: false } }] }),
    });
    assert.equal(answer.status, 200, await answer.text());
    // A answered once it heard its own NOTIFY, which B hears at the same moment: B's next request is refused.
    const onB = await client.get(`${b!.url}/`);
    assert.match(onB.body, /You are not logged in/);
    assert.equal((await client.get(`${b!.url}/api/me`, { accept: 'application/json' })).status, 401);
    await handle!.db.updateTable('users').set({ is_active: 1 }).where('id', '=', user.id).execute();
  });
});
