/**
 * The one integration suite of the sign-in as a library, run through every adapter (the Fastify
 * plugin, Express 5, Express 4; test/support/adapters.ts): form login, the code flow with the
 * development provider, `next`, CSRF, logout, bearer tokens and back-channel logout must behave
 * the same whichever framework the host app is written in.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createUser, findUserByUsername } from '../src/accounts/users.ts';
import { sessionIdFor } from '../src/sessions/index.ts';
import { createHash } from 'node:crypto';
import { ADAPTERS, startAdapterApp, type AdapterApp, type Downstream } from './support/adapters.ts';
import { confirmProviderLogout, providerLogin } from './support/dev-stack.ts';
import { HttpClient, hiddenField } from './support/http-client.ts';
import { openRowTokens } from './support/session-tokens.ts';

const alice = { email: 'alice@example.com', password: 'wonderland' };
const bob = { email: 'bob@example.com', password: 'builder' };
const navigation = { accept: 'text/html', 'sec-fetch-mode': 'navigate' };
const SCIM_TOKEN = 'adapter-scim-token-0123456789abcdefghijklmnop';

interface Whoami {
  user: string | null;
  provider: string | null;
  csrf: string;
}

for (const adapter of ADAPTERS) {
  describe(`the sign-in through the ${adapter} adapter`, () => {
    let s: AdapterApp;
    before(async () => {
      s = await startAdapterApp(adapter, { SCIM_TOKENS: SCIM_TOKEN, ROLE_RULES: JSON.stringify({ Support: ['support'] }) });
      await createUser(s.database.db, { username: 'carol', email: 'carol@example.com', password: 'carol password' });
    });
    after(() => s.close());

    const whoami = async (client: HttpClient): Promise<Whoami> => JSON.parse((await client.get(`${s.url}/`)).body) as Whoami;

    async function formLogin(client: HttpClient, fields: Record<string, string> = {}) {
      const page = await client.get(`${s.url}/accounts/login/`);
      assert.equal(page.status, 200);
      return client.post(`${s.url}/accounts/login/`, {
        _csrf: hiddenField(page.body, '_csrf'), username: 'carol', password: 'carol password', ...fields,
      });
    }

    /** alice's access token, as the app keeps it in her session row after a code-flow login. */
    async function accessToken(client: HttpClient): Promise<string> {
      const id = sessionIdFor(client.cookie(s.url, 'oc_session')!);
      const row = await s.database.db.selectFrom('sessions').select('data').where('id', '=', id).executeTakeFirstOrThrow();
      return (await openRowTokens(s.config.sessionSecret, row.data)).accessToken!;
    }

    test('accessToken(): a provider session\'s access token, which the provider\'s userinfo takes; a local session has none', async () => {
      const client = new HttpClient();
      assert.equal((await providerLogin(client, s.url, alice)).status, 302);
      const answer = await client.get(`${s.url}/downstream`);
      assert.equal(answer.status, 200, answer.body);
      const body = JSON.parse(answer.body) as Downstream;
      assert.equal(body.type, 'Bearer');
      assert.ok(body.expiresAt! > Date.now() + 60_000, 'good for at least another minute');
      assert.equal(body.token, createHash('sha256').update(await accessToken(client)).digest('base64url'), 'the session\'s own token');
      assert.deepEqual([body.userinfo?.status, body.userinfo?.body['email']], [200, 'alice@example.com']);
      const carol = new HttpClient();
      assert.equal((await formLogin(carol)).status, 302);
      const none = await carol.get(`${s.url}/downstream`);
      assert.deepEqual([none.status, JSON.parse(none.body).error], [401, 'NO_PROVIDER_TOKENS']);
      const anonymous = await new HttpClient().get(`${s.url}/downstream`);
      assert.deepEqual([anonymous.status, JSON.parse(anonymous.body).error], [401, 'LOGIN_REQUIRED']);
    });

    test('our pages are ours and the host\'s are the host\'s', async () => {
      const client = new HttpClient();
      const login = await client.get(`${s.url}/accounts/login/`);
      assert.match(login.body, /Log In with Okta/);
      assert.match(login.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
      assert.equal((await client.get(`${s.url}/oidc-connect/static/app.css`)).status, 200);
      const ours = await client.get(`${s.url}/accounts/nothing/`);
      assert.equal(ours.status, 404);
      assert.match(ours.body, /Page not found/);
      const theirs = await client.get(`${s.url}/nothing`);
      assert.equal(theirs.status, 404);
      assert.doesNotMatch(theirs.body, /Page not found/);
      assert.deepEqual(JSON.parse((await client.get(`${s.url}/healthz`)).body), { status: 'ok' });
      assert.equal((await whoami(client)).user, null);
    });

    test('form login: carol signs in and comes back to next; the host sees her', async () => {
      const client = new HttpClient();
      const wrong = await formLogin(client, { password: 'not it' });
      assert.equal(wrong.status, 401);
      assert.match(wrong.body, /Please enter a correct username and password/);
      const done = await formLogin(client, { next: '/private?tab=1' });
      assert.equal(done.status, 302);
      assert.equal(done.location, `${s.url}/private?tab=1`);
      assert.deepEqual(JSON.parse((await client.get(done.location!)).body), { private: 'carol' });
      assert.equal((await whoami(client)).user, 'carol');
    });

    test('code flow: alice signs in at the development provider and lands on next', async () => {
      const client = new HttpClient();
      const done = await providerLogin(client, s.url, alice, '/private');
      assert.equal(done.status, 302);
      assert.equal(done.location, `${s.url}/private`);
      assert.deepEqual(JSON.parse((await client.get(done.location!)).body), { private: 'alice' });
      const seen = await whoami(client);
      assert.deepEqual([seen.user, seen.provider], ['alice', 'default']);
    });

    test('next: requireLogin sends page loads to the login page and back; other sites are never a target', async () => {
      const client = new HttpClient();
      const page = await client.get(`${s.url}/private?tab=2`, navigation);
      assert.equal(page.status, 302);
      assert.equal(page.location, `${s.url}/accounts/login/?next=%2Fprivate%3Ftab%3D2`);
      const api = await client.get(`${s.url}/private`, { accept: 'application/json' });
      assert.equal(api.status, 401);
      assert.match(api.body, /"LOGIN_REQUIRED"/); // Fastify's host answers through its own error handler, as `code`
      const offsiteForm = await formLogin(new HttpClient(), { next: '//evil.example/x' });
      assert.equal(offsiteForm.location, `${s.url}/`);
      const offsite = await providerLogin(new HttpClient(), s.url, bob, 'https://evil.example/');
      assert.equal(offsite.location, `${s.url}/`);
    });

    test('CSRF: forms without their token are refused, and change nothing', async () => {
      const forged = await new HttpClient().post(`${s.url}/accounts/login/`, { username: 'carol', password: 'carol password' });
      assert.equal(forged.status, 403);
      assert.match(forged.body, /CSRF_INVALID/);
      const client = new HttpClient();
      assert.equal((await formLogin(client)).status, 302);
      const stranger = new HttpClient();
      const theirs = JSON.parse((await stranger.get(`${s.url}/`)).body) as Whoami;
      const out = await client.post(`${s.url}/accounts/logout/`, { _csrf: theirs.csrf });
      assert.equal(out.status, 403, 'another browser\'s token is no good here');
      assert.equal((await client.post(`${s.url}/accounts/logout/`, {})).status, 403);
      assert.equal((await whoami(client)).user, 'carol');
    });

    test('CSRF: a double-submit pair planted in a signed-in browser forges nothing; the host page\'s token is the session\'s (issue 17, finding 4)', async () => {
      // An anonymous browser is given a double-submit secret (cookie) and its token by the host page.
      const attacker = new HttpClient();
      const planted = (await whoami(attacker)).csrf;
      const secret = attacker.cookie(s.url, 'oc_csrf');
      assert.ok(secret, 'an anonymous host page sets the double-submit cookie');
      // A sibling subdomain can plant that cookie where the cookie has no __Host- prefix (http APP_URL).
      const client = new HttpClient();
      assert.equal((await formLogin(client)).status, 302);
      client.setCookie(s.url, 'oc_csrf', secret);
      const forged = await client.post(`${s.url}/accounts/logout/`, { _csrf: planted });
      assert.equal(forged.status, 403);
      assert.match(forged.body, /CSRF_INVALID/);
      assert.equal((await whoami(client)).user, 'carol');
      const row = await s.database.db.selectFrom('sessions').select('csrf')
        .where('id', '=', sessionIdFor(client.cookie(s.url, 'oc_session')!)).executeTakeFirstOrThrow();
      assert.equal((await whoami(client)).csrf, row.csrf, 'signed in, the host page is given the session\'s own token');
    });

    test('logout: with the host page\'s token, a local session ends and lands on / with the notice flag', async () => {
      const client = new HttpClient();
      assert.equal((await formLogin(client)).status, 302);
      const cookie = client.cookie(s.url, 'oc_session')!;
      const out = await client.post(`${s.url}/accounts/logout/`, { _csrf: (await whoami(client)).csrf });
      assert.equal(out.status, 302);
      assert.equal(out.location, `${s.url}/?logged_out=1`);
      assert.equal((await whoami(client)).user, null);
      const replay = new HttpClient();
      replay.setCookie(s.url, 'oc_session', cookie);
      assert.equal((await whoami(replay)).user, null, 'the session is over on the server');
    });

    test('logout: a provider session ends at the provider too, and comes back', async () => {
      const client = new HttpClient();
      await providerLogin(client, s.url, alice);
      const out = await client.post(`${s.url}/accounts/logout/`, { _csrf: (await whoami(client)).csrf });
      assert.equal(out.status, 302);
      const logout = new URL(out.location!);
      assert.equal(logout.origin + logout.pathname, `${s.idp.issuer}/v1/logout`);
      assert.ok(logout.searchParams.get('id_token_hint'));
      assert.equal(logout.searchParams.get('post_logout_redirect_uri'), `${s.url}/signout/callback`);
      const hops = await confirmProviderLogout(client, await client.get(out.location!));
      assert.ok(hops.some((hop) => hop.url.startsWith(`${s.url}/signout/callback`)), 'the provider sent the browser back');
      assert.equal((await whoami(client)).user, null);
    });

    test('bearer: requireBearer takes the provider\'s access token, refuses others per RFC 6750', async () => {
      const client = new HttpClient();
      await providerLogin(client, s.url, alice);
      const token = await accessToken(client);
      const call = (path: string, authorization?: string) =>
        new HttpClient().get(`${s.url}${path}`, { accept: 'application/json', ...(authorization ? { authorization } : {}) });

      const ok = await call('/api/things', `Bearer ${token}`);
      assert.equal(ok.status, 200, ok.body);
      assert.deepEqual(JSON.parse(ok.body), { user: 'alice', subject: JSON.parse(ok.body).subject });
      const me = JSON.parse((await call('/api/me', `Bearer ${token}`)).body);
      assert.deepEqual([me.username, me.auth], ['alice', 'bearer']);

      const none = await call('/api/things');
      assert.equal(none.status, 401);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer');
      const bad = await call('/api/things', `Bearer ${token.slice(0, -4)}AAAA`);
      assert.equal(bad.status, 401);
      assert.match(bad.headers.get('www-authenticate') ?? '', /^Bearer error="invalid_token"/);
      const malformed = await call('/api/things', 'Bearer two words');
      assert.equal(malformed.status, 400);
      assert.match(malformed.headers.get('www-authenticate') ?? '', /error="invalid_request"/);
      const scope = await call('/api/admin-things', `Bearer ${token}`);
      assert.equal(scope.status, 403);
      assert.match(scope.headers.get('www-authenticate') ?? '', /error="insufficient_scope", .*scope="admin"/);
      assert.deepEqual(Object.keys(JSON.parse(scope.body)), ['error', 'message']);

      // A Bearer header is the request's only credential: the session cookie riding along is not used.
      const both = await client.get(`${s.url}/`, { authorization: 'Bearer not-a-token' });
      assert.equal((JSON.parse(both.body) as Whoami).user, null);
    });

    test('roles: requireLogin({ roles }) and requireBearer({ roles }) let a user with the role in and refuse one without (page navigation: 403 page; API: 403 FORBIDDEN JSON; bearer: 403 insufficient_scope); a role SCIM takes away is gone at the next request', async () => {
      const carol = new HttpClient();
      assert.equal((await formLogin(carol)).status, 302);
      const aliceClient = new HttpClient();
      await providerLogin(aliceClient, s.url, alice);
      const token = await accessToken(aliceClient);
      const page = () => carol.get(`${s.url}/support`, navigation);
      const api = () => carol.get(`${s.url}/support`, { accept: 'application/json' });
      const bearer = () => new HttpClient().get(`${s.url}/api/support-things`, { accept: 'application/json', authorization: `Bearer ${token}` });
      const scim = async (method: string, path: string, body: unknown) => {
        const response = await fetch(`${s.url}/scim/v2${path}`, {
          method, headers: { authorization: `Bearer ${SCIM_TOKEN}`, 'content-type': 'application/scim+json' }, body: JSON.stringify(body),
        });
        return { status: response.status, body: await response.text() };
      };
      const refused = async () => {
        const html = await page();
        assert.equal(html.status, 403);
        assert.match(html.headers.get('content-type') ?? '', /^text\/html/);
        assert.match(html.body, /Access denied/);
        assert.match(html.body, /This page needs the role support\./);
        const json = await api();
        assert.equal(json.status, 403);
        assert.match(json.headers.get('content-type') ?? '', /^application\/json/);
        assert.match(json.body, /"FORBIDDEN"/); // Fastify's host answers through its own error handler, as `code`
        const token = await bearer();
        assert.equal(token.status, 403);
        assert.equal(token.headers.get('www-authenticate'),
          'Bearer error="insufficient_scope", error_description="This request needs the role support.", scope="email"');
        assert.deepEqual(JSON.parse(token.body), { error: 'INSUFFICIENT_SCOPE', message: 'This request needs the role support.' });
      };

      await refused();
      const ids = await Promise.all(['carol', 'alice'].map(async (name) => String((await findUserByUsername(s.database.db, name))!.id)));
      const group = await scim('POST', '/Groups', {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Support', members: ids.map((value) => ({ value })),
      });
      assert.equal(group.status, 201, group.body);
      assert.deepEqual(JSON.parse((await page()).body), { support: 'carol' });
      assert.deepEqual(JSON.parse((await api()).body), { support: 'carol' });
      const allowed = await bearer();
      assert.equal(allowed.status, 200, allowed.body);
      assert.deepEqual(JSON.parse(allowed.body), { support: 'alice' });

      const removed = await scim('PATCH', `/Groups/${JSON.parse(group.body).id}`, {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
        Operations: ids.map((id) => ({ op: 'remove', path: `members[value eq "${id}"]` })),
      });
      assert.equal(removed.status, 204, removed.body);
      await refused();
      const anonymous = await new HttpClient().get(`${s.url}/support`, navigation);
      assert.equal(anonymous.status, 302, 'no user: still the login page, not a 403');
    });

    test('DPoP: a route that requires it refuses a Bearer token with a DPoP challenge; an unbound token sent as DPoP is refused', async () => {
      const client = new HttpClient();
      await providerLogin(client, s.url, alice);
      const token = await accessToken(client);
      const bearer = await new HttpClient().get(`${s.url}/api/dpop-things`, { authorization: `Bearer ${token}` });
      assert.equal(bearer.status, 401);
      assert.match(bearer.headers.get('www-authenticate')!, /^DPoP error="invalid_token", error_description="This API takes DPoP-bound access tokens only\.", algs="ES256 /);
      const none = await new HttpClient().get(`${s.url}/api/dpop-things`);
      assert.match(none.headers.get('www-authenticate')!, /^DPoP algs="/);
      const unbound = await new HttpClient().get(`${s.url}/api/things`, { authorization: `DPoP ${token}`, dpop: 'x.y.z' });
      assert.equal(unbound.status, 401);
      assert.equal(JSON.parse(unbound.body).error, 'INVALID_TOKEN');
      assert.match(unbound.headers.get('www-authenticate')!, /not DPoP-bound/);
    });

    test('back-channel logout: signing out at the provider ends this app\'s session', async () => {
      const client = new HttpClient();
      await providerLogin(client, s.url, bob);
      assert.equal((await whoami(client)).user, 'bob');
      const page = await client.get(`${s.idp.issuer}/v1/logout`);
      const action = /<form id="logout-form" method="post" action="([^"]+)"/.exec(page.body)![1]!.replace(/&amp;/g, '&');
      const xsrf = hiddenField(page.body, 'xsrf');
      await client.follow(await client.post(new URL(action, page.url).href, { xsrf, logout: 'yes' }));
      assert.equal((await whoami(client)).user, null);
      const refused = await new HttpClient().post(`${s.url}/oidc/backchannel-logout`, { logout_token: 'not.a.token' });
      assert.equal(refused.status, 400);
      assert.equal(JSON.parse(refused.body).error, 'invalid_request');
    });

    test('the host\'s own bodies reach its routes untouched', async () => {
      const client = new HttpClient();
      const form = await client.post(`${s.url}/echo`, { a: '1', b: 'two words' });
      assert.deepEqual(JSON.parse(form.body), { body: { a: '1', b: 'two words' } });
      const json = await fetch(`${s.url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"list":[1,2]}' });
      assert.deepEqual(await json.json(), { body: { list: [1, 2] } });
    });
  });
}
