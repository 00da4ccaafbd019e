/**
 * Interop against a real LemonLDAP::NG 2.16 (Debian's liblemonldap-ng-portal-perl under plackup; see
 * test/support/lemonldap/), set up as docs/providers/lemonldap-ng.md says. The client id `my-app`
 * has a dash, which openid-client percent-encodes in Basic credentials and LemonLDAP::NG never
 * decodes: sign-in works only through client_secret_post, chosen by OIDC_RP_TOKEN_AUTH_METHOD or by
 * the automatic retry after Basic is refused with invalid_client.
 *
 * Skipped when the portal is not installed, except on CI, where it must run.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { checkSetup } from '../src/cli/check.ts';
import { freePort, startTestApp, type TestApp } from './support/app.ts';
import { isCi } from './support/browser.ts';
import { HttpClient, hiddenField, type Hop } from './support/http-client.ts';
import { lemonLdapIssuer, lemonLdapMissing, startLemonLdap, type LemonLdap } from './support/lemonldap/index.ts';
import { openRowTokens } from './support/session-tokens.ts';

const missing = lemonLdapMissing();
const skip = missing && !isCi() ? `${missing}; LemonLDAP::NG interop tests skipped outside CI` : false;

interface Stack {
  app: TestApp;
  op: LemonLdap;
  close(): Promise<void>;
}

/** The portal's port is chosen first: the app needs the issuer, the portal needs the app's URL. */
async function startStack(env: Record<string, string>): Promise<Stack> {
  const port = await freePort();
  const app = await startTestApp({
    OIDC_ISSUER: lemonLdapIssuer(port),
    OIDC_RP_CLIENT_ID: 'my-app',
    OIDC_RP_CLIENT_SECRET: 'interop-secret',
    OIDC_PROVIDER_NAME: 'LemonLDAP::NG',
    OIDC_RP_SCOPES: 'openid email profile groups',
    ...env,
  });
  try {
    const op = await startLemonLdap({ appUrl: app.url, port, clientId: 'my-app', clientSecret: 'interop-secret' });
    return { app, op, async close() { await app.close(); await op.stop(); } };
  } catch (error) {
    await app.close();
    throw error;
  }
}

/** "Log In with LemonLDAP::NG", then the portal's own login form (it posts back to the same URL). */
async function portalLogin(client: HttpClient, appUrl: string, user: string | null, next = '/'): Promise<Hop> {
  const start = await client.get(`${appUrl}/authorization-code/authenticate/?${new URLSearchParams({ next })}`);
  assert.equal(start.status, 302, start.body);
  let hop = await client.get(start.location!);
  while (!hop.url.startsWith(`${appUrl}/authorization-code/callback`)) {
    if (hop.status >= 300 && hop.status < 400 && hop.location) {
      hop = await client.get(hop.location);
    } else if (hop.status === 200 && /name="password"/.test(hop.body) && user) {
      hop = await client.post(hop.url, {
        user,
        password: user, // the Demo backend's passwords are the user names
        token: hiddenField(hop.body, 'token'),
        url: hiddenField(hop.body, 'url'),
        skin: 'bootstrap',
      });
      user = null;
    } else {
      throw new Error(`portal login stopped at ${hop.url} (${hop.status})`);
    }
  }
  return hop;
}

const methods: { name: string; env: Record<string, string> }[] = [
  { name: 'by the automatic retry with client_secret_post', env: {} },
  { name: 'with OIDC_RP_TOKEN_AUTH_METHOD=client_secret_post', env: { OIDC_RP_TOKEN_AUTH_METHOD: 'client_secret_post' } },
];

for (const method of methods) {
  describe(`LemonLDAP::NG: sign-in ${method.name}`, { skip }, () => {
    let s: Stack;
    before(async () => { s = await startStack(method.env); });
    after(async () => { await s?.close(); });

    test('dwho signs in through the code flow with PKCE; claims and groups arrive', async () => {
      const client = new HttpClient();
      const done = await portalLogin(client, s.app.url, 'dwho', '/api/me');
      assert.equal(done.status, 302, done.body);
      assert.equal(done.location, `${s.app.url}/api/me`);
      const me = JSON.parse((await client.get(done.location!)).body);
      assert.equal(me.username, 'dwho');
      assert.equal(me.email, 'dwho@badwolf.org');
    });
  });
}

describe('LemonLDAP::NG: check', { skip }, () => {
  let s: Stack;
  before(async () => { s = await startStack({}); });
  after(async () => { await s?.close(); });

  test('passes with warnings: the groups scope it does not list, and the switch to client_secret_post', async () => {
    const lines: string[] = [];
    const problems = await checkSetup(s.app.config, (line) => lines.push(line));
    assert.equal(problems, 0, lines.join('\n'));
    assert.ok(lines.some((l) => /^WARN LemonLDAP::NG: the provider does not list groups in scopes_supported/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^WARN LemonLDAP::NG refused our client credentials sent with client_secret_basic/.test(l)), lines.join('\n'));
    assert.ok(lines.includes('OK LemonLDAP::NG: the token endpoint accepts the client credentials'), lines.join('\n'));
  });
});

describe('LemonLDAP::NG: groups, bearer tokens and logout', { skip }, () => {
  let s: Stack;
  before(async () => { s = await startStack({ OIDC_REQUIRED_GROUPS: 'timelords' }); });
  after(async () => { await s?.close(); });

  test('OIDC_REQUIRED_GROUPS admits a member (groups is an array) and refuses others with 403', async () => {
    const member = await portalLogin(new HttpClient(), s.app.url, 'dwho');
    assert.equal(member.status, 302, member.body);
    const other = await portalLogin(new HttpClient(), s.app.url, 'rtyler');
    assert.equal(other.status, 403);
    assert.match(other.body, /timelords/);
  });

  test('the JWT access token works as a bearer token at /api/me', async () => {
    const client = new HttpClient();
    assert.equal((await portalLogin(client, s.app.url, 'dwho')).status, 302);
    const row = await s.app.database.db.selectFrom('sessions').select('data').orderBy('created', 'desc').executeTakeFirstOrThrow();
    const { accessToken } = await openRowTokens(s.app.config.sessionSecret, row.data);
    const api = await new HttpClient().get(`${s.app.url}/api/me`, { authorization: `Bearer ${accessToken}`, accept: 'application/json' });
    assert.equal(api.status, 200, api.body);
    assert.equal(JSON.parse(api.body).username, 'dwho');
  });

  test('logout ends the local and the portal session and comes back to /signout/callback', async () => {
    const client = new HttpClient();
    assert.equal((await portalLogin(client, s.app.url, 'dwho')).status, 302);
    const home = await client.get(`${s.app.url}/`);
    const out = await client.post(`${s.app.url}/accounts/logout/`, { _csrf: hiddenField(home.body, '_csrf') });
    assert.equal(out.status, 302);
    const logout = new URL(out.location!);
    assert.equal(logout.href.split('?')[0], `${s.op.issuer}oauth2/logout`);
    assert.ok(logout.searchParams.get('id_token_hint'));
    const hops = await client.follow(await client.get(out.location!));
    assert.ok(hops.some((h) => h.url.startsWith(`${s.app.url}/signout/callback`)), 'the portal sent the browser back');
    assert.match(hops.at(-1)!.body, /You are not logged in/);
    // The portal session is over too: the next sign-in shows the portal's form again.
    const again = await client.get(`${s.app.url}/authorization-code/authenticate/`);
    assert.match((await client.get(again.location!)).body, /name="password"/);
  });
});
