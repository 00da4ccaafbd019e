import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createUser } from '../src/accounts/users.ts';
import { changing } from '../src/db/change-feed.ts';
import type { ProviderTokens } from '../src/rp/session-tokens.ts';
import { sessionIdFor } from '../src/sessions/index.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { providerLogin, startDevStack, type DevStack } from './support/dev-stack.ts';
import { startFakeOp, type FakeOp } from './support/fake-op.ts';
import { HttpClient, hiddenField } from './support/http-client.ts';
import { openRowTokens, sealRowTokens } from './support/session-tokens.ts';

const alice = { email: 'alice@example.com', password: 'wonderland' };

async function tokensOf(app: TestApp, client: HttpClient): Promise<ProviderTokens> {
  const id = sessionIdFor(client.cookie(app.url, 'oc_session')!);
  const row = await app.database.db.selectFrom('sessions').select('data').where('id', '=', id).executeTakeFirstOrThrow();
  return openRowTokens(app.config.sessionSecret, row.data);
}

/** Rewrites the session's tokens as a refresh would, announced like one, so that the session cache lets the old ones go. */
async function patchTokens(app: TestApp, client: HttpClient, patch: Partial<ProviderTokens>): Promise<void> {
  const id = sessionIdFor(client.cookie(app.url, 'oc_session')!);
  const tokens = { ...(await tokensOf(app, client)), ...patch };
  await changing(app.database.db, async (db) => db.updateTable('sessions').set({ data: await sealRowTokens(app.config.sessionSecret, tokens) }).where('id', '=', id).execute(), () => [{ kind: 'session', id }]);
}

/** The fake provider redirects straight back, so a login is three hops. */
async function fakeLogin(app: TestApp, client: HttpClient): Promise<void> {
  const start = await client.get(`${app.url}/authorization-code/authenticate/`);
  const back = await client.get(start.location!);
  const done = await client.get(back.location!);
  assert.equal(done.status, 302, done.body);
}

describe('refresh tokens', () => {
  let op: FakeOp;
  let app: TestApp;
  before(async () => {
    op = await startFakeOp({ issueRefreshToken: true, claims: { email: 'rita@example.com', email_verified: true, preferred_username: 'rita' } });
    app = await startTestApp({ OIDC_ISSUER: op.issuer, OIDC_RP_CLIENT_ID: 'test-client', OIDC_RP_CLIENT_SECRET: 'test-secret', OIDC_RP_SCOPES: 'openid email profile offline_access' });
  });
  after(async () => {
    await app.close();
    await op.close();
  });
  const tokenCalls = () => op.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/v1/token')).length;

  test('an expired access token is refreshed once, even by concurrent requests', async () => {
    const client = new HttpClient();
    await fakeLogin(app, client);
    const before = await tokensOf(app, client);
    assert.ok(before.refreshToken, 'a refresh token is kept when the provider gives one');
    assert.equal(before.renewAt, undefined);
    await patchTokens(app, client, { expiresAt: Date.now() - 1000 });
    const calls = tokenCalls();
    const pages = await Promise.all(Array.from({ length: 6 }, () => client.get(`${app.url}/`)));
    for (const page of pages) assert.match(page.body, /Hi rita - rita@example.com!/);
    assert.equal(tokenCalls(), calls + 1, 'exactly one refresh grant');
    const after = await tokensOf(app, client);
    assert.notEqual(after.accessToken, before.accessToken);
    assert.notEqual(after.refreshToken, before.refreshToken, 'the rotated refresh token is kept');
    assert.ok(after.expiresAt! > Date.now());

    // The rotated token works for the next refresh (it was not lost to a race).
    await patchTokens(app, client, { expiresAt: Date.now() - 1000 });
    assert.match((await client.get(`${app.url}/`)).body, /Hi rita/);
    assert.equal(tokenCalls(), calls + 2);
  });

  test('a refresh the provider refuses ends the local session', async () => {
    const client = new HttpClient();
    await fakeLogin(app, client);
    await patchTokens(app, client, { expiresAt: Date.now() - 1000, refreshToken: 'revoked-or-unknown' });
    const page = await client.get(`${app.url}/`);
    assert.match(page.body, /You are not logged in/);
    assert.equal((await client.get(`${app.url}/api/me`)).status, 401);
  });

  test('a provider that is down keeps the session (retry later)', async () => {
    const client = new HttpClient();
    await fakeLogin(app, client);
    await patchTokens(app, client, { expiresAt: Date.now() - 1000 });
    op.setFault('token-500');
    try {
      assert.match((await client.get(`${app.url}/`)).body, /Hi rita/);
    } finally {
      op.setFault('none');
    }
    assert.match((await client.get(`${app.url}/`)).body, /Hi rita/);
    assert.ok((await tokensOf(app, client)).expiresAt! > Date.now(), 'refreshed on the next request');
  });
});

describe('silent re-authentication without refresh tokens (prompt=none)', () => {
  let s: DevStack;
  before(async () => {
    // Without PAR, so that the tests can read prompt in the query (with PAR: test/par.test.ts).
    s = await startDevStack({ OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS: '60', OIDC_USE_PAR: 'off' });
  });
  after(() => s.close());

  test('the renewal time is set at login, OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS (60) after it', async () => {
    const client = new HttpClient();
    const before = Date.now();
    await providerLogin(client, s.app.url, alice);
    const after = Date.now();
    const tokens = await tokensOf(s.app, client);
    assert.equal(tokens.refreshToken, undefined);
    assert.ok(tokens.renewAt! >= before + 60_000 && tokens.renewAt! <= after + 60_000, `${tokens.renewAt! - before} ms after the login began`);
  });

  test('a page navigation is sent through prompt=none and comes back logged in', async () => {
    const client = new HttpClient();
    await providerLogin(client, s.app.url, alice);
    const oldCookie = client.cookie(s.app.url, 'oc_session');
    await patchTokens(s.app, client, { renewAt: Date.now() - 1 });
    const page = await client.get(`${s.app.url}/api/me?x=1`, { accept: 'text/html', 'sec-fetch-mode': 'navigate' });
    assert.equal(page.status, 302, page.body);
    const renew = new URL(page.location!);
    assert.equal(renew.pathname, '/authorization-code/renew/');
    assert.equal(renew.searchParams.get('next'), '/api/me?x=1');
    const hops = await client.follow(page);
    const authorize = hops.find((h) => h.url.includes('/v1/authorize'));
    assert.equal(new URL(authorize!.url).searchParams.get('prompt'), 'none');
    assert.equal(hops.at(-1)!.status, 200);
    assert.match(hops.at(-1)!.url, /\/api\/me\?x=1$/);
    assert.equal(JSON.parse(hops.at(-1)!.body).username, 'alice');
    assert.notEqual(client.cookie(s.app.url, 'oc_session'), oldCookie, 'a new session after renewal');
    assert.ok((await tokensOf(s.app, client)).renewAt! > Date.now());
  });

  test('a write or a fetch gets a 401 JSON with the refresh URL, and nothing goes through', async () => {
    const client = new HttpClient();
    await providerLogin(client, s.app.url, alice);
    await patchTokens(s.app, client, { renewAt: Date.now() - 1 });
    const post = await client.post(`${s.app.url}/accounts/password_change/`, { old_password: 'x', new_password1: 'yyyyyyyy', new_password2: 'yyyyyyyy' });
    assert.equal(post.status, 401);
    const body = JSON.parse(post.body);
    assert.equal(body.error, 'SESSION_RENEWAL_REQUIRED');
    assert.match(body.refresh_url, /\/authorization-code\/renew\/\?next=%2Faccounts%2Fpassword_change%2F$/);
    const xhr = await client.get(`${s.app.url}/api/me`, { accept: 'application/json', 'sec-fetch-mode': 'cors' });
    assert.equal(xhr.status, 401);
    assert.equal(JSON.parse(xhr.body).error, 'SESSION_RENEWAL_REQUIRED');
  });

  test('a Bearer header does not let a session due for renewal through: the token or the cookie, never a bad token plus a cookie', async () => {
    const client = new HttpClient();
    await providerLogin(client, s.app.url, alice);
    const home = await client.get(`${s.app.url}/`);
    const csrf = hiddenField(home.body, '_csrf');
    const { accessToken } = await tokensOf(s.app, client);
    await patchTokens(s.app, client, { renewAt: Date.now() - 1 });
    const bogus = { authorization: 'Bearer x' };

    const page = await client.get(`${s.app.url}/`, bogus);
    assert.match(page.body, /You are not logged in/, 'the cookie does not sign in a request that carries a Bearer header');
    const write = await client.post(`${s.app.url}/accounts/password_change/`, { _csrf: csrf, old_password: 'x', new_password1: 'yyyyyyyy', new_password2: 'yyyyyyyy' }, bogus);
    // The write is treated as anonymous, not as alice: her session's form token does not fit a request without her session.
    assert.equal(write.status, 403, write.body);
    assert.match(write.body, /CSRF_INVALID/);
    const me = await client.get(`${s.app.url}/api/me`, { ...bogus, accept: 'application/json', 'sec-fetch-mode': 'cors' });
    assert.equal(me.status, 401);
    assert.equal(JSON.parse(me.body).error, 'INVALID_TOKEN');

    // A valid token authenticates by itself, so the cookie's renewal does not stand in its way.
    const api = await client.get(`${s.app.url}/api/me`, { authorization: `Bearer ${accessToken}`, accept: 'application/json', 'sec-fetch-mode': 'cors' });
    assert.equal(api.status, 200, api.body);
    assert.deepEqual([JSON.parse(api.body).auth, JSON.parse(api.body).username], ['bearer', 'alice']);
    // Without a Bearer header the cookie session is still held to its renewal.
    const renew = await client.get(`${s.app.url}/api/me`, { accept: 'application/json', 'sec-fetch-mode': 'cors' });
    assert.equal(JSON.parse(renew.body).error, 'SESSION_RENEWAL_REQUIRED');
  });

  test('a cross-site GET cannot start a prompt=none login that logs out a local session', async () => {
    await createUser(s.app.database.db, { username: 'lena', email: 'lena@example.com', password: 'lena password' });
    const client = new HttpClient();
    const form = await client.get(`${s.app.url}/accounts/login/`);
    await client.post(`${s.app.url}/accounts/login/`, { _csrf: hiddenField(form.body, '_csrf'), username: 'lena', password: 'lena password' });
    assert.match((await client.get(`${s.app.url}/`)).body, /Hi lena/);

    // What an <img> or a link on another site can make the browser request, with its cookies.
    for (const path of ['/authorization-code/authenticate/?prompt=none', '/authorization-code/renew/']) {
      const start = await client.get(`${s.app.url}${path}`);
      assert.equal(start.status, 302, path);
      const authorize = new URL(start.location!, s.app.url);
      if (authorize.origin === s.app.url) continue; // nothing to renew: no flow started
      assert.notEqual(authorize.searchParams.get('prompt'), 'none', `${path} must not ask for prompt=none`);
      // The provider answers login_required, as it would to prompt=none from a browser it doesn't know.
      const callback = await client.get(`${s.app.url}/authorization-code/callback?${new URLSearchParams({ error: 'login_required', state: authorize.searchParams.get('state')! })}`);
      assert.ok(callback.status >= 400 && callback.status < 500, `${path}: an error page, not a logout (${callback.status})`);
    }
    assert.match((await client.get(`${s.app.url}/`)).body, /Hi lena - lena@example.com!/, 'the local session is alive');
  });

  test('when the provider session is over, the local session ends and the login page follows', async () => {
    const browser = new HttpClient();
    await providerLogin(browser, s.app.url, alice);
    await patchTokens(s.app, browser, { renewAt: Date.now() - 1 });
    // Same app session, but a browser without the provider's cookies: prompt=none can't succeed.
    const other = new HttpClient();
    other.setCookie(s.app.url, 'oc_session', browser.cookie(s.app.url, 'oc_session')!);
    const hops = await other.follow(await other.get(`${s.app.url}/`, { 'sec-fetch-mode': 'navigate' }));
    const last = hops.at(-1)!;
    assert.equal(last.status, 200);
    assert.match(last.url, /\/accounts\/login\/\?next=%2F$/);
    assert.match((await browser.get(`${s.app.url}/`)).body, /You are not logged in/);
  });
});
