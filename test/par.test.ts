import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { changing } from '../src/db/change-feed.ts';
import { ConfigError } from '../src/errors.ts';
import { createRelyingParty } from '../src/rp/index.ts';
import { buildApp } from '../src/web/app.ts';
import { sessionIdFor } from '../src/sessions/index.ts';
import { startTestApp, testAppBase, type TestApp } from './support/app.ts';
import { cli } from './support/cli.ts';
import { signIn } from './support/dev-idp-login.ts';
import { providerLogin, startDevStack, type DevStack } from './support/dev-stack.ts';
import { startFakeOp, type FakeOp } from './support/fake-op.ts';
import { HttpClient } from './support/http-client.ts';

const alice = { email: 'alice@example.com', password: 'wonderland' };

describe('PAR against the development provider, which offers it (OIDC_USE_PAR=auto)', () => {
  let s: DevStack;
  before(async () => {
    s = await startDevStack({ OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS: '60' });
  });
  after(() => s.close());

  test('the browser carries only client_id and the request_uri; the pushed request signs alice in', async () => {
    const client = new HttpClient();
    const start = await client.get(`${s.app.url}/authorization-code/authenticate/?next=%2Fapi%2Fme`);
    const authorize = new URL(start.location!);
    assert.equal(authorize.origin + authorize.pathname, `${s.idp.issuer}/v1/authorize`);
    assert.deepEqual([...authorize.searchParams.keys()].sort(), ['client_id', 'request_uri']);
    assert.match(authorize.searchParams.get('request_uri')!, /^urn:ietf:params:oauth:request_uri:/);
    const callback = await signIn(client, authorize, `${s.app.url}/authorization-code/callback`, alice);
    const done = await client.get(callback.href);
    assert.equal(done.location, `${s.app.url}/api/me`, 'next came back through the pushed state');
    const me = JSON.parse((await client.get(done.location!)).body) as Record<string, unknown>;
    assert.deepEqual([me.username, me.email], ['alice', 'alice@example.com'], 'the pushed scope brought the profile claims');
  });

  test('a request_uri is good once: reused after the sign-in, the provider refuses it and issues no code', async () => {
    const client = new HttpClient();
    const start = await client.get(`${s.app.url}/authorization-code/authenticate/`);
    const callback = await signIn(client, start.location!, `${s.app.url}/authorization-code/callback`, alice);
    assert.ok(callback.searchParams.get('code'));
    // The same authorization URL again, in the same browser (whose provider session would give a code at once).
    const again = await client.get(start.location!);
    assert.equal(again.status, 400, again.body.slice(0, 300));
    assert.match(again.body, /invalid_request_uri/);
    assert.equal(again.location, null);
  });

  test('silent renewal is pushed with prompt=none: without the provider\'s session it ends the local one, with it no form shows', async () => {
    const browser = new HttpClient();
    await providerLogin(browser, s.app.url, alice);
    const id = sessionIdFor(browser.cookie(s.app.url, 'oc_session')!);
    const due = async () => {
      const current = sessionIdFor(browser.cookie(s.app.url, 'oc_session')!);
      const row = await s.app.database.db.selectFrom('sessions').select('data').where('id', '=', current).executeTakeFirstOrThrow();
      // Announced as the app's own writes are, so that the session cache lets the old row go.
      await changing(s.app.database.db, (db) => db.updateTable('sessions').set({ data: JSON.stringify({ ...JSON.parse(row.data), renewAt: Date.now() - 1 }) })
        .where('id', '=', current).execute(), () => [{ kind: 'session', id: current }]);
    };
    await due();
    // The provider knows this browser: back at once, no login form (prompt=none kept it from showing one).
    const hops = await browser.follow(await browser.get(`${s.app.url}/`, { 'sec-fetch-mode': 'navigate' }));
    assert.ok(!hops.some((hop) => hop.body.includes('name="password"')), 'no login form');
    assert.match(hops.at(-1)!.body, /Hi alice/);
    assert.notEqual(sessionIdFor(browser.cookie(s.app.url, 'oc_session')!), id, 'a new session');

    await due();
    // Another browser with the app's cookie only: prompt=none can't succeed, so the session ends.
    const other = new HttpClient();
    other.setCookie(s.app.url, 'oc_session', browser.cookie(s.app.url, 'oc_session')!);
    const last = (await other.follow(await other.get(`${s.app.url}/`, { 'sec-fetch-mode': 'navigate' }))).at(-1)!;
    assert.match(last.url, /\/accounts\/login\/\?next=%2F$/);
    assert.match((await browser.get(`${s.app.url}/`)).body, /You are not logged in/);
  });

  test('check says the requests are pushed, and with OIDC_DPOP=on which algorithm binds the tokens', async () => {
    const run = await cli(s.app.dir, ['check'], { DEV_IDP_PORT: String(s.idp.port), APP_URL: s.app.url, OIDC_DPOP: 'on' });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^OK Okta: authorization requests are pushed first \(PAR, OIDC_USE_PAR=auto\)$/m);
    assert.match(run.stdout, /^OK Okta: tokens are bound to each session's own key \(DPoP, ES256\)$/m);
  });
});

describe('OIDC_USE_PAR=off against the development provider', () => {
  let s: DevStack;
  before(async () => {
    s = await startDevStack({ OIDC_USE_PAR: 'off' });
  });
  after(() => s.close());

  test('the authorization request rides in the query: state, nonce, S256 challenge, redirect_uri and scope', async () => {
    const client = new HttpClient();
    const start = await client.get(`${s.app.url}/authorization-code/authenticate/`);
    const authorize = new URL(start.location!);
    for (const param of ['state', 'nonce', 'code_challenge']) assert.ok(authorize.searchParams.get(param), param);
    assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(authorize.searchParams.get('redirect_uri'), `${s.app.url}/authorization-code/callback`);
    assert.equal(authorize.searchParams.get('scope'), 'openid email profile');
    assert.equal(authorize.searchParams.get('request_uri'), null);
    assert.equal((await providerLogin(client, s.app.url, alice)).status, 302);
  });
});

describe('a provider without PAR (the fake provider lists no PAR endpoint)', () => {
  let op: FakeOp;
  before(async () => {
    op = await startFakeOp({ claims: { email: 'rita@example.com', email_verified: true, preferred_username: 'rita' } });
  });
  after(() => op.close());
  const provider = () => ({ OIDC_ISSUER: op.issuer, OIDC_RP_CLIENT_ID: 'test-client', OIDC_RP_CLIENT_SECRET: 'test-secret' });

  test('auto falls back to the query, and the sign-in works', async () => {
    const app = await startTestApp(provider());
    try {
      const client = new HttpClient();
      const start = await client.get(`${app.url}/authorization-code/authenticate/`);
      assert.ok(new URL(start.location!).searchParams.get('state'));
      const done = await client.get((await client.get(start.location!)).location!);
      assert.equal(done.status, 302, done.body);
    } finally {
      await app.close();
    }
  });

  test('on: the app refuses to start, with one line naming OIDC_USE_PAR, when the provider answers at start', async () => {
    const base = await testAppBase('par-on', { ...provider(), OIDC_USE_PAR: 'on' });
    try {
      const rp = createRelyingParty(base.config, base.database.db);
      await assert.rejects(buildApp({ config: base.config, db: base.database.db, rp }), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.problems.length, 1);
        assert.match(error.problems[0]!, /^OIDC_USE_PAR=on: 127\.0\.0\.1:\d+ \(http:\/\/127\.0\.0\.1:\d+\/oauth2\/default\) lists no pushed_authorization_request_endpoint/);
        return true;
      });
    } finally {
      await base.close();
    }
  });

  test('on: when the provider did not answer at start, the first sign-in says so instead, and nothing is sent to it', async () => {
    op.setFault('discovery-500');
    let app: TestApp;
    try {
      app = await startTestApp({ ...provider(), OIDC_USE_PAR: 'on' });
    } finally {
      op.setFault('none');
    }
    try {
      const start = await new HttpClient().get(`${app.url}/authorization-code/authenticate/`);
      assert.equal(start.status, 500);
      assert.match(start.body, /CONFIG_INVALID/);
      assert.match(start.body, /OIDC_USE_PAR=on: 127\.0\.0\.1:\d+ .* lists no pushed_authorization_request_endpoint/);
      assert.equal(start.location, null, 'no redirect to the provider');
    } finally {
      await app.close();
    }
  });

  test('check reports OIDC_USE_PAR=on as a PROBLEM', async () => {
    const run = await cli(process.cwd(), ['check'], { ...provider(), OIDC_USE_PAR: 'on', APP_URL: 'http://localhost:8080' });
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^PROBLEM OIDC_USE_PAR=on: 127\.0\.0\.1:\d+ .* lists no pushed_authorization_request_endpoint/m);
  });
});
