// Bearer-token APIs (RFC 6750): /api/me and app.requireBearer, against the real development
// provider (JWT access tokens) and a tiny introspection/userinfo server written here (opaque tokens).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, mock, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import * as jose from 'jose';
import { createUser, findUserByUsername, setActive } from '../src/accounts/users.ts';
import type { Db } from '../src/db/index.ts';
import { DEMO_USERS, DEV_CLIENT_ID, DEV_CLIENT_SECRET } from '../src/dev-idp/index.ts';
import { oidcConnect } from '../src/web/plugin.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { authorizationRequest, signIn } from './support/dev-idp-login.ts';
import { providerLogin, startDevStack, type DevStack } from './support/dev-stack.ts';
import { HttpClient } from './support/http-client.ts';
import { openRowTokens } from './support/session-tokens.ts';

const alice = { email: 'alice@example.com', password: 'wonderland' };
const bob = { email: 'bob@example.com', password: 'builder' };

interface Answer {
  status: number;
  challenge: string | null;
  body: Record<string, unknown>;
  text: string;
}

async function get(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(url, { headers: { accept: 'application/json', ...headers } });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch { /* not JSON: the assertions say so */ }
  return { status: response.status, challenge: response.headers.get('www-authenticate'), body, text };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The access token the app keeps in the session row after a real login through the provider's form. */
async function loginAccessToken(s: DevStack, credentials: { email: string; password: string }): Promise<{ token: string; client: HttpClient }> {
  const client = new HttpClient();
  const done = await providerLogin(client, s.app.url, credentials);
  assert.equal(done.status, 302, done.body);
  const row = await s.app.database.db.selectFrom('sessions').innerJoin('users', 'users.id', 'sessions.user_id')
    .select('sessions.data').where('users.email', '=', credentials.email).orderBy('sessions.created', 'desc').executeTakeFirstOrThrow();
  const token = (await openRowTokens(s.app.config.sessionSecret, row.data)).accessToken;
  assert.ok(token);
  return { token, client };
}

describe('bearer tokens from the development provider', () => {
  let s: DevStack;
  let aliceToken: string;
  let bobToken: string;
  let aliceClient: HttpClient;
  let signingKey: CryptoKey;
  let kid: string;
  let aliceSub: string;

  /** A token signed with the development provider's own key, with `claims` over a valid payload. */
  async function forge(claims: jose.JWTPayload = {}, header: Partial<jose.JWTHeaderParameters> = {}, key: CryptoKey | Uint8Array = signingKey): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new jose.SignJWT({
      iss: s.idp.issuer, aud: 'api://default', sub: aliceSub, iat: now, exp: now + 300,
      client_id: DEV_CLIENT_ID, cid: DEV_CLIENT_ID, scope: 'openid email', scp: ['openid', 'email'], ...claims,
    }).setProtectedHeader({ alg: 'RS256', kid, typ: 'at+jwt', ...header }).sign(key);
  }

  before(async () => {
    s = await startDevStack();
    ({ token: aliceToken, client: aliceClient } = await loginAccessToken(s, alice));
    ({ token: bobToken } = await loginAccessToken(s, bob));
    aliceSub = DEMO_USERS[0]!.sub;
    const keys = JSON.parse(readFileSync(join(s.app.dir, 'dev-idp-keys.json'), 'utf8')) as { signing: jose.JWK[] };
    const rs256 = keys.signing.find((k) => k.alg === 'RS256')!;
    kid = rs256.kid!;
    signingKey = await jose.importJWK(rs256, 'RS256') as CryptoKey;
  });
  after(() => s.close());

  test('a real access token (JWT, at+jwt) is accepted on /api/me', async () => {
    const header = jose.decodeProtectedHeader(aliceToken);
    assert.equal(header.typ, 'at+jwt');
    const me = await get(`${s.app.url}/api/me`, bearer(aliceToken));
    assert.equal(me.status, 200, me.text);
    assert.equal(me.body['auth'], 'bearer');
    assert.equal(me.body['username'], 'alice');
    assert.equal(me.body['email'], 'alice@example.com');
    assert.equal(me.body['provider'], 'default');
    assert.equal(me.body['client_id'], DEV_CLIENT_ID);
    assert.deepEqual([...(me.body['scopes'] as string[])].sort(), ['email', 'openid', 'profile']);
    assert.ok(Date.parse(me.body['token_expires_at'] as string) > Date.now());
    // The scheme is case-insensitive.
    assert.equal((await get(`${s.app.url}/api/me`, { authorization: `bearer ${bobToken}` })).body['username'], 'bob');
  });

  test('a Bearer header wins over the session cookie; without one the session answers', async () => {
    const cookie = `oc_session=${aliceClient.cookie(s.app.url, 'oc_session')}`;
    const session = await get(`${s.app.url}/api/me`, { cookie });
    assert.equal(session.body['auth'], 'session');
    assert.equal(session.body['username'], 'alice');
    const both = await get(`${s.app.url}/api/me`, { cookie, ...bearer(bobToken) });
    assert.equal(both.body['auth'], 'bearer');
    assert.equal(both.body['username'], 'bob');
    const badBearer = await get(`${s.app.url}/api/me`, { cookie, ...bearer('a.b.c') });
    assert.equal(badBearer.status, 401, 'a bad token is refused even with a good session');
    const basic = await get(`${s.app.url}/api/me`, { cookie, authorization: 'Basic YWxpY2U6d29uZGVybGFuZA==' });
    assert.equal(basic.body['auth'], 'session', 'another scheme is not Bearer credentials');
  });

  test('RFC 6750 answers for every kind of bad request', async () => {
    const now = Math.floor(Date.now() / 1000);
    const [h, , signature] = aliceToken.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...jose.decodeJwt(aliceToken), sub: DEMO_USERS[1]!.sub })).toString('base64url')}.${signature}`;
    const { privateKey: strangerKey } = await jose.generateKeyPair('RS256');
    const publicJwk = (await (await fetch(`${s.idp.issuer}/v1/keys`)).json() as { keys: jose.JWK[] }).keys.find((k) => k.kid === kid)!;
    const invalid = (description: RegExp) => ({ status: 401, error: 'INVALID_TOKEN', challenge: description });
    const cases: Array<[string, Record<string, string>, { status: number; error: string; challenge: RegExp }]> = [
      ['no Authorization header', {}, { status: 401, error: 'LOGIN_REQUIRED', challenge: /^Bearer$/ }],
      ['Basic scheme', { authorization: 'Basic YWxpY2U6d29uZGVybGFuZA==' }, { status: 401, error: 'LOGIN_REQUIRED', challenge: /^Bearer$/ }],
      ['Bearer without a token', { authorization: 'Bearer' }, { status: 400, error: 'BAD_REQUEST', challenge: /^Bearer error="invalid_request", error_description="[^"]+"$/ }],
      ['two tokens', { authorization: `Bearer ${aliceToken} ${bobToken}` }, { status: 400, error: 'BAD_REQUEST', challenge: /error="invalid_request"/ }],
      ['not b64token', bearer('ab"cd'), { status: 400, error: 'BAD_REQUEST', challenge: /error="invalid_request"/ }],
      ['garbage (opaque: introspected, inactive)', bearer('garbage-not-a-token'), invalid(/^Bearer error="invalid_token", error_description="The access token is not active/)],
      ['garbage JWT', bearer('a.b.c'), invalid(/error="invalid_token", error_description="The access token is malformed."/)],
      ['wrong audience', bearer(await forge({ aud: 'api://payments' })), invalid(/not meant for this API \(aud\)/)],
      ['wrong issuer', bearer(await forge({ iss: 'http://localhost:1/oauth2/default' })), invalid(/unknown issuer \(iss\)/)],
      ['expired', bearer(await forge({ iat: now - 7200, exp: now - 3600 })), invalid(/has expired/)],
      ['not valid yet', bearer(await forge({ nbf: now + 3600 })), invalid(/not valid yet/)],
      ['issued in the future', bearer(await forge({ iat: now + 3600 })), invalid(/issued in the future/)],
      ['bad signature', bearer(tampered), invalid(/signature is invalid/)],
      ['alg none', bearer(new jose.UnsecuredJWT({ sub: aliceSub, scp: ['openid'] }).setIssuer(s.idp.issuer).setAudience('api://default').setExpirationTime('5m').encode()), invalid(/algorithm is not allowed/)],
      ['HS256 keyed with the public key', bearer(await forge({}, { alg: 'HS256' }, new TextEncoder().encode(JSON.stringify(publicJwk)))), invalid(/algorithm is not allowed/)],
      ['signed by an unknown key', bearer(await forge({}, { kid: 'stranger' }, strangerKey)), invalid(/unknown key/)],
      ['unknown key claiming a known kid', bearer(await forge({}, {}, strangerKey)), invalid(/signature is invalid/)],
      ['a logout token is not an access token', bearer(await forge({}, { typ: 'logout+jwt' })), invalid(/not an access token \(typ\)/)],
      ['an unknown user', bearer(await forge({ sub: '00uNOBODY' })), invalid(/does not belong to an active account/)],
    ];
    for (const [name, headers, expected] of cases) {
      const answer = await get(`${s.app.url}/api/me`, headers);
      assert.equal(answer.status, expected.status, `${name}: ${answer.text}`);
      assert.equal(answer.body['error'], expected.error, name);
      assert.equal(typeof answer.body['message'], 'string', name);
      assert.match(answer.challenge ?? '', expected.challenge, name);
      const token = headers['authorization']?.split(' ')[1];
      if (token && token.length > 8) {
        assert.ok(!answer.text.includes(token) && !(answer.challenge ?? '').includes(token), `${name}: the token is not echoed`);
      }
    }
  });

  test('an ID token is not an access token', async () => {
    const row = await s.app.database.db.selectFrom('sessions').select('data').orderBy('created', 'desc').executeTakeFirstOrThrow();
    const idToken = (await openRowTokens(s.app.config.sessionSecret, row.data)).idToken!;
    const answer = await get(`${s.app.url}/api/me`, bearer(idToken));
    assert.equal(answer.status, 401);
    assert.match(answer.challenge!, /error="invalid_token"/);
  });

  test('a deactivated user\'s token stops working at once', async () => {
    const db = s.app.database.db;
    // Through the owner of the users table, whose announcement reaches the cache of verified tokens.
    const { id } = (await findUserByUsername(db, 'alice'))!;
    await setActive(db, id, false);
    try {
      const answer = await get(`${s.app.url}/api/me`, bearer(aliceToken));
      assert.equal(answer.status, 401);
      assert.match(answer.challenge!, /does not belong to an active account/);
    } finally {
      await setActive(db, id, true);
    }
    assert.equal((await get(`${s.app.url}/api/me`, bearer(aliceToken))).status, 200);
  });

  test('a refresh token (opaque, introspected) is not an access token', async () => {
    const redirectUri = `${s.app.url}/authorization-code/callback`;
    const request = await authorizationRequest(s.idp.issuer, DEV_CLIENT_ID, redirectUri);
    const callback = await signIn(new HttpClient(), request.url, redirectUri, alice);
    const response = await fetch(`${s.idp.issuer}/v1/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${DEV_CLIENT_ID}:${DEV_CLIENT_SECRET}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: redirectUri, code_verifier: request.codeVerifier }),
    });
    const tokens = await response.json() as { access_token: string; refresh_token: string };
    assert.ok(tokens.refresh_token);
    const refused = await get(`${s.app.url}/api/me`, bearer(tokens.refresh_token));
    assert.equal(refused.status, 401, refused.text);
    assert.match(refused.challenge!, /error="invalid_token", error_description="The provider did not confirm this is an access token/);
    const me = await get(`${s.app.url}/api/me`, bearer(tokens.access_token));
    assert.equal(me.status, 200);
    assert.ok((me.body['scopes'] as string[]).includes('offline_access'));
  });

  describe('app.requireBearer in a library user\'s own app', () => {
    let app: FastifyInstance;
    before(async () => {
      app = Fastify();
      await app.register(oidcConnect, { config: s.app.config, db: s.app.database.db, rp: s.app.rp });
      app.get('/things', { preHandler: app.requireBearer({ scopes: ['openid'] }) }, async (request) => ({
        user: request.user?.username, scopes: request.bearer?.scopes, sub: request.bearer?.subject,
      }));
      app.post<{ Body: { name?: string } }>('/things', { preHandler: app.requireBearer({ scopes: ['api:write', 'openid'] }) }, async (request) => ({ created: request.body?.name }));
      app.get('/machine', { preHandler: [app.requireBearer({ user: 'optional' })] }, async (request) => ({
        user: request.user, client: request.bearer?.clientId,
      }));
      await app.ready();
    });
    after(() => app.close());

    test('a granted scope passes; request.user and request.bearer are set', async () => {
      const response = await app.inject({ url: '/things', headers: bearer(aliceToken) });
      assert.equal(response.statusCode, 200);
      assert.deepEqual(response.json(), { user: 'alice', scopes: ['openid', 'email', 'profile'], sub: aliceSub });
    });

    test('a missing scope is 403 insufficient_scope, naming the scopes', async () => {
      const response = await app.inject({ method: 'POST', url: '/things', headers: bearer(aliceToken), payload: { name: 'x' } });
      assert.equal(response.statusCode, 403);
      assert.equal(response.headers['www-authenticate'],
        'Bearer error="insufficient_scope", error_description="This request needs the scope api:write.", scope="api:write openid"');
      assert.deepEqual(response.json(), { error: 'INSUFFICIENT_SCOPE', message: 'This request needs the scope api:write.' });
    });

    test('no credentials is 401 with a bare challenge (no session fallback)', async () => {
      const response = await app.inject({ url: '/things' });
      assert.equal(response.statusCode, 401);
      assert.equal(response.headers['www-authenticate'], 'Bearer');
      assert.equal(response.json().error, 'LOGIN_REQUIRED');
    });

    test('user: optional lets a valid token of an unknown subject through, with user null', async () => {
      const response = await app.inject({ url: '/machine', headers: bearer(await forge({ sub: 'service-account', client_id: 'robot' })) });
      assert.equal(response.statusCode, 200);
      assert.deepEqual(response.json(), { user: null, client: 'robot' });
      assert.equal((await app.inject({ url: '/machine', headers: bearer(await forge({ exp: 1 })) })).statusCode, 401);
    });
  });
});

// --- Opaque tokens and JWKS rotation, against a small authorization server written for these tests ---

const CLIENT_ID = 'api-client';
const CLIENT_SECRET = 'api-client-secret';

type IssuerName = 'introspect' | 'userinfo-only' | 'dot' | 'dot-appended';

/**
 * Four issuers on one loopback port. Each serves OpenID discovery, a JWKS, userinfo and RFC 7662
 * introspection (at `/v1/introspect`, and at `/v1/introspect-alt` for an explicit setting); they
 * differ in where they advertise introspection:
 * - `introspect` in OpenID discovery (Okta, Keycloak, LemonLDAP::NG);
 * - `dot` only in RFC 8414 metadata where RFC 8414 puts it, at
 *   /.well-known/oauth-authorization-server/oauth2/dot (django-oauth-toolkit mounted at the root);
 * - `dot-appended` only in metadata after its path, at /oauth2/dot-appended/.well-known/oauth-authorization-server
 *   (django-oauth-toolkit included under its prefix);
 * - `userinfo-only` nowhere (Google).
 * Introspection answers for any client's token, as real providers do: the relying party must check
 * whose it is. Requests are counted.
 */
class TestAuthorizationServer {
  readonly server: Server;
  readonly calls = { introspect: 0, userinfo: 0, keys: 0, oauthMetadata: 0 };
  /** How many RFC 8414 metadata requests still answer 503, as a provider that is briefly down. */
  oauthMetadataOutages = 0;
  /** The path of every introspection request, in order. */
  readonly introspectionPaths: string[] = [];
  /** Opaque token -> introspection answer. */
  readonly introspection = new Map<string, Record<string, unknown>>();
  /** Opaque token -> userinfo claims (an access token of any client). */
  readonly userinfo = new Map<string, Record<string, unknown>>();
  /** Opaque token -> a userinfo refusal (status and error), as for a token without the openid scope. */
  readonly userinfoRefusals = new Map<string, { status: number; error: string }>();
  jwks: { keys: jose.JWK[] } = { keys: [] };
  port = 0;

  constructor() {
    this.server = createServer((req, res) => { this.handle(req, res).catch(() => res.writeHead(500).end()); });
  }

  issuer(name: IssuerName): string {
    return `http://127.0.0.1:${this.port}/oauth2/${name}`;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
    };
    const oauthMetadata = (name: IssuerName) => {
      this.calls.oauthMetadata++;
      if (this.oauthMetadataOutages > 0) {
        this.oauthMetadataOutages--;
        return json(503, { error: 'temporarily_unavailable' });
      }
      const issuer = this.issuer(name);
      return json(200, {
        issuer,
        authorization_endpoint: `${issuer}/v1/authorize`,
        token_endpoint: `${issuer}/v1/token`,
        introspection_endpoint: `${issuer}/v1/introspect`,
        response_types_supported: ['code'],
      });
    };
    if (url.pathname === '/.well-known/oauth-authorization-server/oauth2/dot') return oauthMetadata('dot');
    if (url.pathname === '/oauth2/dot-appended/.well-known/oauth-authorization-server') return oauthMetadata('dot-appended');
    if (url.pathname.includes('/.well-known/oauth-authorization-server')) {
      this.calls.oauthMetadata++;
      return json(404, { error: 'not_found' });
    }
    const match = /^\/oauth2\/(introspect|userinfo-only|dot|dot-appended)(\/.*)$/.exec(url.pathname);
    if (!match) return json(404, { error: 'not_found' });
    const name = match[1] as IssuerName;
    const issuer = this.issuer(name);
    switch (match[2]) {
      case '/.well-known/openid-configuration':
        return json(200, {
          issuer,
          authorization_endpoint: `${issuer}/v1/authorize`,
          token_endpoint: `${issuer}/v1/token`,
          userinfo_endpoint: `${issuer}/v1/userinfo`,
          jwks_uri: `${issuer}/v1/keys`,
          ...(name === 'introspect' ? { introspection_endpoint: `${issuer}/v1/introspect` } : {}),
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
          token_endpoint_auth_methods_supported: ['client_secret_basic'],
        });
      case '/v1/keys':
        this.calls.keys++;
        return json(200, this.jwks);
      case '/v1/introspect':
      case '/v1/introspect-alt': {
        this.calls.introspect++;
        this.introspectionPaths.push(url.pathname);
        // RFC 6749 §2.3.1: id and secret are form-encoded before base64 (openid-client encodes '-' too).
        const [id, secret] = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString().split(':').map((part) => decodeURIComponent(part.replace(/\+/g, ' ')));
        if (req.method !== 'POST' || id !== CLIENT_ID || secret !== CLIENT_SECRET) return json(401, { error: 'invalid_client' });
        let body = '';
        for await (const chunk of req) body += chunk;
        const token = new URLSearchParams(body).get('token') ?? '';
        return json(200, this.introspection.get(token) ?? { active: false });
      }
      case '/v1/userinfo': {
        this.calls.userinfo++;
        const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
        const refusal = this.userinfoRefusals.get(token);
        if (refusal) return json(refusal.status, { error: refusal.error }, { 'www-authenticate': `Bearer error="${refusal.error}"` });
        const claims = this.userinfo.get(token);
        if (!claims) return json(401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
        return json(200, claims);
      }
      default:
        return json(404, { error: 'not_found' });
    }
  }
}

async function linkUser(db: Db, issuer: string, subject: string, username: string): Promise<void> {
  const user = await createUser(db, { username, email: `${username}@example.com` });
  await db.insertInto('identities').values({ issuer, subject, user_id: user.id, created: Date.now(), last_login: Date.now() }).execute();
}

describe('opaque tokens and JWKS rotation (test authorization server)', () => {
  const as = new TestAuthorizationServer();
  /** Introspection in discovery; tokens of the clients `spa` and `mobile` are accepted too. */
  let withIntrospection: TestApp;
  /** No introspection anywhere, default settings. */
  let userinfoOnly: TestApp;
  /** No introspection anywhere, with the userinfo fallback opted in. */
  let userinfoOptIn: TestApp;
  /** Introspection only in RFC 8414 metadata. */
  let dot: TestApp;
  /** Introspection only in metadata after the issuer's path. */
  let dotAppended: TestApp;
  /** No introspection advertised; OIDC_OP_INTROSPECTION_ENDPOINT names it. */
  let explicit: TestApp;
  /** Introspection in discovery, and OIDC_OP_INTROSPECTION_ENDPOINT names another. */
  let explicitWins: TestApp;
  const env = (issuer: string, extra: Record<string, string> = {}) => ({ OIDC_ISSUER: issuer, OIDC_RP_CLIENT_ID: CLIENT_ID, OIDC_RP_CLIENT_SECRET: CLIENT_SECRET, ...extra });
  const accessToken = (claims: Record<string, unknown>) => ({
    active: true, scope: 'openid api:read', client_id: CLIENT_ID, exp: Math.floor(Date.now() / 1000) + 3600, token_type: 'Bearer', ...claims,
  });

  before(async () => {
    await as.listen();
    [withIntrospection, userinfoOnly, userinfoOptIn, dot, dotAppended, explicit, explicitWins] = await Promise.all([
      startTestApp(env(as.issuer('introspect'), { OIDC_API_ALLOWED_CLIENTS: 'spa, mobile' })),
      startTestApp(env(as.issuer('userinfo-only'))),
      startTestApp(env(as.issuer('userinfo-only'), { OIDC_API_OPAQUE_USERINFO: 'true' })),
      startTestApp(env(as.issuer('dot'))),
      startTestApp(env(as.issuer('dot-appended'))),
      startTestApp(env(as.issuer('userinfo-only'), { OIDC_OP_INTROSPECTION_ENDPOINT: `${as.issuer('userinfo-only')}/v1/introspect` })),
      startTestApp(env(as.issuer('introspect'), { OIDC_OP_INTROSPECTION_ENDPOINT: `${as.issuer('introspect')}/v1/introspect-alt` })),
    ]);
    await linkUser(withIntrospection.database.db, as.issuer('introspect'), 'sub-carol', 'carol');
    await linkUser(userinfoOnly.database.db, as.issuer('userinfo-only'), 'sub-dave', 'dave');
    await linkUser(userinfoOptIn.database.db, as.issuer('userinfo-only'), 'sub-dave', 'dave');
    await linkUser(dot.database.db, as.issuer('dot'), 'sub-erin', 'erin');
    await linkUser(dotAppended.database.db, as.issuer('dot-appended'), 'sub-erin', 'erin');
    await linkUser(explicit.database.db, as.issuer('userinfo-only'), 'sub-dave', 'dave');
    await linkUser(explicitWins.database.db, as.issuer('introspect'), 'sub-carol', 'carol');
  });
  after(async () => {
    mock.timers.reset();
    await Promise.all([withIntrospection, userinfoOnly, userinfoOptIn, dot, dotAppended, explicit, explicitWins].map((app) => app?.close()));
    await as.close();
  });

  test('an opaque token is introspected once, then served from the cache until the entry expires', async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    try {
      const calls = as.calls.introspect;
      const exp = Math.floor(Date.now() / 1000) + 3600;
      as.introspection.set('opaque-carol-1', {
        active: true, sub: 'sub-carol', scope: 'openid api:read', client_id: 'spa', exp, iss: as.issuer('introspect'), aud: 'api://default', token_type: 'Bearer',
      });
      const me = await get(`${withIntrospection.url}/api/me`, bearer('opaque-carol-1'));
      assert.equal(me.status, 200, me.text);
      assert.equal(me.body['auth'], 'bearer');
      assert.equal(me.body['username'], 'carol');
      assert.deepEqual(me.body['scopes'], ['openid', 'api:read']);
      assert.equal(me.body['client_id'], 'spa');
      assert.equal(as.calls.introspect, calls + 1);

      mock.timers.tick(30_000);
      assert.equal((await get(`${withIntrospection.url}/api/me`, bearer('opaque-carol-1'))).status, 200);
      assert.equal(as.calls.introspect, calls + 1, 'within the cache window: no call');

      as.introspection.set('opaque-carol-1', { active: false }); // revoked at the provider
      mock.timers.tick(31_000); // 61 s: the entry has expired
      const revoked = await get(`${withIntrospection.url}/api/me`, bearer('opaque-carol-1'));
      assert.equal(as.calls.introspect, calls + 2, 'an expired entry calls again');
      assert.equal(revoked.status, 401);
      assert.match(revoked.challenge!, /^Bearer error="invalid_token", error_description="The access token is not active/);
    } finally {
      mock.timers.reset();
    }
  });

  test('a refused token is remembered briefly, so repeating it does not reach the provider', async () => {
    const before = as.calls.introspect;
    for (let i = 0; i < 5; i++) assert.equal((await get(`${withIntrospection.url}/api/me`, bearer('opaque-unknown'))).status, 401);
    assert.equal(as.calls.introspect, before + 1);
  });

  test('a token the provider issued to another client is refused; our client id and OIDC_API_ALLOWED_CLIENTS pass', async () => {
    const iss = as.issuer('introspect');
    as.introspection.set('opaque-intruder', accessToken({ sub: 'sub-carol', client_id: 'intruder', aud: 'api://default', iss }));
    as.introspection.set('opaque-no-client', accessToken({ sub: 'sub-carol', client_id: undefined, aud: 'api://default', iss }));
    as.introspection.set('opaque-own', accessToken({ sub: 'sub-carol', iss }));
    as.introspection.set('opaque-mobile', accessToken({ sub: 'sub-carol', client_id: 'mobile' }));
    as.introspection.set('opaque-aud-is-us', accessToken({ sub: 'sub-carol', client_id: undefined, aud: [CLIENT_ID] }));
    for (const token of ['opaque-intruder', 'opaque-no-client']) {
      const refused = await get(`${withIntrospection.url}/api/me`, bearer(token));
      assert.equal(refused.status, 401, `${token}: ${refused.text}`);
      assert.match(refused.challenge!, /error="invalid_token", error_description="The access token was issued to another client \(client_id\)/, token);
    }
    for (const token of ['opaque-own', 'opaque-mobile', 'opaque-aud-is-us']) {
      const me = await get(`${withIntrospection.url}/api/me`, bearer(token));
      assert.equal(me.status, 200, `${token}: ${me.text}`);
      assert.equal(me.body['username'], 'carol');
    }
  });

  test('introspection answers for another audience, or for an unknown user, are refused', async () => {
    as.introspection.set('opaque-other-aud', accessToken({ sub: 'sub-carol', aud: 'api://payments' }));
    as.introspection.set('opaque-stranger', accessToken({ sub: 'sub-nobody', aud: 'api://default' }));
    const aud = await get(`${withIntrospection.url}/api/me`, bearer('opaque-other-aud'));
    assert.equal(aud.status, 401);
    assert.match(aud.challenge!, /\(aud\)/);
    const stranger = await get(`${withIntrospection.url}/api/me`, bearer('opaque-stranger'));
    assert.equal(stranger.status, 401);
    assert.match(stranger.challenge!, /does not belong to an active account/);
  });

  test('an answer without token_type or aud (LemonLDAP::NG) passes when the client is ours and userinfo takes the token', async () => {
    const lemon = (client_id: string) => ({ active: true, sub: 'sub-carol', scope: 'openid api:read', client_id, iss: as.issuer('introspect'), exp: Math.floor(Date.now() / 1000) + 3600 });
    as.introspection.set('opaque-lemon', lemon(CLIENT_ID));
    as.userinfo.set('opaque-lemon', { sub: 'sub-carol' });
    as.introspection.set('opaque-lemon-intruder', lemon('intruder'));
    as.userinfo.set('opaque-lemon-intruder', { sub: 'sub-carol' });
    // oidc-provider introspects refresh tokens like this too; userinfo takes only access tokens.
    as.introspection.set('opaque-lemon-refresh', lemon(CLIENT_ID));

    const me = await get(`${withIntrospection.url}/api/me`, bearer('opaque-lemon'));
    assert.equal(me.status, 200, me.text);
    assert.equal(me.body['username'], 'carol');
    assert.deepEqual(me.body['scopes'], ['openid', 'api:read']);
    const intruder = await get(`${withIntrospection.url}/api/me`, bearer('opaque-lemon-intruder'));
    assert.equal(intruder.status, 401);
    assert.match(intruder.challenge!, /issued to another client/);
    const refresh = await get(`${withIntrospection.url}/api/me`, bearer('opaque-lemon-refresh'));
    assert.equal(refresh.status, 401);
    assert.match(refresh.challenge!, /The provider did not confirm this is an access token/);
  });

  test('without introspection, opaque tokens are refused by default, even one that userinfo takes (it may be another client\'s)', async () => {
    as.userinfo.set('opaque-dave-elsewhere', { sub: 'sub-dave', email: 'dave@example.com' });
    const before = as.calls.userinfo;
    const refused = await get(`${userinfoOnly.url}/api/me`, bearer('opaque-dave-elsewhere'));
    assert.equal(refused.status, 401, refused.text);
    assert.match(refused.challenge!, /error="invalid_token", error_description="[^"]*no introspection endpoint/);
    assert.equal(as.calls.userinfo, before, 'the token was not shown to userinfo');
    assert.equal(as.calls.oauthMetadata > 0, true, 'RFC 8414 metadata was looked for');
  });

  test('with OIDC_API_OPAQUE_USERINFO=true, userinfo decides (and is cached)', async () => {
    as.userinfo.set('opaque-dave', { sub: 'sub-dave', email: 'dave@example.com' });
    const before = as.calls.userinfo;
    const me = await get(`${userinfoOptIn.url}/api/me`, bearer('opaque-dave'));
    assert.equal(me.status, 200, me.text);
    assert.equal(me.body['username'], 'dave');
    assert.deepEqual(me.body['scopes'], []);
    assert.equal((await get(`${userinfoOptIn.url}/api/me`, bearer('opaque-dave'))).status, 200);
    assert.equal(as.calls.userinfo, before + 1);
    const dead = await get(`${userinfoOptIn.url}/api/me`, bearer('opaque-dead'));
    assert.equal(dead.status, 401);
    assert.match(dead.challenge!, /error="invalid_token"/);
  });

  test('django-oauth-toolkit: introspection is found in RFC 8414 metadata, and an answer without sub is completed through userinfo', async () => {
    const dotAnswer = (client_id: string) => ({ active: true, scope: 'openid read', client_id, username: 'erin', exp: Math.floor(Date.now() / 1000) + 3600 });
    as.introspection.set('opaque-dot', dotAnswer(CLIENT_ID));
    as.userinfo.set('opaque-dot', { sub: 'sub-erin' });
    as.introspection.set('opaque-dot-intruder', dotAnswer('intruder'));
    as.userinfo.set('opaque-dot-intruder', { sub: 'sub-erin' });
    as.introspection.set('opaque-dot-no-openid', dotAnswer(CLIENT_ID));
    as.userinfoRefusals.set('opaque-dot-no-openid', { status: 403, error: 'insufficient_scope' });
    const introspections = as.calls.introspect;
    const userinfos = as.calls.userinfo;

    as.oauthMetadataOutages = 1; // the provider could not answer: 502, and the metadata is asked again
    const down = await get(`${dot.url}/api/me`, bearer('opaque-dot'));
    assert.equal(down.status, 502, down.text);
    assert.equal(down.body['error'], 'PROVIDER_BAD_RESPONSE');
    const me = await get(`${dot.url}/api/me`, bearer('opaque-dot'));
    assert.equal(me.status, 200, me.text);
    assert.equal(me.body['username'], 'erin');
    assert.deepEqual(me.body['scopes'], ['openid', 'read']);
    assert.equal(as.calls.introspect, introspections + 1, 'introspected at the endpoint of the RFC 8414 metadata');
    assert.equal(as.introspectionPaths.at(-1), '/oauth2/dot/v1/introspect');
    assert.equal(as.calls.userinfo, userinfos + 1, 'userinfo named the subject');

    const intruder = await get(`${dot.url}/api/me`, bearer('opaque-dot-intruder'));
    assert.equal(intruder.status, 401);
    assert.match(intruder.challenge!, /issued to another client/);
    assert.equal(as.calls.userinfo, userinfos + 1, 'another client\'s token never reaches userinfo');
    const noOpenid = await get(`${dot.url}/api/me`, bearer('opaque-dot-no-openid'));
    assert.equal(noOpenid.status, 401);
    assert.match(noOpenid.challenge!, /no subject/);

    // Included under its prefix, django-oauth-toolkit serves the document after the issuer's path.
    const appended = await get(`${dotAppended.url}/api/me`, bearer('opaque-dot'));
    assert.equal(appended.status, 200, appended.text);
    assert.equal(as.introspectionPaths.at(-1), '/oauth2/dot-appended/v1/introspect');
  });

  test('OIDC_OP_INTROSPECTION_ENDPOINT serves a provider that advertises none, and wins over discovery', async () => {
    as.introspection.set('opaque-explicit-dave', accessToken({ sub: 'sub-dave' }));
    const me = await get(`${explicit.url}/api/me`, bearer('opaque-explicit-dave'));
    assert.equal(me.status, 200, me.text);
    assert.equal(me.body['username'], 'dave');
    assert.equal(as.introspectionPaths.at(-1), '/oauth2/userinfo-only/v1/introspect');

    as.introspection.set('opaque-explicit-carol', accessToken({ sub: 'sub-carol' }));
    const carol = await get(`${explicitWins.url}/api/me`, bearer('opaque-explicit-carol'));
    assert.equal(carol.status, 200, carol.text);
    assert.equal(as.introspectionPaths.at(-1), '/oauth2/introspect/v1/introspect-alt');
  });

  test('2,000 random opaque tokens from one address within a minute make exactly 30 provider calls (OIDC_API_OPAQUE_LIMIT_PER_MINUTE), the rest 429; a good token from another address works', async (t) => {
    // The clock stands still: the whole flood falls in one window however long this machine takes.
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const app = withIntrospection.app;
    const before = as.calls.introspect + as.calls.userinfo;
    const statuses: Record<number, number> = {};
    for (let batch = 0; batch < 20; batch++) {
      const answers = await Promise.all(Array.from({ length: 100 }, () =>
        app.inject({ url: '/api/me', headers: bearer(randomBytes(24).toString('base64url')), remoteAddress: '203.0.113.9' })));
      for (const answer of answers) statuses[answer.statusCode] = (statuses[answer.statusCode] ?? 0) + 1;
    }
    const calls = as.calls.introspect + as.calls.userinfo - before;
    assert.equal(calls, 30, 'provider calls');
    assert.deepEqual(statuses, { 401: 30, 429: 1970 });
    const limited = await app.inject({ url: '/api/me', headers: bearer('yet-another-random-token'), remoteAddress: '203.0.113.9' });
    assert.equal(limited.statusCode, 429);
    assert.match(String(limited.headers['retry-after']), /^\d+$/);
    assert.ok(Number(limited.headers['retry-after']) <= 60);
    assert.equal(limited.json().error, 'TOO_MANY_ATTEMPTS');

    as.introspection.set('opaque-carol-elsewhere', accessToken({ sub: 'sub-carol' }));
    const good = await app.inject({ url: '/api/me', headers: bearer('opaque-carol-elsewhere'), remoteAddress: '198.51.100.7' });
    assert.equal(good.statusCode, 200, good.body);
    assert.equal(good.json().username, 'carol');
  });

  test('an unknown kid re-fetches the JWKS at most once per cooldown; a rotated key is picked up', async () => {
    const issuer = as.issuer('introspect');
    const key = async (kid: string) => {
      const { privateKey, publicKey } = await jose.generateKeyPair('ES256', { extractable: true });
      return { kid, privateKey, jwk: { ...(await jose.exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
    };
    const [k1, k2, stranger] = await Promise.all([key('k1'), key('k2'), key('stranger')]);
    const sign = (signer: { kid: string; privateKey: CryptoKey }, kid = signer.kid) => new jose.SignJWT({ scp: ['openid'] })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' }).setIssuer(issuer).setAudience('api://default')
      .setSubject('sub-carol').setIssuedAt().setExpirationTime('5m').sign(signer.privateKey);
    as.jwks = { keys: [k1.jwk] };

    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    try {
      const fetchesBefore = as.calls.keys;
      assert.equal((await get(`${withIntrospection.url}/api/me`, bearer(await sign(k1)))).status, 200);
      assert.equal(as.calls.keys, fetchesBefore + 1, 'the JWKS is fetched once');
      assert.equal((await get(`${withIntrospection.url}/api/me`, bearer(await sign(k1)))).status, 200);
      assert.equal(as.calls.keys, fetchesBefore + 1, 'and then cached');

      const flood = await Promise.all(Array.from({ length: 10 }, async (_, i) =>
        get(`${withIntrospection.url}/api/me`, bearer(await sign(stranger, `made-up-${i}`)))));
      for (const answer of flood) {
        assert.equal(answer.status, 401);
        assert.match(answer.challenge!, /unknown key/);
      }
      assert.equal(as.calls.keys, fetchesBefore + 2, 'a flood of unknown kids: one shared re-fetch');

      as.jwks = { keys: [k1.jwk, k2.jwk] }; // the provider rotates
      assert.equal((await get(`${withIntrospection.url}/api/me`, bearer(await sign(k2)))).status, 401, 'within the cooldown: not yet');
      assert.equal(as.calls.keys, fetchesBefore + 2);
      mock.timers.tick(11_000);
      assert.equal((await get(`${withIntrospection.url}/api/me`, bearer(await sign(k2)))).status, 200, 'the new key is fetched');
      assert.equal(as.calls.keys, fetchesBefore + 3);
      for (let i = 0; i < 5; i++) {
        assert.equal((await get(`${withIntrospection.url}/api/me`, bearer(await sign(stranger, `again-${i}`)))).status, 401);
      }
      assert.equal(as.calls.keys, fetchesBefore + 3, 'one re-fetch per cooldown, however many unknown kids');
    } finally {
      mock.timers.reset();
    }
  });
});
