import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';

import { ConfigError, OidcConnectError } from '../errors.ts';
import { API_AUDIENCE, DEMO_USERS, DEV_CLIENT_ID, DEV_CLIENT_SECRET, startDevIdp } from './index.ts';
import type { DevIdp } from './index.ts';
import { KEYS_FILE } from './keys.ts';
import { authorizationRequest, signIn } from '../../test/support/dev-idp-login.ts';
import { HttpClient } from '../../test/support/http-client.ts';

const APP_URL = 'http://localhost:8080';
const REDIRECT_URI = `${APP_URL}/authorization-code/callback`;
const ALICE = { email: 'alice@example.com', password: 'wonderland' };

const basic = (id: string, secret: string): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

async function tokenRequest(issuer: string, body: Record<string, string>, id = DEV_CLIENT_ID, secret = DEV_CLIENT_SECRET): Promise<Response> {
  return fetch(`${issuer}/v1/token`, {
    method: 'POST',
    headers: { authorization: basic(id, secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(body).toString(),
  });
}

interface Tokens {
  access_token: string;
  id_token: string;
  refresh_token?: string;
  token_type: string;
  scope: string;
  expires_in: number;
}

/** Signs in through the form and exchanges the code; returns the tokens and the browser (the OP session). */
async function signInAndExchange(idp: DevIdp, credentials = ALICE, browser = new HttpClient()) {
  const request = await authorizationRequest(idp.issuer, DEV_CLIENT_ID, REDIRECT_URI);
  const callback = await signIn(browser, request.url, REDIRECT_URI, credentials);
  assert.equal(callback.searchParams.get('state'), request.state);
  assert.equal(callback.searchParams.get('iss'), idp.issuer);
  const code = callback.searchParams.get('code');
  assert.ok(code, `no code in ${callback.href}`);
  const response = await tokenRequest(idp.issuer, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT_URI,
    code_verifier: request.codeVerifier,
  });
  assert.equal(response.status, 200, await response.clone().text());
  return { tokens: await response.json() as Tokens, browser, request };
}

async function userinfo(issuer: string, accessToken: string): Promise<Response> {
  return fetch(`${issuer}/v1/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } });
}

async function temporaryDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'dev-idp-test-'));
}

describe('development provider', () => {
  let dataDir: string;
  let idp: DevIdp;

  before(async () => {
    dataDir = await temporaryDir();
    idp = await startDevIdp({ port: 0, appUrl: APP_URL, dataDir });
  });

  after(async () => {
    await idp.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('serves discovery with Okta paths under the issuer', async () => {
    assert.equal(idp.issuer, `http://localhost:${idp.port}/oauth2/default`);
    const response = await fetch(`${idp.issuer}/.well-known/openid-configuration`);
    assert.equal(response.status, 200);
    const metadata = await response.json() as Record<string, unknown>;
    assert.equal(metadata['issuer'], idp.issuer);
    assert.equal(metadata['authorization_endpoint'], `${idp.issuer}/v1/authorize`);
    assert.equal(metadata['token_endpoint'], `${idp.issuer}/v1/token`);
    assert.equal(metadata['userinfo_endpoint'], `${idp.issuer}/v1/userinfo`);
    assert.equal(metadata['jwks_uri'], `${idp.issuer}/v1/keys`);
    assert.equal(metadata['end_session_endpoint'], `${idp.issuer}/v1/logout`);
    assert.equal(metadata['introspection_endpoint'], `${idp.issuer}/v1/introspect`);
    assert.equal(metadata['revocation_endpoint'], `${idp.issuer}/v1/revoke`);
    assert.deepEqual(metadata['code_challenge_methods_supported'], ['S256']);
    assert.equal(metadata['backchannel_logout_supported'], true);
    assert.deepEqual(metadata['acr_values_supported'], [
      'urn:okta:loa:1fa:any', 'urn:okta:loa:1fa:pwd', 'urn:okta:loa:2fa:any', 'urn:okta:loa:2fa:any:ifpossible',
      'http://schemas.openid.net/pape/policies/2007/06/multi-factor',
    ]);
    for (const scope of ['openid', 'profile', 'email', 'groups', 'offline_access']) {
      assert.ok((metadata['scopes_supported'] as string[]).includes(scope), scope);
    }

    const jwks = await (await fetch(`${idp.issuer}/v1/keys`)).json() as { keys: Array<Record<string, unknown>> };
    assert.deepEqual(jwks.keys.map((key) => key['alg']).sort(), ['ES256', 'RS256']);
    for (const key of jwks.keys) {
      assert.equal(typeof key['kid'], 'string');
      assert.equal(key['d'], undefined, 'no private key material');
    }
  });

  test('keeps its keys in dataDir, readable by the owner only', async () => {
    const info = await stat(join(dataDir, KEYS_FILE));
    assert.equal(info.mode & 0o777, 0o600);
    assert.equal((await stat(join(dataDir, 'dev-idp.sqlite'))).mode & 0o777, 0o600);
  });

  test('signs alice in through the login form: code flow with PKCE, tokens, userinfo', async () => {
    const browser = new HttpClient();
    const request = await authorizationRequest(idp.issuer, DEV_CLIENT_ID, REDIRECT_URI);

    // The authorization endpoint sends the browser to our login page.
    const authorize = await browser.get(request.url.href);
    assert.equal(authorize.status, 303);
    const loginPage = new URL(authorize.location ?? '');
    assert.match(loginPage.pathname, /^\/interaction\/[\w-]+$/);
    const page = await browser.get(loginPage.href);
    assert.equal(page.status, 200);
    const html = page.body;
    assert.match(html, /Development provider — not for production/);
    assert.match(html, /name="email"/);
    assert.match(html, /name="password"/);
    assert.match(html, />Sign in</);
    assert.match(html, /alice@example\.com/);
    assert.match(html, /bob@example\.com/);

    const callback = await signIn(browser, request.url, REDIRECT_URI, ALICE);
    assert.equal(callback.origin + callback.pathname, REDIRECT_URI);
    const code = callback.searchParams.get('code');
    assert.ok(code);

    // PKCE is required: the code is useless without its verifier.
    const withoutVerifier = await tokenRequest(idp.issuer, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI });
    assert.equal(withoutVerifier.status, 400);

    // A second sign-in (same OP session, no form) gives a fresh code to exchange properly.
    const { tokens } = await signInAndExchange(idp, ALICE, browser);
    assert.equal(tokens.token_type, 'Bearer');
    assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');
    assert.deepEqual(tokens.scope.split(' ').sort(), ['email', 'offline_access', 'openid', 'profile']);

    const keys = createRemoteJWKSet(new URL(`${idp.issuer}/v1/keys`));
    const { payload: idToken } = await jwtVerify(tokens.id_token, keys, { issuer: idp.issuer, audience: DEV_CLIENT_ID });
    const alice = DEMO_USERS[0];
    assert.ok(alice);
    assert.equal(idToken.sub, alice.sub);
    assert.match(alice.sub, /^00u[A-Za-z0-9]{17}$/);
    assert.equal(idToken['email'], 'alice@example.com');
    assert.equal(idToken['email_verified'], true);
    assert.equal(idToken['name'], 'Alice Liddell');
    assert.equal(idToken['preferred_username'], 'alice');
    assert.deepEqual(idToken['groups'], ['Everyone', 'Admins']);
    assert.equal(typeof idToken['sid'], 'string', 'sid for back-channel logout');
    assert.equal(decodeProtectedHeader(tokens.id_token).alg, 'RS256');

    // The access token is a JWT for Okta's default audience.
    const { payload: accessToken, protectedHeader } = await jwtVerify(tokens.access_token, keys, {
      issuer: idp.issuer,
      audience: API_AUDIENCE,
      typ: 'at+jwt',
    });
    assert.equal(protectedHeader.alg, 'RS256');
    assert.equal(accessToken.aud, 'api://default');
    assert.equal(accessToken.sub, alice.sub);
    assert.equal(accessToken['client_id'], DEV_CLIENT_ID);
    assert.equal(accessToken['cid'], DEV_CLIENT_ID);
    assert.ok((accessToken['scp'] as string[]).includes('openid'));

    // ... and userinfo accepts that same access token, as Okta does.
    const info = await userinfo(idp.issuer, tokens.access_token);
    assert.equal(info.status, 200, await info.clone().text());
    assert.deepEqual(await info.json(), {
      sub: alice.sub,
      email: 'alice@example.com',
      email_verified: true,
      name: 'Alice Liddell',
      given_name: 'Alice',
      family_name: 'Liddell',
      preferred_username: 'alice',
      groups: ['Everyone', 'Admins'],
    });

    // The refresh token works, and gives another audience-bound JWT.
    const refreshed = await tokenRequest(idp.issuer, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    assert.equal(refreshed.status, 200, await refreshed.clone().text());
    const refreshedTokens = await refreshed.json() as Tokens;
    await jwtVerify(refreshedTokens.access_token, keys, { issuer: idp.issuer, audience: API_AUDIENCE });
    assert.equal((await userinfo(idp.issuer, refreshedTokens.access_token)).status, 200);
  });

  test('accepts client_secret_post too', async () => {
    const browser = new HttpClient();
    const request = await authorizationRequest(idp.issuer, DEV_CLIENT_ID, REDIRECT_URI);
    const code = (await signIn(browser, request.url, REDIRECT_URI, ALICE)).searchParams.get('code') ?? '';
    const response = await fetch(`${idp.issuer}/v1/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: request.codeVerifier,
        client_id: DEV_CLIENT_ID, client_secret: DEV_CLIENT_SECRET,
      }).toString(),
    });
    assert.equal(response.status, 200);
  });

  test('userinfo refuses bad tokens with 401 and WWW-Authenticate', async () => {
    const { tokens } = await signInAndExchange(idp);
    const [header, payload] = tokens.access_token.split('.');
    const forged = `${header}.${payload}.${'A'.repeat(342)}`;
    for (const token of [forged, tokens.id_token, 'opaque-token-value']) {
      const response = await userinfo(idp.issuer, token);
      assert.equal(response.status, 401, token);
      assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer /);
    }
    const missing = await fetch(`${idp.issuer}/v1/userinfo`);
    assert.ok(missing.status === 400 || missing.status === 401);
  });

  test('a wrong password shows the form again with an error, then the right one works', async () => {
    const browser = new HttpClient();
    const request = await authorizationRequest(idp.issuer, DEV_CLIENT_ID, REDIRECT_URI);
    const authorize = await browser.get(request.url.href);
    const loginPage = new URL(authorize.location ?? '');
    await browser.get(loginPage.href);

    const wrong = await browser.post(new URL(`${loginPage.pathname}/login`, loginPage).href, { email: 'alice@example.com', password: 'not-it' });
    assert.equal(wrong.status, 401);
    const html = wrong.body;
    assert.match(html, /Incorrect email or password\./);
    assert.match(html, /value="alice@example\.com"/, 'the email is kept');
    assert.match(html, />Sign in</);

    const callback = await signIn(browser, request.url, REDIRECT_URI, ALICE);
    assert.ok(callback.searchParams.get('code'));
  });

  test('escapes what it echoes back into the page', async () => {
    const browser = new HttpClient();
    const request = await authorizationRequest(idp.issuer, DEV_CLIENT_ID, REDIRECT_URI, { login_hint: '"><script>alert(1)</script>' });
    const authorize = await browser.get(request.url.href);
    const html = (await browser.get(authorize.location ?? '')).body;
    assert.doesNotMatch(html, /<script>alert/);
    assert.match(html, /&lt;script&gt;/);
  });

  test('prompt=none: login_required without a session, a code with one', async () => {
    const browser = new HttpClient();
    const silent = await authorizationRequest(idp.issuer, DEV_CLIENT_ID, REDIRECT_URI, { prompt: 'none', scope: 'openid email profile' });
    const refused = await signIn(browser, silent.url, REDIRECT_URI);
    assert.equal(refused.searchParams.get('error'), 'login_required');
    assert.equal(refused.searchParams.get('state'), silent.state);

    await signInAndExchange(idp, ALICE, browser);
    const again = await authorizationRequest(idp.issuer, DEV_CLIENT_ID, REDIRECT_URI, { prompt: 'none', scope: 'openid email profile' });
    const granted = await signIn(browser, again.url, REDIRECT_URI);
    assert.ok(granted.searchParams.get('code'), granted.href);
  });

  test('cancel on the login form returns access_denied to the app', async () => {
    const browser = new HttpClient();
    const request = await authorizationRequest(idp.issuer, DEV_CLIENT_ID, REDIRECT_URI);
    const authorize = await browser.get(request.url.href);
    const loginPage = new URL(authorize.location ?? '');
    const aborted = await browser.request('POST', new URL(`${loginPage.pathname}/abort`, loginPage).href);
    assert.equal(aborted.status, 303);
    const resumed = await browser.get(aborted.location ?? '');
    const callback = new URL(resumed.location ?? '');
    assert.equal(callback.searchParams.get('error'), 'access_denied');
  });

  test('an interaction without its cookie is a readable 400 page, not a 500', async () => {
    const response = await fetch(`http://localhost:${idp.port}/interaction/abcdef/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'email=alice%40example.com&password=wonderland',
    });
    assert.equal(response.status, 400);
    assert.match(await response.text(), /expired/);
    assert.equal((await fetch(`http://localhost:${idp.port}/nowhere`)).status, 404);
  });

  test('revocation and introspection answer on Okta paths', async () => {
    const { tokens } = await signInAndExchange(idp);
    const refreshToken = tokens.refresh_token ?? '';
    const introspect = async (): Promise<Record<string, unknown>> => {
      const response = await fetch(`${idp.issuer}/v1/introspect`, {
        method: 'POST',
        headers: { authorization: basic(DEV_CLIENT_ID, DEV_CLIENT_SECRET), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: refreshToken }).toString(),
      });
      return await response.json() as Record<string, unknown>;
    };
    assert.equal((await introspect())['active'], true);

    const revoked = await fetch(`${idp.issuer}/v1/revoke`, {
      method: 'POST',
      headers: { authorization: basic(DEV_CLIENT_ID, DEV_CLIENT_SECRET), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: refreshToken, token_type_hint: 'refresh_token' }).toString(),
    });
    assert.equal(revoked.status, 200);
    assert.equal((await introspect())['active'], false);
    const refresh = await tokenRequest(idp.issuer, { grant_type: 'refresh_token', refresh_token: refreshToken });
    assert.equal(refresh.status, 400);
  });

  test('works with openid-client as the app uses it (non-repudiation checks on)', async () => {
    const config = await client.discovery(new URL(idp.issuer), DEV_CLIENT_ID, DEV_CLIENT_SECRET, client.ClientSecretBasic(DEV_CLIENT_SECRET), {
      execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
    });
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid email profile',
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const callback = await signIn(new HttpClient(), url, REDIRECT_URI, { email: 'bob@example.com', password: 'builder' });
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce });
    const claims = tokens.claims();
    assert.ok(claims);
    assert.equal(claims['email'], 'bob@example.com');
    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(info['email'], 'bob@example.com');
    assert.equal(info.sub, claims.sub);
  });
});

describe('development provider logout', () => {
  test('RP-initiated logout with id_token_hint signs out, notifies the app back-channel, and returns', async () => {
    // A stand-in for the app's back-channel logout receiver.
    const logoutTokens: string[] = [];
    const app = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      req.on('end', () => {
        if (req.url === '/oidc/backchannel-logout') logoutTokens.push(new URLSearchParams(body).get('logout_token') ?? '');
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const appUrl = `http://localhost:${(app.address() as AddressInfo).port}`;
    const dataDir = await temporaryDir();
    const idp = await startDevIdp({ port: 0, appUrl, dataDir });
    try {
      const redirectUri = `${appUrl}/authorization-code/callback`;
      const browser = new HttpClient();
      const request = await authorizationRequest(idp.issuer, DEV_CLIENT_ID, redirectUri);
      const code = (await signIn(browser, request.url, redirectUri, ALICE)).searchParams.get('code') ?? '';
      const exchanged = await tokenRequest(idp.issuer, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: request.codeVerifier });
      const tokens = await exchanged.json() as Tokens;

      const logoutUrl = new URL(`${idp.issuer}/v1/logout`);
      logoutUrl.search = new URLSearchParams({
        id_token_hint: tokens.id_token,
        post_logout_redirect_uri: `${appUrl}/signout/callback`,
        state: 'bye',
      }).toString();
      const page = await browser.get(logoutUrl.href);
      assert.equal(page.status, 200);
      const html = page.body;
      assert.match(html, />Sign out</);
      assert.match(html, /getElementById\('logout-form'\)\.submit\(\)/, 'submits itself for a valid id_token_hint');
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
      const action = /action="([^"]+)"/.exec(html)?.[1];
      assert.ok(xsrf && action);

      const confirmed = await browser.post(new URL(action, logoutUrl).href, { xsrf, logout: 'yes' });
      assert.equal(confirmed.status, 303);
      assert.equal(confirmed.location, `${appUrl}/signout/callback?state=bye`);

      assert.equal(logoutTokens.length, 1, 'back-channel logout reached the app');
      const keys = createRemoteJWKSet(new URL(`${idp.issuer}/v1/keys`));
      const { payload } = await jwtVerify(logoutTokens[0] ?? '', keys, { issuer: idp.issuer, audience: DEV_CLIENT_ID, typ: 'logout+jwt' });
      assert.equal(payload.sub, DEMO_USERS[0]?.sub);
      assert.equal(typeof payload['sid'], 'string');

      // The OP session is gone.
      const silent = await authorizationRequest(idp.issuer, DEV_CLIENT_ID, redirectUri, { prompt: 'none' });
      assert.equal((await signIn(browser, silent.url, redirectUri)).searchParams.get('error'), 'login_required');
      // offline_access outlives the OP session, as at Okta: the app revokes its refresh token itself.
      const refresh = await tokenRequest(idp.issuer, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token ?? '' });
      assert.equal(refresh.status, 200);
    } finally {
      await idp.close();
      await new Promise((resolve) => app.close(resolve));
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('logout without id_token_hint asks with a "Sign out" button', async () => {
    const dataDir = await temporaryDir();
    const idp = await startDevIdp({ port: 0, appUrl: APP_URL, dataDir });
    try {
      const browser = new HttpClient();
      await signInAndExchange(idp, ALICE, browser);
      const page = await browser.get(`${idp.issuer}/v1/logout`);
      assert.equal(page.status, 200);
      const html = page.body;
      assert.match(html, /<button type="submit" name="logout" value="yes">Sign out<\/button>/);
      assert.doesNotMatch(html, /\.submit\(\)/);
    } finally {
      await idp.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('development provider restarts', () => {
  test('reuse the keys and the database: old tokens verify, the refresh token still works', async () => {
    const dataDir = await temporaryDir();
    const first = await startDevIdp({ port: 0, appUrl: APP_URL, dataDir });
    const { port, issuer } = first;
    let tokens: Tokens;
    let kidsBefore: string[];
    try {
      ({ tokens } = await signInAndExchange(first));
      kidsBefore = ((await (await fetch(`${issuer}/v1/keys`)).json()) as { keys: Array<{ kid: string }> }).keys.map((key) => key.kid);
    } finally {
      await first.close();
    }
    const keysFile = await readFile(join(dataDir, KEYS_FILE), 'utf8');

    // Same port, so the same issuer: what the app holds must keep working.
    const second = await startDevIdp({ port, appUrl: APP_URL, dataDir });
    try {
      assert.equal(second.issuer, issuer);
      assert.equal(await readFile(join(dataDir, KEYS_FILE), 'utf8'), keysFile);
      const kidsAfter = ((await (await fetch(`${issuer}/v1/keys`)).json()) as { keys: Array<{ kid: string }> }).keys.map((key) => key.kid);
      assert.deepEqual(kidsAfter, kidsBefore);

      const keys = createRemoteJWKSet(new URL(`${issuer}/v1/keys`));
      await jwtVerify(tokens.id_token, keys, { issuer, audience: DEV_CLIENT_ID });
      await jwtVerify(tokens.access_token, keys, { issuer, audience: API_AUDIENCE });
      assert.equal((await userinfo(issuer, tokens.access_token)).status, 200);
      const refreshed = await tokenRequest(issuer, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token ?? '' });
      assert.equal(refreshed.status, 200, await refreshed.clone().text());
    } finally {
      await second.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('development provider configuration', () => {
  test('refuses to start in production', async () => {
    const dataDir = await temporaryDir();
    try {
      await assert.rejects(startDevIdp({ port: 0, appUrl: APP_URL, dataDir, production: true }), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.ok(error instanceof OidcConnectError);
        assert.equal(error.code, 'CONFIG_INVALID');
        assert.match(error.message, /refuses to start when NODE_ENV=production; set OIDC_ISSUER/);
        return true;
      });
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('refuses a non-loopback host and a bad app URL', async () => {
    await assert.rejects(startDevIdp({ port: 0, host: '0.0.0.0', appUrl: 'not a url', dataDir: '/nonexistent' }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.problems.length, 2);
      return true;
    });
  });

  test('a users file replaces the demo users', async () => {
    const dataDir = await temporaryDir();
    const usersFile = join(dataDir, 'users.json');
    await writeFile(usersFile, JSON.stringify([
      { email: 'carol@example.org', password: 'secret-carol', given_name: 'Carol', family_name: 'Danvers', groups: ['Pilots'] },
      { sub: '00ufixedsubject0001', email: 'dave@example.org', password: 'secret-dave', preferred_username: 'dave' },
    ]));
    const idp = await startDevIdp({ port: 0, appUrl: APP_URL, dataDir, usersFile });
    try {
      assert.deepEqual(idp.users.map((user) => user.email), ['carol@example.org', 'dave@example.org']);
      assert.match(idp.users[0]?.sub ?? '', /^00u[A-Za-z0-9]{17}$/);
      assert.equal(idp.users[0]?.preferred_username, 'carol');
      assert.equal(idp.users[1]?.sub, '00ufixedsubject0001');

      const browser = new HttpClient();
      const request = await authorizationRequest(idp.issuer, DEV_CLIENT_ID, REDIRECT_URI);
      const authorize = await browser.get(request.url.href);
      const loginPage = new URL(authorize.location ?? '');
      const html = (await browser.get(loginPage.href)).body;
      assert.match(html, /carol@example\.org/);
      assert.doesNotMatch(html, /secret-carol/, 'passwords from a users file are not shown');
      assert.doesNotMatch(html, /alice@example\.com/);

      const alice = await browser.post(new URL(`${loginPage.pathname}/login`, loginPage).href, ALICE);
      assert.equal(alice.status, 401, 'demo users are gone');

      const { tokens } = await signInAndExchange(idp, { email: 'carol@example.org', password: 'secret-carol' }, browser);
      const info = await (await userinfo(idp.issuer, tokens.access_token)).json() as Record<string, unknown>;
      assert.equal(info['sub'], idp.users[0]?.sub);
      assert.deepEqual(info['groups'], ['Pilots']);
      assert.equal(info['name'], 'Carol Danvers');
    } finally {
      await idp.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('a broken users file is one ConfigError listing every problem', async () => {
    const dataDir = await temporaryDir();
    const usersFile = join(dataDir, 'users.json');
    await writeFile(usersFile, JSON.stringify([{ email: 'no-password@example.org' }, { password: 'x' }, 'nope']));
    try {
      await assert.rejects(startDevIdp({ port: 0, appUrl: APP_URL, dataDir, usersFile }), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.problems.length, 3);
        assert.match(error.problems[0] ?? '', /entry 1: "password" is required/);
        return true;
      });
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('a users file\'s "mfa" must be true or false', async () => {
    const dataDir = await temporaryDir();
    const usersFile = join(dataDir, 'users.json');
    await writeFile(usersFile, JSON.stringify([{ email: 'a@example.org', password: 'x', mfa: 'yes' }]));
    try {
      await assert.rejects(startDevIdp({ port: 0, appUrl: APP_URL, dataDir, usersFile }), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.deepEqual(error.problems, [`development provider users file ${usersFile}, entry 1: "mfa" must be true or false`]);
        return true;
      });
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('registers extra clients', async () => {
    const dataDir = await temporaryDir();
    const redirectUri = 'http://localhost:9999/cb';
    const idp = await startDevIdp({
      port: 0, appUrl: APP_URL, dataDir,
      extraClients: [{ client_id: 'bench', client_secret: 'bench-secret', redirect_uris: [redirectUri] }],
    });
    try {
      const request = await authorizationRequest(idp.issuer, 'bench', redirectUri);
      const callback = await signIn(new HttpClient(), request.url, redirectUri, ALICE);
      const code = callback.searchParams.get('code') ?? '';
      const response = await tokenRequest(idp.issuer, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: request.codeVerifier }, 'bench', 'bench-secret');
      assert.equal(response.status, 200);
    } finally {
      await idp.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
