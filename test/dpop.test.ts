// DPoP (RFC 9449; issue 23, section 4): the sign-in's own key binds the session's tokens at the
// development provider, which checks every proof and asks for nonces; our API takes bound tokens only
// with a proof of their key for that very request, once. Through the Fastify host of
// test/support/adapters.ts (every adapter's own DPoP refusals are in test/adapters.test.ts).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { calculateJwkThumbprint, decodeJwt, generateKeyPair, exportJWK, SignJWT, type JWK } from 'jose';
import * as client from 'openid-client';
import { changing } from '../src/db/change-feed.ts';
import { DEV_CLIENT_ID, DEV_CLIENT_SECRET } from '../src/dev-client.ts';
import { publicJwkOf } from '../src/rp/client-auth.ts';
import { dpopKeyPair } from '../src/rp/dpop.ts';
import { SessionTokens } from '../src/rp/session-tokens.ts';
import { sessionIdFor } from '../src/sessions/index.ts';
import { startAdapterApp, type AdapterApp, type Downstream } from './support/adapters.ts';
import { testAppBase } from './support/app.ts';
import { cli } from './support/cli.ts';
import { signIn } from './support/dev-idp-login.ts';
import { providerLogin } from './support/dev-stack.ts';
import { startFakeOp, type FakeOp } from './support/fake-op.ts';
import { HttpClient } from './support/http-client.ts';
import { databaseTargets, type TestDatabase } from './support/postgres.ts';
import { openRowTokens } from './support/session-tokens.ts';
import { ConfigError } from '../src/errors.ts';
import { createRelyingParty } from '../src/rp/index.ts';
import { buildApp } from '../src/web/app.ts';

const alice = { email: 'alice@example.com', password: 'wonderland' };
const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url');
const DPOP_ENV = { OIDC_DPOP: 'on', OIDC_RP_SCOPES: 'openid email profile offline_access' };

/** A proof made here with jose, to send to our API: a good one, or one an attacker would make. */
async function proof(jwk: JWK, claims: { htm: string; htu: string; ath?: string; iat?: number; jti?: string; nonce?: string }): Promise<string> {
  const { privateKey } = await dpopKeyPair(jwk);
  return new SignJWT({ jti: claims.jti ?? randomBytes(12).toString('base64url'), htm: claims.htm, htu: claims.htu, ...(claims.ath ? { ath: claims.ath } : {}), ...(claims.nonce ? { nonce: claims.nonce } : {}) })
    .setProtectedHeader({ alg: jwk.alg!, typ: 'dpop+jwt', jwk: publicJwkOf(jwk) })
    .setIssuedAt(claims.iat ?? Math.floor(Date.now() / 1000))
    .sign(privateKey);
}

/** The browser's session tokens, opened as the app opens them. */
async function sessionTokens(s: AdapterApp, browser: HttpClient) {
  const row = await s.database.db.selectFrom('sessions').select('data').where('id', '=', sessionIdFor(browser.cookie(s.url, 'oc_session')!)).executeTakeFirstOrThrow();
  return openRowTokens(s.config.sessionSecret, row.data);
}

async function signedIn(s: AdapterApp): Promise<HttpClient> {
  const browser = new HttpClient();
  const done = await providerLogin(browser, s.url, alice);
  assert.equal(done.status, 302, done.body);
  return browser;
}

async function apiMe(url: string, token: string, dpopProof?: string, scheme = 'DPoP'): Promise<{ status: number; error?: string; challenge: string | null; username?: string }> {
  const answer = await new HttpClient().get(`${url}/api/me`, { authorization: `${scheme} ${token}`, accept: 'application/json', ...(dpopProof ? { dpop: dpopProof } : {}) });
  const body = JSON.parse(answer.body) as { error?: string; username?: string };
  return { status: answer.status, challenge: answer.headers.get('www-authenticate'), ...body };
}

describe('DPoP against the development provider (OIDC_DPOP=on)', () => {
  let s: AdapterApp;
  before(async () => {
    s = await startAdapterApp('fastify', DPOP_ENV);
  });
  after(() => s.close());

  test('each sign-in gets its own key, which binds the session\'s tokens (cnf.jkt): the provider checked proofs, with its nonces', async () => {
    const [one, two] = [await sessionTokens(s, await signedIn(s)), await sessionTokens(s, await signedIn(s))];
    for (const tokens of [one, two]) {
      assert.equal(tokens.tokenType?.toLowerCase(), 'dpop');
      assert.equal(tokens.dpopKey?.alg, 'ES256', 'the provider lists ES256 first among ours');
      assert.equal((decodeJwt(tokens.accessToken!).cnf as { jkt: string }).jkt, await calculateJwkThumbprint(publicJwkOf(tokens.dpopKey!)));
    }
    assert.notEqual(await calculateJwkThumbprint(publicJwkOf(one.dpopKey!)), await calculateJwkThumbprint(publicJwkOf(two.dpopKey!)));

    // The provider demands a nonce at the token endpoint and at userinfo; the sign-ins above answered both.
    const tokenUrl = `${s.idp.issuer}/v1/token`;
    const atToken = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${DEV_CLIENT_ID}:${DEV_CLIENT_SECRET}`).toString('base64')}`, dpop: await proof(one.dpopKey!, { htm: 'POST', htu: tokenUrl }) },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: one.refreshToken! }),
    });
    assert.deepEqual([atToken.status, ((await atToken.json()) as { error: string }).error], [400, 'use_dpop_nonce']);
    assert.ok(atToken.headers.get('dpop-nonce'));
    const userinfoUrl = `${s.idp.issuer}/v1/userinfo`;
    const atUserinfo = await fetch(userinfoUrl, { headers: { authorization: `DPoP ${one.accessToken}`, dpop: await proof(one.dpopKey!, { htm: 'GET', htu: userinfoUrl, ath: sha256(one.accessToken!) }) } });
    assert.equal(atUserinfo.status, 401);
    assert.match(atUserinfo.headers.get('www-authenticate')!, /^DPoP .*error="use_dpop_nonce"/);
    assert.ok(atUserinfo.headers.get('dpop-nonce'));
  });

  test('the provider binds a pushed request\'s code to the key of its proof: another key can\'t redeem it', async () => {
    const config = await client.discovery(new URL(s.idp.issuer), DEV_CLIENT_ID, DEV_CLIENT_SECRET, undefined, { execute: [client.allowInsecureRequests] });
    const keyOf = async () => {
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      return client.getDPoPHandle(config, { privateKey, publicKey });
    };
    const redirectUri = `${s.url}/authorization-code/callback`;
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = await client.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: redirectUri, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256', state,
    }, { DPoP: await keyOf() });
    const callback = await signIn(new HttpClient(), url, redirectUri, alice);
    await assert.rejects(
      client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: codeVerifier, expectedState: state }, undefined, { DPoP: await keyOf() }),
      (error: { error?: string }) => error.error === 'invalid_grant',
    );
  });

  test('a refresh carries a proof of the session\'s key: the refreshed token is bound to the same key', async () => {
    const browser = await signedIn(s);
    const before = await sessionTokens(s, browser);
    const id = sessionIdFor(browser.cookie(s.url, 'oc_session')!);
    const row = await s.database.db.selectFrom('sessions').select('data').where('id', '=', id).executeTakeFirstOrThrow();
    await changing(s.database.db, (db) => db.updateTable('sessions').set({ data: JSON.stringify({ ...JSON.parse(row.data), expiresAt: Date.now() - 1000 }) }).where('id', '=', id).execute(), () => [{ kind: 'session', id }]);
    assert.match((await browser.get(`${s.url}/`)).body, /"user":"alice"/);
    const after = await sessionTokens(s, browser);
    assert.notEqual(after.accessToken, before.accessToken, 'refreshed');
    assert.equal((decodeJwt(after.accessToken!).cnf as { jkt: string }).jkt, (decodeJwt(before.accessToken!).cnf as { jkt: string }).jkt);
  });

  test('accessToken() is a DPoP token whose headers() the provider\'s userinfo takes; an exchanged token is bound to the same key', async () => {
    const browser = await signedIn(s);
    const own = JSON.parse((await browser.get(`${s.url}/downstream`)).body) as Downstream;
    assert.equal(own.type, 'DPoP');
    assert.deepEqual([own.userinfo?.status, own.userinfo?.body['email']], [200, 'alice@example.com']);

    const exchanged = JSON.parse((await browser.get(`${s.url}/downstream?audience=${encodeURIComponent('api://reports')}`)).body) as Downstream;
    assert.equal(exchanged.type, 'DPoP', JSON.stringify(exchanged));
    const row = await s.database.db.selectFrom('session_tokens').select('sealed').where('session_id', '=', sessionIdFor(browser.cookie(s.url, 'oc_session')!)).executeTakeFirstOrThrow();
    const kept = (await new SessionTokens(s.config.sessionSecret).openExchanged(row.sealed))!;
    const introspection = await fetch(`${s.idp.issuer}/v1/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${DEV_CLIENT_ID}:${DEV_CLIENT_SECRET}`).toString('base64')}` },
      body: new URLSearchParams({ token: kept.accessToken }),
    }).then((r) => r.json()) as { active: boolean; cnf?: { jkt: string } };
    assert.equal(introspection.active, true);
    assert.equal(introspection.cnf?.jkt, await calculateJwkThumbprint(publicJwkOf((await sessionTokens(s, browser)).dpopKey!)));
  });

  test('our API takes the bound token with a proof made by another implementation (openid-client\'s fetchProtectedResource)', async () => {
    const tokens = await sessionTokens(s, await signedIn(s));
    const config = await client.discovery(new URL(s.idp.issuer), DEV_CLIENT_ID, DEV_CLIENT_SECRET, undefined, { execute: [client.allowInsecureRequests] });
    client.allowInsecureRequests(config);
    const answer = await client.fetchProtectedResource(config, tokens.accessToken!, new URL(`${s.url}/api/me?from=openid-client`), 'GET', undefined, new Headers({ accept: 'application/json' }),
      { DPoP: client.getDPoPHandle(config, await dpopKeyPair(tokens.dpopKey!)) });
    assert.equal(answer.status, 200);
    assert.equal(((await answer.json()) as { username: string }).username, 'alice');
  });

  test('attacks on our API: a proof replayed, for another URL or method, too old or from the future, with a wrong ath or key, none; the bound token as Bearer', async () => {
    const { accessToken, dpopKey } = await sessionTokens(s, await signedIn(s));
    const token = accessToken!;
    const key = dpopKey!;
    const htu = `${s.url}/api/me`;
    const ath = sha256(token);
    const now = Math.floor(Date.now() / 1000);

    const good = await proof(key, { htm: 'GET', htu, ath });
    assert.equal((await apiMe(s.url, token, good)).status, 200, 'a good proof passes once');
    const refused = async (dpopProof: string | undefined, reason: RegExp, code = 'INVALID_DPOP_PROOF') => {
      const answer = await apiMe(s.url, token, dpopProof);
      assert.deepEqual([answer.status, answer.error], [401, code], String(reason));
      assert.match(answer.challenge!, /^DPoP error="/);
      assert.match(answer.challenge!, reason);
    };
    await refused(good, /used before \(jti\)/);
    await refused(await proof(key, { htm: 'GET', htu: `${s.url}/api/other`, ath }), /another URL \(htu\)/);
    await refused(await proof(key, { htm: 'POST', htu, ath }), /another HTTP method \(htm\)/);
    await refused(await proof(key, { htm: 'GET', htu, ath, iat: now - 600 }), /too old, or dated in the future \(iat\)/);
    await refused(await proof(key, { htm: 'GET', htu, ath, iat: now + 600 }), /too old, or dated in the future \(iat\)/);
    await refused(await proof(key, { htm: 'GET', htu, ath: sha256('another access token') }), /another access token \(ath\)/);
    const stranger = { ...(await exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey)), alg: 'ES256' };
    await refused(await proof(stranger, { htm: 'GET', htu, ath }), /another key than the one the access token is bound to/);
    await refused(undefined, /no DPoP proof/);
    const asBearer = await apiMe(s.url, token, undefined, 'Bearer');
    assert.deepEqual([asBearer.status, asBearer.error], [401, 'INVALID_TOKEN']);
    assert.match(asBearer.challenge!, /^DPoP error="invalid_token", error_description="This access token is DPoP-bound/);
    assert.equal((await apiMe(s.url, token, await proof(key, { htm: 'GET', htu, ath }))).status, 200, 'a new proof passes');
  });

  test('a bound opaque token (cnf.jkt in the introspection answer) is refused as Bearer and taken with its proof', async () => {
    const browser = await signedIn(s);
    assert.equal((await browser.get(`${s.url}/downstream?audience=${encodeURIComponent('api://reports')}`)).status, 200);
    const row = await s.database.db.selectFrom('session_tokens').select('sealed').where('session_id', '=', sessionIdFor(browser.cookie(s.url, 'oc_session')!)).executeTakeFirstOrThrow();
    const token = (await new SessionTokens(s.config.sessionSecret).openExchanged(row.sealed))!.accessToken;
    const key = (await sessionTokens(s, browser)).dpopKey!;
    // The reports API: another instance on the same accounts, whose audience is api://reports; it introspects.
    const database = s.config.database;
    assert.equal(database.kind, 'sqlite');
    const reports = await startAdapterApp('fastify', {
      DATABASE_URL: `sqlite:${database.kind === 'sqlite' ? database.file : ''}`, OIDC_API_AUDIENCE: 'api://reports',
      OIDC_ISSUER: s.idp.issuer, OIDC_RP_CLIENT_ID: DEV_CLIENT_ID, OIDC_RP_CLIENT_SECRET: DEV_CLIENT_SECRET,
    });
    try {
      const asBearer = await apiMe(reports.url, token, undefined, 'Bearer');
      assert.deepEqual([asBearer.status, asBearer.error], [401, 'INVALID_TOKEN']);
      const withProof = await apiMe(reports.url, token, await proof(key, { htm: 'GET', htu: `${reports.url}/api/me`, ath: sha256(token) }));
      assert.deepEqual([withProof.status, withProof.username], [200, 'alice'], JSON.stringify(withProof));
    } finally {
      await reports.close();
    }
  });
});

describe('DPoP without PAR (OIDC_USE_PAR=off)', () => {
  let s: AdapterApp;
  before(async () => {
    s = await startAdapterApp('fastify', { ...DPOP_ENV, OIDC_USE_PAR: 'off' });
  });
  after(() => s.close());

  test('the authorization request carries dpop_jkt: the thumbprint of the key its session then holds', async () => {
    const browser = new HttpClient();
    const start = await browser.get(`${s.url}/authorization-code/authenticate/`);
    const jkt = new URL(start.location!).searchParams.get('dpop_jkt');
    assert.match(jkt ?? '', /^[A-Za-z0-9_-]{43}$/);
    const callback = await signIn(browser, start.location!, `${s.url}/authorization-code/callback`, alice);
    assert.equal((await browser.get(callback.href)).status, 302);
    const tokens = await sessionTokens(s, browser);
    assert.equal(await calculateJwkThumbprint(publicJwkOf(tokens.dpopKey!)), jkt);
    assert.equal((decodeJwt(tokens.accessToken!).cnf as { jkt: string }).jkt, jkt);
  });
});

// Two instances on one database behind one APP_URL, as behind a load balancer: a proof our API
// accepted at one is refused at the other, because the jti is kept in the database.
for (const target of databaseTargets) {
  describe(`a DPoP proof replayed to another instance, on ${target.name}`, { skip: target.skip }, () => {
    let database: TestDatabase;
    let a: AdapterApp;
    let b: AdapterApp;
    before(async () => {
      database = await target.create();
      a = await startAdapterApp('fastify', { ...DPOP_ENV, DATABASE_URL: database.url });
      b = await startAdapterApp('fastify', {
        DATABASE_URL: database.url, APP_URL: a.url, OIDC_ISSUER: a.idp.issuer, OIDC_RP_CLIENT_ID: DEV_CLIENT_ID, OIDC_RP_CLIENT_SECRET: DEV_CLIENT_SECRET,
      });
    });
    after(async () => {
      await b.close();
      await a.close();
      await database.drop();
    });

    test('taken at one instance, refused at the other', async () => {
      const { accessToken, dpopKey } = await sessionTokens(a, await signedIn(a));
      const once = await proof(dpopKey!, { htm: 'GET', htu: `${a.url}/api/me`, ath: sha256(accessToken!) });
      assert.equal(b.url, a.url, 'one public address');
      assert.notEqual(b.origin, a.origin, 'two instances');
      assert.equal((await apiMe(a.origin, accessToken!, once)).status, 200);
      const replayed = await new HttpClient().get(`${b.origin}/api/me`, { authorization: `DPoP ${accessToken}`, dpop: once, accept: 'application/json' });
      assert.equal(replayed.status, 401);
      assert.equal(JSON.parse(replayed.body).error, 'INVALID_DPOP_PROOF');
      assert.match(replayed.headers.get('www-authenticate')!, /used before \(jti\)/);
    });
  });
}

describe('OIDC_DPOP=on with a provider without DPoP (the fake provider lists no dpop_signing_alg_values_supported)', () => {
  let op: FakeOp;
  before(async () => {
    op = await startFakeOp();
  });
  after(() => op.close());
  const env = () => ({ OIDC_ISSUER: op.issuer, OIDC_RP_CLIENT_ID: 'test-client', OIDC_RP_CLIENT_SECRET: 'test-secret', OIDC_DPOP: 'on' });

  test('the app refuses to start, with one line naming OIDC_DPOP', async () => {
    const base = await testAppBase('dpop-on', env());
    try {
      await assert.rejects(buildApp({ config: base.config, db: base.database.db, rp: createRelyingParty(base.config, base.database.db) }), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.deepEqual(error.problems.map((p) => p.split(':')[0]), ['OIDC_DPOP=on']);
        assert.match(error.problems[0]!, /lists no dpop_signing_alg_values_supported, so it does not take DPoP proofs; set OIDC_DPOP=off/);
        return true;
      });
    } finally {
      await base.close();
    }
  });

  test('check reports it as a PROBLEM', async () => {
    const run = await cli(process.cwd(), ['check'], { ...env(), APP_URL: 'http://localhost:8080' });
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^PROBLEM OIDC_DPOP=on: 127\.0\.0\.1:\d+ \(http:\/\/127\.0\.0\.1:\d+\/oauth2\/default\) lists no dpop_signing_alg_values_supported/m);
  });
});
