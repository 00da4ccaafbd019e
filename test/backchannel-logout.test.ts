import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import type { Db } from '../src/db/index.ts';
import { BACKCHANNEL_LOGOUT_EVENT } from '../src/rp/logout-token.ts';
import { createSession, sessionIdFor } from '../src/sessions/index.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { confirmProviderLogout, providerLogin, startDevStack, type DevStack } from './support/dev-stack.ts';
import { HttpClient, type Hop } from './support/http-client.ts';
import { databaseTargets, type TestDatabase } from './support/postgres.ts';
import { openRowTokens } from './support/session-tokens.ts';

const alice = { email: 'alice@example.com', password: 'wonderland' };

async function loggedIn(client: HttpClient, appUrl: string): Promise<boolean> {
  const home = await client.get(`${appUrl}/`);
  if (/You are not logged in/.test(home.body)) return false;
  assert.match(home.body, /Hi /);
  return true;
}

async function sessionRow(db: Db, client: HttpClient, appUrl: string) {
  const secret = client.cookie(appUrl, 'oc_session');
  if (secret === undefined) return undefined;
  return db.selectFrom('sessions').selectAll().where('id', '=', sessionIdFor(secret)).executeTakeFirst();
}

describe('back-channel logout from the development provider', () => {
  let s: DevStack;
  before(async () => {
    s = await startDevStack();
  });
  after(() => s.close());

  test('logging out at the provider with id_token_hint ends the app session of that browser', async () => {
    const client = new HttpClient();
    assert.equal((await providerLogin(client, s.app.url, alice)).status, 302);
    assert.equal(await loggedIn(client, s.app.url), true);
    const row = await sessionRow(s.app.database.db, client, s.app.url);
    assert.ok(row?.provider_sid, 'the provider session id was stored at login');
    const idToken = (await openRowTokens(s.app.config.sessionSecret, row.data)).idToken!;

    // The user ends the provider session directly (as another app, or the provider's own page, would),
    // without going through this app's logout route.
    const logout = new URL(`${s.idp.issuer}/v1/logout`);
    logout.search = new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: `${s.app.url}/signout/callback` }).toString();
    await confirmProviderLogout(client, await client.get(logout.href));

    assert.equal(await sessionRow(s.app.database.db, client, s.app.url), undefined, 'the session row is gone');
    assert.equal(await loggedIn(client, s.app.url), false);
    const used = await s.app.database.db.selectFrom('logout_tokens').selectAll().execute();
    assert.ok(used.length >= 1, 'the jti was recorded');
  });

  test('"Sign out" at the provider without a hint ends the app session; another browser stays logged in', async () => {
    const first = new HttpClient();
    const second = new HttpClient();
    await providerLogin(first, s.app.url, alice);
    await providerLogin(second, s.app.url, alice);
    const [a, b] = [await sessionRow(s.app.database.db, first, s.app.url), await sessionRow(s.app.database.db, second, s.app.url)];
    assert.ok(a?.provider_sid && b?.provider_sid);
    assert.notEqual(a.provider_sid, b.provider_sid, 'each browser has its own provider session');

    const page = await first.get(`${s.idp.issuer}/v1/logout`);
    assert.match(page.body, /name="logout" value="yes">Sign out/);
    const action = /<form id="logout-form" method="post" action="([^"]+)"/.exec(page.body)![1]!.replace(/&amp;/g, '&');
    const xsrf = /name="xsrf" value="([^"]*)"/.exec(page.body)![1]!;
    await first.follow(await first.post(new URL(action, page.url).href, { xsrf, logout: 'yes' }));

    assert.equal(await loggedIn(first, s.app.url), false);
    assert.equal(await loggedIn(second, s.app.url), true, 'only the matching sid ended');
  });
});

/** A provider whose keys the test holds: discovery and a JWKS, nothing else. */
interface KeyServer {
  issuer: string;
  kid: string;
  key: CryptoKey;
  keysDown: boolean;
  close(): Promise<void>;
}

async function startKeyServer(): Promise<KeyServer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const kid = 'test-key-1';
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const state = { keysDown: false, issuer: '' };
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', state.issuer).pathname;
    if (path === '/oauth2/default/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        issuer: state.issuer,
        authorization_endpoint: `${state.issuer}/v1/authorize`,
        token_endpoint: `${state.issuer}/v1/token`,
        jwks_uri: `${state.issuer}/v1/keys`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        backchannel_logout_supported: true,
        backchannel_logout_session_supported: true,
      }));
    } else if (path === '/oauth2/default/v1/keys' && !state.keysDown) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    } else {
      res.writeHead(state.keysDown ? 503 : 404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}/oauth2/default`;
  return {
    get issuer() { return state.issuer; },
    kid,
    key: privateKey,
    get keysDown() { return state.keysDown; },
    set keysDown(value: boolean) { state.keysDown = value; },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

for (const target of databaseTargets) describe(`crafted logout tokens against two instances sharing one ${target.name} database`, { skip: target.skip }, () => {
  const CLIENT_ID = 'bcl-client';
  let op: KeyServer;
  let database: TestDatabase | undefined;
  let a: TestApp;
  let b: TestApp;
  let aliceId: number;

  before(async () => {
    op = await startKeyServer();
    database = await target.create();
    const env = {
      OIDC_ISSUER: op.issuer,
      OIDC_RP_CLIENT_ID: CLIENT_ID,
      OIDC_RP_CLIENT_SECRET: 'bcl-secret',
      DATABASE_URL: database.url,
    };
    a = await startTestApp(env);
    b = await startTestApp(env);
    const now = Date.now();
    const user = await a.database.db.insertInto('users').values({
      username: 'alice', email: 'alice@example.com', first_name: '', last_name: '', password: null,
      is_active: 1, is_staff: 0, is_superuser: 0, last_login: null, date_joined: now,
    }).returning('id').executeTakeFirstOrThrow();
    aliceId = user.id;
    await a.database.db.insertInto('identities').values({ issuer: op.issuer, subject: 'alice-sub', user_id: aliceId, created: now, last_login: now }).execute();
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await op?.close();
    await database?.drop();
  });

  /** A browser holding a fresh app session (provider 'default', the given provider sid, or a local login). */
  async function browser(sid: string | null, provider: string | null = 'default'): Promise<HttpClient> {
    const secret = await createSession(a.database.db, a.config.session, { userId: aliceId, provider, providerSid: sid });
    const client = new HttpClient();
    client.setCookie(a.url, 'oc_session', secret);
    client.setCookie(b.url, 'oc_session', secret);
    assert.equal(await loggedIn(client, a.url), true);
    return client;
  }

  function claims(overrides: Record<string, unknown> = {}): JWTPayload {
    const now = Math.floor(Date.now() / 1000);
    const base: Record<string, unknown> = {
      iss: op.issuer, aud: CLIENT_ID, iat: now, exp: now + 120, jti: crypto.randomUUID(),
      sid: 'sid-unused', events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
    };
    for (const [key, value] of Object.entries(overrides)) {
      if (value === undefined) delete base[key];
      else base[key] = value;
    }
    return base as JWTPayload;
  }

  const sign = (payload: JWTPayload, header: Record<string, unknown> = {}, key: CryptoKey = op.key) =>
    new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: op.kid, typ: 'logout+jwt', ...header }).sign(key);

  const post = (app: TestApp, token: string): Promise<Hop> =>
    new HttpClient().post(`${app.url}/oidc/backchannel-logout`, { logout_token: token }, { accept: '*/*' });

  function assertRefused(hop: Hop, reason: RegExp): void {
    assert.equal(hop.status, 400, hop.body);
    assert.equal(hop.headers.get('cache-control'), 'no-store');
    const body = JSON.parse(hop.body) as { error: string; error_description: string };
    assert.equal(body.error, 'invalid_request');
    assert.match(body.error_description, reason);
  }

  test('a valid token ends the session with that sid, on every instance; other sessions stay', async () => {
    const target = await browser('sid-1');
    const bystander = await browser('sid-2');
    const local = await browser(null, null);
    const hop = await post(b, await sign(claims({ sid: 'sid-1' })));
    assert.equal(hop.status, 200, hop.body);
    assert.equal(hop.headers.get('cache-control'), 'no-store');
    assert.equal(await loggedIn(target, a.url), false, 'instance A no longer knows the cookie');
    assert.equal(await loggedIn(target, b.url), false);
    assert.equal(await loggedIn(bystander, a.url), true);
    assert.equal(await loggedIn(local, a.url), true);
  });

  test('a token with sub only ends every session of that user from this provider, not local logins', async () => {
    const one = await browser('sid-3');
    const two = await browser(null);
    const local = await browser(null, null);
    const hop = await post(a, await sign(claims({ sid: undefined, sub: 'alice-sub' }), { typ: 'JWT' }));
    assert.equal(hop.status, 200, hop.body);
    assert.equal(await loggedIn(one, a.url), false);
    assert.equal(await loggedIn(two, a.url), false);
    assert.equal(await loggedIn(local, a.url), true);
  });

  test('a valid token that matches no session is still answered 200', async () => {
    assert.equal((await post(a, await sign(claims({ sid: 'no-such-session' })))).status, 200);
    assert.equal((await post(a, await sign(claims({ sid: undefined, sub: 'unknown-sub' })))).status, 200);
  });

  test('a replayed token is refused, on the same instance and on the other one', async () => {
    const token = await sign(claims({ sid: 'sid-replay' }));
    assert.equal((await post(a, token)).status, 200);
    const victim = await browser('sid-replay'); // a new session that happens to carry the same sid
    assertRefused(await post(a, token), /already used \(jti\)/);
    assertRefused(await post(b, token), /already used \(jti\)/);
    assert.equal(await loggedIn(victim, a.url), true, 'a refused token ends nothing');
  });

  test('the same token sent to both instances at once is accepted exactly once', async () => {
    const token = await sign(claims({ sid: 'sid-race' }));
    const statuses = (await Promise.all([post(a, token), post(b, token), post(a, token), post(b, token)])).map((h) => h.status);
    assert.deepEqual(statuses.sort(), [200, 400, 400, 400]);
  });

  test('each invalid token is refused with 400 invalid_request and ends nothing', async () => {
    const victim = await browser('sid-victim');
    const now = Math.floor(Date.now() / 1000);
    const other = (await generateKeyPair('RS256')).privateKey;
    const cases: Array<[string, Promise<string> | string, RegExp]> = [
      ['bad signature', sign(claims({ sid: 'sid-victim' }), {}, other), /signature/],
      ['wrong iss', sign(claims({ sid: 'sid-victim', iss: 'http://127.0.0.1:1/oauth2/default' })), /issuer/],
      ['wrong aud', sign(claims({ sid: 'sid-victim', aud: 'someone-else' })), /audience/],
      ['missing events', sign(claims({ sid: 'sid-victim', events: undefined })), /events/],
      ['events without the logout member', sign(claims({ sid: 'sid-victim', events: { 'http://example.com/other': {} } })), /events/],
      ['nonce present', sign(claims({ sid: 'sid-victim', nonce: 'abc' })), /nonce/],
      ['neither sid nor sub', sign(claims({ sid: undefined })), /neither/],
      ['missing iat', sign(claims({ sid: 'sid-victim', iat: undefined })), /iat/],
      ['iat in the future', sign(claims({ sid: 'sid-victim', iat: now + 600, exp: now + 720 })), /future/],
      ['expired', sign(claims({ sid: 'sid-victim', iat: now - 600, exp: now - 480 })), /expired/],
      ['too old without exp', sign(claims({ sid: 'sid-victim', iat: now - 3600, exp: undefined })), /too old/],
      ['missing jti', sign(claims({ sid: 'sid-victim', jti: undefined })), /jti/],
      ['alg none', new UnsecuredJWT(claims({ sid: 'sid-victim' })).encode(), /"none"/],
      ['HS256', new SignJWT(claims({ sid: 'sid-victim' })).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('k'.repeat(32))), /"HS256"/],
      ['wrong typ', sign(claims({ sid: 'sid-victim' }), { typ: 'at+jwt' }), /typ/],
      ['unknown kid', sign(claims({ sid: 'sid-victim' }), { kid: 'rotated-away' }), /key/],
      ['not a JWT', 'garbage', /not a signed JWT/],
    ];
    for (const [name, token, reason] of cases) {
      const hop = await post(a, await token);
      assert.equal(hop.status, 400, `${name}: ${hop.body}`);
      assertRefused(hop, reason);
    }
    assert.equal(await loggedIn(victim, a.url), true);
  });

  test('malformed, oversized or non-form requests get 400 invalid_request, never a 500', async () => {
    const url = `${a.url}/oidc/backchannel-logout`;
    const send = (body: string, type: string) => fetch(url, { method: 'POST', body, headers: { 'content-type': type } });
    for (const [body, type] of [
      ['', 'application/x-www-form-urlencoded'],
      ['other=1', 'application/x-www-form-urlencoded'],
      ['logout_token=a&logout_token=b', 'application/x-www-form-urlencoded'],
      [JSON.stringify({ logout_token: await sign(claims()) }), 'application/json'],
      ['logout_token=x', 'text/plain'],
    ] as const) {
      const response = await send(body, type);
      assert.equal(response.status, 400, `${type} ${body.slice(0, 40)}`);
      assert.equal((await response.json() as { error: string }).error, 'invalid_request');
    }
    const huge = await send(`logout_token=${'a'.repeat(70 * 1024)}`, 'application/x-www-form-urlencoded');
    assert.equal(huge.status, 400, 'too large is a 400 too (Back-Channel Logout 2.8)');
    assert.equal((await huge.json() as { error: string }).error, 'invalid_request');
  });

  test('no CSRF token or cookie is needed (the provider calls server to server)', async () => {
    const response = await fetch(`${a.url}/oidc/backchannel-logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: await sign(claims()) }),
    });
    assert.equal(response.status, 200);
  });

  test('when the provider\'s keys cannot be fetched, the answer is a retryable 5xx, not 400 or 500', async () => {
    const c = await startTestApp({ OIDC_ISSUER: op.issuer, OIDC_RP_CLIENT_ID: CLIENT_ID, OIDC_RP_CLIENT_SECRET: 'bcl-secret' });
    op.keysDown = true;
    try {
      const hop = await post(c, await sign(claims()));
      assert.ok(hop.status >= 502 && hop.status <= 504, `${hop.status} ${hop.body}`);
      assert.equal((JSON.parse(hop.body) as { error: string }).error, 'temporarily_unavailable');
    } finally {
      op.keysDown = false;
      await c.close();
    }
  });
});
