import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createUser } from '../src/accounts/users.ts';
import { changing } from '../src/db/change-feed.ts';
import { DEMO_USERS, startDevIdp } from '../src/dev-idp/index.ts';
import { sessionIdFor } from '../src/sessions/index.ts';
import { confirmProviderLogout, providerLogin, startDevStack, type DevStack } from './support/dev-stack.ts';
import { HttpClient, hiddenField } from './support/http-client.ts';
import { signInRows } from './support/rows.ts';
import { databaseTargets, type TestDatabase } from './support/postgres.ts';
import { openRowTokens } from './support/session-tokens.ts';

const alice = { email: 'alice@example.com', password: 'wonderland' };
const bob = { email: 'bob@example.com', password: 'builder' };


// The main flow on SQLite and on PostgreSQL (TEST_DATABASE_URL; see test/support/postgres.ts).
for (const target of databaseTargets) {
  describe(`Log In with Okta against the development provider, on ${target.name}`, { skip: target.skip }, () => {
    let s: DevStack;
    let database: TestDatabase;
    before(async () => {
      database = await target.create();
      s = await startDevStack({ DATABASE_URL: database.url });
    });
    after(async () => {
      await s.close();
      await database.drop();
    });

    test('alice logs in, next is carried through, tokens stay on the server', async () => {
      const client = new HttpClient();
      const page = await client.get(`${s.app.url}/accounts/login/?next=/api/me`);
      assert.match(page.body, /Log In with Okta/);
      const start = await client.get(`${s.app.url}/authorization-code/authenticate/?next=%2Fapi%2Fme`);
      assert.equal(start.status, 302);
      const authorize = new URL(start.location!);
      assert.equal(authorize.origin + authorize.pathname, `${s.idp.issuer}/v1/authorize`);
      // The development provider offers PAR (OIDC_USE_PAR=auto): the request was pushed, and the
      // browser carries its request_uri only (the parameters themselves: test/par.test.ts).
      assert.deepEqual([...authorize.searchParams.keys()].sort(), ['client_id', 'request_uri']);

      const done = await providerLogin(client, s.app.url, alice, '/api/me');
      assert.equal(done.status, 302);
      assert.equal(done.location, `${s.app.url}/api/me`);
      const me = JSON.parse((await client.get(done.location!)).body);
      assert.equal(me.username, 'alice');
      assert.equal(me.email, 'alice@example.com');
      assert.equal(me.first_name, 'Alice');
      assert.equal(me.last_name, 'Liddell');
      assert.equal(me.provider, 'default');
      assert.match((await client.get(`${s.app.url}/`)).body, /Hi alice - alice@example.com!/);

      const cookie = client.cookie(s.app.url, 'oc_session')!;
      assert.ok(!cookie.includes('.'), 'the cookie is an opaque secret, not a token');
      const row = await s.app.database.db.selectFrom('sessions').select(['data', 'provider', 'provider_sid']).orderBy('created', 'desc').executeTakeFirstOrThrow();
      const tokens = await openRowTokens(s.app.config.sessionSecret, row.data);
      assert.ok(tokens.idToken && tokens.accessToken, 'tokens are kept in the session row');
      for (const token of [tokens.idToken, tokens.accessToken]) assert.ok(!row.data.includes(token), 'sealed: no token in the clear in the row');
      assert.equal(row.provider, 'default');
      const identity = await s.app.database.db.selectFrom('identities').selectAll().where('subject', '=', DEMO_USERS[0]!.sub).executeTakeFirstOrThrow();
      assert.equal(identity.issuer, s.idp.issuer);
    });

    test('bob logs in too; a second login reuses the identity and refreshes the profile', async () => {
      const first = await providerLogin(new HttpClient(), s.app.url, bob);
      assert.equal(first.status, 302);
      const before = await signInRows(s.app.database.db);
      const user = await s.app.database.db.selectFrom('users').selectAll().where('username', '=', 'bob').executeTakeFirstOrThrow();
      await s.app.database.db.updateTable('users').set({ email: 'stale@example.com', first_name: 'Old' }).where('id', '=', user.id).execute();

      const client = new HttpClient();
      assert.equal((await providerLogin(client, s.app.url, bob, '/api/me')).status, 302);
      const me = JSON.parse((await client.get(`${s.app.url}/api/me`)).body);
      assert.equal(me.id, user.id);
      assert.equal(me.email, 'bob@example.com');
      assert.equal(me.first_name, 'Bob');
      const afterCounts = await signInRows(s.app.database.db);
      assert.equal(afterCounts.users, before.users);
      assert.equal(afterCounts.identities, before.identities);
    });

    test('logins started in several tabs all finish', async () => {
      const client = new HttpClient();
      const tab1 = await client.get(`${s.app.url}/authorization-code/authenticate/?next=/one`);
      const tab2 = await client.get(`${s.app.url}/authorization-code/authenticate/?next=/two`);
      assert.notEqual(new URL(tab1.location!).searchParams.get('request_uri'), new URL(tab2.location!).searchParams.get('request_uri'));
      const second = await providerLogin(client, s.app.url, alice, '/two');
      assert.equal(second.location, `${s.app.url}/two`);
      // Tab 1 continues its own flow; the provider already knows the browser.
      let hop = await client.get(tab1.location!);
      while (!hop.url.startsWith(`${s.app.url}/authorization-code/callback`)) hop = await client.get(hop.location!);
      assert.equal(hop.status, 302);
      assert.equal(hop.location, `${s.app.url}/one`);
    });

    test('logout ends the local session, then the provider session, and comes back', async () => {
      const client = new HttpClient();
      await providerLogin(client, s.app.url, alice);
      const cookie = client.cookie(s.app.url, 'oc_session')!;
      const home = await client.get(`${s.app.url}/`);
      const out = await client.post(`${s.app.url}/accounts/logout/`, { _csrf: hiddenField(home.body, '_csrf') });
      assert.equal(out.status, 302);
      const logout = new URL(out.location!);
      assert.equal(logout.origin + logout.pathname, `${s.idp.issuer}/v1/logout`);
      assert.ok(logout.searchParams.get('id_token_hint'));
      assert.equal(logout.searchParams.get('post_logout_redirect_uri'), `${s.app.url}/signout/callback`);
      // Logged out locally before the provider is even asked.
      const replay = new HttpClient();
      replay.setCookie(s.app.url, 'oc_session', cookie);
      assert.match((await replay.get(`${s.app.url}/`)).body, /You are not logged in/);

      const confirm = await client.get(out.location!);
      const hops = await confirmProviderLogout(client, confirm);
      assert.ok(hops.some((h) => h.url.startsWith(`${s.app.url}/signout/callback`)), 'the provider sent the browser back');
      assert.match(hops.at(-1)!.body, /You are not logged in/);
      // The provider session is over too: the next login asks for the password again.
      const again = await client.get(`${s.app.url}/authorization-code/authenticate/`);
      let hop = await client.get(again.location!);
      while (hop.status >= 300 && hop.status < 400) hop = await client.get(hop.location!);
      assert.match(hop.body, /name="password"/);
    });
  });
}

describe('a restart of the development provider', () => {
  test('keeps logged-in app sessions working, and logins keep working after it', async () => {
    const s = await startDevStack({ OIDC_RP_SCOPES: 'openid email profile offline_access' });
    let idp = s.idp;
    try {
      const client = new HttpClient();
      assert.equal((await providerLogin(client, s.app.url, alice)).status, 302);
      await idp.close();
      idp = await startDevIdp({ port: s.idp.port, appUrl: s.app.url, dataDir: s.app.dir });
      assert.match((await client.get(`${s.app.url}/`)).body, /Hi alice - alice@example.com!/);
      // The refresh token was kept across the restart (grants persist in ./data).
      const id = sessionIdFor(client.cookie(s.app.url, 'oc_session')!);
      const row = await s.app.database.db.selectFrom('sessions').select('data').where('id', '=', id).executeTakeFirstOrThrow();
      const tokens = await openRowTokens(s.app.config.sessionSecret, row.data);
      // Expired, announced as a refresh would be, so that the session cache lets the old tokens go.
      await changing(s.app.database.db, (db) => db.updateTable('sessions').set({ data: JSON.stringify({ ...JSON.parse(row.data), expiresAt: Date.now() - 1000 }) }).where('id', '=', id).execute(), () => [{ kind: 'session', id }]);
      assert.match((await client.get(`${s.app.url}/`)).body, /Hi alice/);
      const after = await openRowTokens(s.app.config.sessionSecret, (await s.app.database.db.selectFrom('sessions').select('data').where('id', '=', id).executeTakeFirstOrThrow()).data);
      assert.notEqual(after.accessToken, tokens.accessToken, 'refreshed at the restarted provider');
      // Same keys: a fresh login's ID token verifies against the app's cached JWKS.
      assert.equal((await providerLogin(new HttpClient(), s.app.url, bob)).status, 302);
    } finally {
      await s.app.close();
      await idp.close();
    }
  });
});

describe('provisioning rules', () => {
  test('a verified email links to the existing local user', async () => {
    const s = await startDevStack();
    try {
      const local = await createUser(s.app.database.db, { username: 'alice.local', email: 'Alice@Example.com', password: 'local password' });
      const client = new HttpClient();
      assert.equal((await providerLogin(client, s.app.url, alice, '/api/me')).status, 302);
      const me = JSON.parse((await client.get(`${s.app.url}/api/me`)).body);
      assert.equal(me.id, local.id);
      assert.equal(me.username, 'alice.local');
      assert.equal((await signInRows(s.app.database.db)).users, 1);
    } finally {
      await s.close();
    }
  });

  test('an unverified email never links; a new user with a unique name is created', async () => {
    const s = await startDevStack({}, [{ email: 'alice@example.com', password: 'wonderland', preferred_username: 'alice', email_verified: false }]);
    try {
      const local = await createUser(s.app.database.db, { username: 'alice', email: 'alice@example.com', password: 'local password' });
      const client = new HttpClient();
      assert.equal((await providerLogin(client, s.app.url, alice, '/api/me')).status, 302);
      const me = JSON.parse((await client.get(`${s.app.url}/api/me`)).body);
      assert.notEqual(me.id, local.id);
      assert.equal(me.username, 'alice-2');
    } finally {
      await s.close();
    }
  });

  test('OIDC_LINK_BY_EMAIL=false creates a separate user even for a verified email', async () => {
    const s = await startDevStack({ OIDC_LINK_BY_EMAIL: 'false' });
    try {
      const local = await createUser(s.app.database.db, { username: 'someone', email: 'alice@example.com', password: 'local password' });
      const client = new HttpClient();
      await providerLogin(client, s.app.url, alice, '/api/me');
      const me = JSON.parse((await client.get(`${s.app.url}/api/me`)).body);
      assert.notEqual(me.id, local.id);
      assert.equal(me.username, 'alice');
    } finally {
      await s.close();
    }
  });

  test('OIDC_CREATE_USER=false refuses unknown people with a 403 page and writes nothing', async () => {
    const s = await startDevStack({ OIDC_CREATE_USER: 'false' });
    try {
      const client = new HttpClient();
      const result = await providerLogin(client, s.app.url, bob);
      assert.equal(result.status, 403);
      assert.match(result.body, /USER_CREATION_DISABLED/);
      assert.match(result.body, /Try again/);
      assert.deepEqual(await signInRows(s.app.database.db), { users: 0, identities: 0, sessions: 0 });
      // A user linked by verified email still gets in.
      await createUser(s.app.database.db, { username: 'bobby', email: 'bob@example.com', password: 'local password' });
      assert.equal((await providerLogin(new HttpClient(), s.app.url, bob)).status, 302);
    } finally {
      await s.close();
    }
  });

  test('OIDC_USERNAME_ALGO=sha224 names new users as the tutorial does', async () => {
    const s = await startDevStack({ OIDC_USERNAME_ALGO: 'sha224' });
    try {
      const client = new HttpClient();
      await providerLogin(client, s.app.url, alice, '/api/me');
      const me = JSON.parse((await client.get(`${s.app.url}/api/me`)).body);
      assert.equal(me.username, 'D7qn-SpH_jxSAel_BjmDxwJDLpDde_DHIzhlQw');
    } finally {
      await s.close();
    }
  });

  test('an inactive user is refused', async () => {
    const s = await startDevStack();
    try {
      await providerLogin(new HttpClient(), s.app.url, alice);
      await s.app.database.db.updateTable('users').set({ is_active: 0 }).where('username', '=', 'alice').execute();
      const before = await signInRows(s.app.database.db);
      const result = await providerLogin(new HttpClient(), s.app.url, alice);
      assert.equal(result.status, 403);
      assert.match(result.body, /USER_INACTIVE/);
      assert.deepEqual(await signInRows(s.app.database.db), before, 'nothing is written for a refused login');
    } finally {
      await s.close();
    }
  });
});

describe('claims checks', () => {
  test('OIDC_REQUIRED_GROUPS lets members in and refuses others with 403', async () => {
    const s = await startDevStack({ OIDC_REQUIRED_GROUPS: 'Admins' });
    try {
      assert.equal((await providerLogin(new HttpClient(), s.app.url, alice)).status, 302);
      const refused = await providerLogin(new HttpClient(), s.app.url, bob);
      assert.equal(refused.status, 403);
      assert.match(refused.body, /USER_NOT_ALLOWED/);
      const users = await s.app.database.db.selectFrom('users').select('username').execute();
      assert.deepEqual(users.map((u) => u.username), ['alice']);
    } finally {
      await s.close();
    }
  });

  test('OIDC_ALLOWED_EMAIL_DOMAINS refuses other domains with 403', async () => {
    const s = await startDevStack({ OIDC_ALLOWED_EMAIL_DOMAINS: 'corp.example' });
    try {
      const refused = await providerLogin(new HttpClient(), s.app.url, alice);
      assert.equal(refused.status, 403);
      assert.match(refused.body, /Access denied/);
      assert.deepEqual(await signInRows(s.app.database.db), { users: 0, identities: 0, sessions: 0 });
    } finally {
      await s.close();
    }
  });
});
