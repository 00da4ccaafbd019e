import assert from 'node:assert/strict';
import { after, before, describe, mock, test } from 'node:test';
import * as jose from 'jose';
import * as client from 'openid-client';
import type { Config, ProviderConfig } from '../../config/index.ts';
import { OidcConnectError } from '../../errors.ts';
import type { RelyingParty } from '../index.ts';
import type { ProviderClient } from '../provider.ts';
import { BearerAuthenticator, BearerError, TooManyTokenChecks, type BearerToken } from './index.ts';

const ISSUER = 'https://op.example/oauth2/default';
const AUDIENCE = 'api://default';

// --- BearerAuthenticator against a stub provider (no network, no database) ---

interface Stub {
  introspections: number;
  userinfos: number;
  introspect: ((token: string) => Promise<client.IntrospectionResponse | null>) | null;
  userinfo: (token: string) => Promise<Record<string, unknown> | null>;
}

function providerConfig(id: string, issuer: string): ProviderConfig {
  return { id, name: id, issuer, clientId: 'client', clientSecret: 'secret', scopes: ['openid'], signAlgs: [], usernameAlgo: 'claims', endpoints: {} };
}

function stubProvider(config: ProviderConfig, keys: jose.JWTVerifyGetKey, stub: Stub): ProviderClient {
  return {
    config,
    serverMetadata: async () => ({ issuer: config.issuer }),
    accessTokenKeys: async () => ({ issuer: config.issuer, keys }),
    introspect: async (token: string) => {
      if (!stub.introspect) return null;
      stub.introspections++;
      return stub.introspect(token);
    },
    userinfoForToken: async (token: string) => {
      stub.userinfos++;
      return stub.userinfo(token);
    },
  } as unknown as ProviderClient;
}

describe('BearerAuthenticator', () => {
  let signingKey: CryptoKey;
  let otherKey: CryptoKey;
  let keys: jose.JWTVerifyGetKey;
  const opaqueTokens = { allowedClients: ['allowed-app'], userinfoFallback: false, limitPerMinute: 30 };
  const config = { apiAudience: AUDIENCE, clockToleranceSeconds: 30, opaqueTokens } as Partial<Config> as Config;
  const newStub = (): Stub => ({
    introspections: 0,
    userinfos: 0,
    introspect: async () => ({ active: false }),
    userinfo: async () => null,
  });

  function authenticator(stub: Stub, extra: { second?: Stub; opaqueProviders?: string[]; keys?: jose.JWTVerifyGetKey; opaque?: Partial<typeof opaqueTokens> } = {}): BearerAuthenticator {
    const first = providerConfig('default', ISSUER);
    const second = providerConfig('other', 'https://other.example');
    const clients = new Map([
      [first.id, stubProvider(first, extra.keys ?? keys, stub)],
      [second.id, stubProvider(second, keys, extra.second ?? newStub())],
    ]);
    const rp = { providers: [first, second], provider: (id: string) => clients.get(id)! } as unknown as RelyingParty;
    const settings = { ...config, opaqueTokens: { ...opaqueTokens, ...extra.opaque } };
    return new BearerAuthenticator({ config: settings, db: undefined as never, rp }, extra.opaqueProviders ? { opaqueProviders: extra.opaqueProviders } : {});
  }

  async function jwt(claims: jose.JWTPayload = {}, header: Partial<jose.JWTHeaderParameters> = {}, key: CryptoKey | Uint8Array = signingKey): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new jose.SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: '00u-alice', iat: now, exp: now + 300, scp: ['openid', 'api:read'], cid: 'client', ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'at+jwt', ...header })
      .sign(key);
  }

  async function refusal(promise: Promise<unknown>, description: RegExp): Promise<void> {
    await assert.rejects(promise, (error: unknown) => {
      assert.ok(error instanceof BearerError, String(error));
      assert.equal(error.oauthError, 'invalid_token');
      assert.match(error.message, description);
      return true;
    });
  }

  before(async () => {
    const pair = await jose.generateKeyPair('RS256');
    signingKey = pair.privateKey;
    ({ privateKey: otherKey } = await jose.generateKeyPair('RS256'));
    const publicJwk = await jose.exportJWK(pair.publicKey);
    keys = jose.createLocalJWKSet({ keys: [{ ...publicJwk, kid: 'k1', alg: 'RS256', use: 'sig' }] });
  });

  after(() => mock.timers.reset());

  test('a valid JWT access token: claims, scopes, client and expiry', async () => {
    const token: BearerToken = await authenticator(newStub()).verifyToken(await jwt());
    assert.equal(token.verifiedBy, 'jwt');
    assert.equal(token.provider, 'default');
    assert.equal(token.issuer, ISSUER);
    assert.equal(token.subject, '00u-alice');
    assert.equal(token.clientId, 'client');
    assert.deepEqual(token.scopes, ['openid', 'api:read']);
    assert.ok(token.expiresAt! > Date.now());
  });

  test('typ at+jwt, application/at+jwt, JWT or none are access tokens; other types are not', async () => {
    const bearer = authenticator(newStub());
    for (const typ of ['at+jwt', 'application/at+JWT', 'JWT']) await bearer.verifyToken(await jwt({}, { typ }));
    await bearer.verifyToken(await new jose.SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(ISSUER).setAudience(AUDIENCE).setSubject('s').setExpirationTime('1m').sign(signingKey));
    await refusal(bearer.verifyToken(await jwt({}, { typ: 'logout+jwt' })), /not an access token \(typ\)/);
  });

  test('every claim check refuses with invalid_token', async () => {
    const bearer = authenticator(newStub());
    const now = Math.floor(Date.now() / 1000);
    await refusal(bearer.verifyToken(await jwt({ aud: 'api://other' })), /not meant for this API \(aud\)/);
    await refusal(bearer.verifyToken(await jwt({ iss: 'https://evil.example' })), /unknown issuer/);
    await refusal(bearer.verifyToken(await jwt({ exp: now - 120 })), /expired/);
    await refusal(bearer.verifyToken(await jwt({ nbf: now + 600 })), /not valid yet/);
    await refusal(bearer.verifyToken(await jwt({ iat: now + 600 })), /issued in the future/);
    await refusal(bearer.verifyToken(await jwt({ sub: '' })), /sub/);
    // within the clock tolerance (30 s) is fine
    await bearer.verifyToken(await jwt({ exp: now - 10, iat: now - 100 }));
  });

  test('a token of another configured provider must carry that issuer and verify with its keys', async () => {
    const bearer = authenticator(newStub());
    const token = await bearer.verifyToken(await jwt({ iss: 'https://other.example' }));
    assert.equal(token.provider, 'other');
    // A trailing slash selects the provider, but the discovered issuer must then match exactly.
    await refusal(bearer.verifyToken(await jwt({ iss: 'https://other.example/' })), /another issuer \(iss\)/);
  });

  test('signature, algorithm and key checks', async () => {
    const bearer = authenticator(newStub());
    const good = await jwt();
    const [h, p, s] = good.split('.');
    const flipped = `${h}.${p}.${s!.startsWith('A') ? 'B' : 'A'}${s!.slice(1)}`;
    await refusal(bearer.verifyToken(flipped), /signature is invalid/);
    await refusal(bearer.verifyToken(await jwt({}, {}, otherKey)), /signature is invalid/);
    await refusal(bearer.verifyToken(await jwt({}, { kid: 'unknown' }, otherKey)), /unknown key/);
    const none = new jose.UnsecuredJWT({ scp: ['openid'] }).setIssuer(ISSUER).setAudience(AUDIENCE).setSubject('s').setExpirationTime('1m').encode();
    await refusal(bearer.verifyToken(none), /algorithm is not allowed/);
    const hs = await jwt({}, { alg: 'HS256' }, new TextEncoder().encode('a-shared-secret-that-is-long-enough!'));
    await refusal(bearer.verifyToken(hs), /algorithm is not allowed/);
    await refusal(bearer.verifyToken('eyJhbGciOiJSUzI1NiJ9.bm90LWpzb24.c2ln'), /malformed/);
    await refusal(bearer.verifyToken('a.b.c'), /malformed/);
    await refusal(bearer.verifyToken('x'.repeat(9000)), /too long/);
  });

  test('signing keys that cannot be had give PROVIDER_*, never invalid_token', async () => {
    const cases: Array<[thrown: unknown, code: string]> = [
      [new TypeError('fetch failed', { cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }) }), 'PROVIDER_UNREACHABLE'],
      [new DOMException('The operation timed out.', 'TimeoutError'), 'PROVIDER_TIMEOUT'],
      [new jose.errors.JWKSTimeout(), 'PROVIDER_TIMEOUT'],
      [new jose.errors.JWKSInvalid(), 'PROVIDER_BAD_RESPONSE'],
      [new jose.errors.JOSEError('JWKS request answered HTTP 500'), 'PROVIDER_BAD_RESPONSE'],
    ];
    const token = await jwt();
    for (const [thrown, code] of cases) {
      const bearer = authenticator(newStub(), { keys: async () => { throw thrown; } });
      await assert.rejects(bearer.verifyToken(token), (error: unknown) => {
        assert.ok(error instanceof OidcConnectError && !(error instanceof BearerError), String(error));
        assert.equal(error.code, code, String(thrown));
        return true;
      });
    }
  });

  /** An introspection answer for an access token of our client, with `claims` over it. */
  const ours = (claims: Partial<client.IntrospectionResponse> = {}): client.IntrospectionResponse =>
    ({ active: true, sub: 's', client_id: 'client', token_type: 'Bearer', ...claims });

  test('an opaque token goes to introspection once, then comes from the cache', async () => {
    const stub = newStub();
    const exp = Math.floor(Date.now() / 1000) + 3600;
    stub.introspect = async (token) => token === 'opaque-good'
      ? ours({ sub: '00u-bob', scope: 'openid api:read', exp, aud: AUDIENCE, iss: ISSUER })
      : { active: false };
    const bearer = authenticator(stub);
    const first = await bearer.verifyToken('opaque-good');
    assert.equal(first.verifiedBy, 'introspection');
    assert.equal(first.subject, '00u-bob');
    assert.deepEqual(first.scopes, ['openid', 'api:read']);
    assert.equal(first.clientId, 'client');
    assert.equal(first.expiresAt, exp * 1000);
    await bearer.verifyToken('opaque-good');
    assert.equal(stub.introspections, 1);

    await refusal(bearer.verifyToken('opaque-bad'), /not active/);
    await refusal(bearer.verifyToken('opaque-bad'), /not active/);
    assert.equal(stub.introspections, 2, 'a refusal is cached too');
    assert.equal(stub.userinfos, 0, 'userinfo is not asked when introspection says all');
  });

  test('cache lifetimes: 60 s at most, never past exp; refusals 10 s', async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    try {
      const stub = newStub();
      const soon = Math.floor(Date.now() / 1000) + 20;
      stub.introspect = async (token) => token === 'bad' ? { active: false } : ours({ exp: token === 'short' ? soon : undefined });
      const bearer = authenticator(stub);
      await bearer.verifyToken('long');
      await bearer.verifyToken('short');
      await refusal(bearer.verifyToken('bad'), /not active/);
      assert.equal(stub.introspections, 3);

      mock.timers.tick(9_000);
      await Promise.all([bearer.verifyToken('long'), bearer.verifyToken('short'), refusal(bearer.verifyToken('bad'), /not active/)]);
      assert.equal(stub.introspections, 3, 'everything cached');

      mock.timers.tick(2_000); // 11 s: the refusal is forgotten
      await refusal(bearer.verifyToken('bad'), /not active/);
      assert.equal(stub.introspections, 4);

      mock.timers.tick(10_000); // 21 s: past the short token's exp
      await bearer.verifyToken('short'); // asked again (still inside the 30 s clock tolerance)
      assert.equal(stub.introspections, 5);
      await bearer.verifyToken('short');
      assert.equal(stub.introspections, 6, 'a token past its exp is never cached');
      await bearer.verifyToken('long');
      assert.equal(stub.introspections, 6, 'no exp: kept up to 60 s');

      mock.timers.tick(40_000); // 61 s
      await bearer.verifyToken('long');
      assert.equal(stub.introspections, 7);
    } finally {
      mock.timers.reset();
    }
  });

  test('concurrent requests with one token share one introspection', async () => {
    const stub = newStub();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    stub.introspect = async () => { await gate; return ours(); };
    const bearer = authenticator(stub);
    const all = Promise.all(Array.from({ length: 20 }, () => bearer.verifyToken('same-token', { ip: '192.0.2.1' })));
    release();
    assert.equal((await all).length, 20);
    assert.equal(stub.introspections, 1);
  });

  test('only tokens issued to our client or an allowed one pass (client_id, or aud naming the client)', async () => {
    const stub = newStub();
    const cases: Record<string, client.IntrospectionResponse> = {
      ours: ours(),
      allowed: ours({ client_id: 'allowed-app' }),
      'aud-is-us': ours({ client_id: undefined, aud: ['client', AUDIENCE] }),
      'aud-is-allowed': ours({ client_id: undefined, aud: 'allowed-app' }),
      other: ours({ client_id: 'another-app', aud: AUDIENCE }),
      'other-for-us': ours({ client_id: 'another-app', aud: ['client'] }),
      nobody: ours({ client_id: undefined, aud: AUDIENCE }),
      'not-a-string': ours({ client_id: ['client'] as unknown as string }),
    };
    stub.introspect = async (token) => cases[token]!;
    const bearer = authenticator(stub);
    for (const token of ['ours', 'allowed', 'aud-is-us', 'aud-is-allowed', 'other-for-us']) await bearer.verifyToken(token);
    for (const token of ['other', 'nobody', 'not-a-string']) await refusal(bearer.verifyToken(token), /issued to another client \(client_id\)/);
    assert.equal((await bearer.verifyToken('allowed')).clientId, 'allowed-app');
  });

  test('token_type, when present, must say access token', async () => {
    const stub = newStub();
    stub.introspect = async (token) => ours({ token_type: token });
    const bearer = authenticator(stub);
    // DPoP (RFC 9449 §6.2) is an access token too: authenticate() then holds it to its binding (./dpop.ts).
    for (const type of ['Bearer', 'bearer', 'BEARER', 'DPoP', 'access_token', 'urn:ietf:params:oauth:token-type:access_token', 'URN:IETF:PARAMS:OAUTH:TOKEN-TYPE:ACCESS_TOKEN']) {
      await bearer.verifyToken(type);
    }
    for (const type of ['refresh_token', 'urn:ietf:params:oauth:token-type:refresh_token', 'urn:ietf:params:oauth:token-type:id_token', 'N_A']) {
      await refusal(bearer.verifyToken(type), /not an access token/);
    }
    assert.equal(stub.userinfos, 0);
  });

  test('without token_type or aud (LemonLDAP::NG), userinfo must take the token; without sub (django-oauth-toolkit), userinfo names it', async () => {
    const stub = newStub();
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const lemon = { active: true, sub: 'u-lemon', scope: 'openid api:read', client_id: 'client', iss: ISSUER, exp };
    const dot = { active: true, scope: 'read write', client_id: 'client', username: 'erin', exp };
    const cases: Record<string, client.IntrospectionResponse> = {
      lemon,
      'lemon-refresh': lemon, // oidc-provider answers so for a refresh token; userinfo refuses those
      'lemon-other': { ...lemon, client_id: 'another-app' },
      'lemon-other-sub': lemon,
      dot,
      'dot-no-openid': dot,
      'dot-typed': { ...dot, token_type: 'access_token' },
    };
    stub.introspect = async (token) => cases[token]!;
    stub.userinfo = async (token) => {
      if (token === 'lemon' || token === 'lemon-other') return { sub: 'u-lemon' };
      if (token === 'lemon-other-sub') return { sub: 'someone-else' };
      if (token === 'dot' || token === 'dot-typed') return { sub: '42', email: 'erin@example.com' };
      throw new client.WWWAuthenticateChallengeError('invalid_token', { cause: [], response: new Response(null, { status: token === 'dot-no-openid' ? 403 : 401 }) } as never);
    };
    const bearer = authenticator(stub);

    const lemonToken = await bearer.verifyToken('lemon');
    assert.equal(lemonToken.verifiedBy, 'introspection');
    assert.equal(lemonToken.subject, 'u-lemon');
    assert.deepEqual(lemonToken.scopes, ['openid', 'api:read']);
    assert.equal(lemonToken.expiresAt, exp * 1000);
    assert.equal(stub.userinfos, 1);
    await refusal(bearer.verifyToken('lemon-refresh'), /did not confirm this is an access token/);
    await refusal(bearer.verifyToken('lemon-other-sub'), /two different subjects/);
    const calls = stub.userinfos;
    await refusal(bearer.verifyToken('lemon-other'), /issued to another client/);
    assert.equal(stub.userinfos, calls, 'another client\'s token is not shown to userinfo');

    const dotToken = await bearer.verifyToken('dot');
    assert.equal(dotToken.subject, '42');
    assert.deepEqual(dotToken.scopes, ['read', 'write']);
    assert.equal(dotToken.clientId, 'client');
    assert.equal(dotToken.claims['username'], 'erin');
    assert.equal(dotToken.claims['email'], 'erin@example.com');
    assert.equal((await bearer.verifyToken('dot-typed')).subject, '42');
    await refusal(bearer.verifyToken('dot-no-openid'), /no subject/);
  });

  test('introspection answers that are not access tokens for this API are refused', async () => {
    const stub = newStub();
    const cases: Record<string, client.IntrospectionResponse> = {
      refresh: ours({ token_type: 'refresh_token' }),
      audience: ours({ aud: ['api://other'] }),
      issuer: ours({ aud: AUDIENCE, iss: 'https://evil.example' }),
      expired: ours({ aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) - 3600 }),
      early: ours({ aud: AUDIENCE, nbf: Math.floor(Date.now() / 1000) + 3600 }),
      nosub: ours({ sub: undefined }),
      active: ours({ active: 'true' as unknown as boolean }),
    };
    stub.introspect = async (token) => cases[token]!;
    stub.userinfo = async () => { throw new client.WWWAuthenticateChallengeError('invalid_token', { cause: [], response: new Response(null, { status: 401 }) } as never); };
    const bearer = authenticator(stub);
    await refusal(bearer.verifyToken('refresh'), /not an access token/);
    await refusal(bearer.verifyToken('audience'), /aud/);
    await refusal(bearer.verifyToken('issuer'), /iss/);
    await refusal(bearer.verifyToken('expired'), /expired/);
    await refusal(bearer.verifyToken('early'), /not valid yet/);
    await refusal(bearer.verifyToken('nosub'), /subject/);
    await refusal(bearer.verifyToken('active'), /not active/);
  });

  test('without introspection, opaque tokens are refused, and never shown to userinfo', async () => {
    const stub = newStub();
    stub.introspect = null;
    stub.userinfo = async () => ({ sub: '00u-carol' });
    await refusal(authenticator(stub).verifyToken('live'), /no introspection endpoint/);
    assert.equal(stub.userinfos, 0);
  });

  test('with the userinfo fallback opted in, userinfo decides (no client, no scopes known)', async () => {
    const stub = newStub();
    stub.introspect = null;
    stub.userinfo = async (token) => {
      if (token === 'live') return { sub: '00u-carol', email: 'carol@example.com' };
      throw new client.WWWAuthenticateChallengeError('invalid_token', { cause: [], response: new Response(null, { status: 401 }) } as never);
    };
    const bearer = authenticator(stub, { opaque: { userinfoFallback: true } });
    const token = await bearer.verifyToken('live');
    assert.equal(token.verifiedBy, 'userinfo');
    assert.equal(token.subject, '00u-carol');
    assert.equal(token.clientId, undefined);
    assert.deepEqual(token.scopes, []);
    await bearer.verifyToken('live');
    assert.equal(stub.userinfos, 1);
    await refusal(bearer.verifyToken('dead'), /does not accept/);
  });

  test('per client IP, unconfirmed opaque tokens reach the provider a limited number of times a minute', async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    try {
      const stub = newStub();
      stub.introspect = async (token) => token.startsWith('good') ? ours() : { active: false };
      const bearer = authenticator(stub);
      await bearer.verifyToken('good-cached', { ip: '192.0.2.1' });
      const flood = await Promise.allSettled(Array.from({ length: 2000 }, (_, i) => bearer.verifyToken(`random-${i}`, { ip: '192.0.2.1' })));
      assert.ok(stub.introspections <= 31, `${stub.introspections} introspections`);
      const limited = flood.filter((r) => r.status === 'rejected' && r.reason instanceof TooManyTokenChecks);
      assert.equal(limited.length, 2000 - (stub.introspections - 1));
      const error = (limited[0] as PromiseRejectedResult).reason as TooManyTokenChecks;
      assert.equal(error.code, 'TOO_MANY_ATTEMPTS');
      assert.equal(error.status, 429);
      assert.ok(error.retryAfterSeconds > 0 && error.retryAfterSeconds <= 60, String(error.retryAfterSeconds));
      assert.equal(bearer.cache.size, 1 + stub.introspections - 1, 'a limited token is not cached');

      const before = stub.introspections;
      await bearer.verifyToken('good-cached', { ip: '192.0.2.1' }); // from the cache: not limited
      await bearer.verifyToken('good-elsewhere', { ip: '198.51.100.7' }); // another address
      await bearer.verifyToken('good-no-ip'); // a caller that names no address is not limited
      await assert.rejects(bearer.verifyToken('good-new', { ip: '192.0.2.1' }), TooManyTokenChecks);
      assert.equal(stub.introspections, before + 2);

      mock.timers.tick(61_000); // the window is over
      await bearer.verifyToken('good-new', { ip: '192.0.2.1' });
    } finally {
      mock.timers.reset();
    }
  });

  test('tokens the provider confirms do not use up the limit', async () => {
    const stub = newStub();
    stub.introspect = async () => ours();
    const bearer = authenticator(stub, { opaque: { limitPerMinute: 3 } });
    for (let i = 0; i < 50; i++) await bearer.verifyToken(`good-${i}`, { ip: '192.0.2.1' });
    assert.equal(stub.introspections, 50);
  });

  test('a provider that is down gives PROVIDER_*, and nothing is cached', async () => {
    const stub = newStub();
    stub.introspect = async () => { throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }) }); };
    const bearer = authenticator(stub);
    for (let i = 0; i < 2; i++) {
      await assert.rejects(bearer.verifyToken('opaque'), (error: unknown) => {
        assert.ok(error instanceof OidcConnectError && !(error instanceof BearerError));
        assert.equal(error.code, 'PROVIDER_UNREACHABLE');
        return true;
      });
    }
    assert.equal(stub.introspections, 2);
    assert.equal(bearer.cache.size, 0);
  });

  test('introspection refusing our client credentials is a configuration problem, not the caller\'s 401', async () => {
    const stub = newStub();
    stub.introspect = async () => {
      throw new client.ResponseBodyError('server responded with an error in the response body', { cause: { error: 'invalid_client' }, response: new Response(null, { status: 401 }) } as never);
    };
    await assert.rejects(authenticator(stub).verifyToken('opaque'), (error: unknown) => {
      assert.ok(error instanceof OidcConnectError && !(error instanceof BearerError), String(error));
      assert.equal(error.code, 'CLIENT_AUTH_FAILED');
      assert.match(error.message, /OIDC_RP_CLIENT_SECRET/);
      return true;
    });
  });

  test('opaque tokens go to the first provider only, unless others are named', async () => {
    const first = newStub();
    const second = newStub();
    second.introspect = async () => ours({ sub: 's2', aud: AUDIENCE });
    await refusal(authenticator(first, { second }).verifyToken('opaque'), /not active/);
    assert.equal(second.introspections, 0, 'the token was never shown to the other provider');
    const token = await authenticator(first, { second, opaqueProviders: ['default', 'other'] }).verifyToken('opaque');
    assert.equal(token.provider, 'other');
  });
});
