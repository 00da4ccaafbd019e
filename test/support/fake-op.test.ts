/**
 * Self-test of the fake OP, driven by openid-client 6 (the library our RP is built on).
 *
 * Part 1: the well-behaved flow and the OP's own strictness (codes, PKCE, client auth, redirect_uri).
 * Part 2: every fault, run through openid-client with enableNonRepudiationChecks: which step throws.
 * Part 3: openid-client's JWKS cache and the 'unknown-kid-then-rotate' fault.
 * Part 4: things openid-client 6.9.0 does NOT refuse, pinned so that a change shows up here.
 */
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import * as jose from 'jose';
import { FAULTS, startFakeOp } from './fake-op.ts';
import type { FakeOp, FakeOpOptions, Fault } from './fake-op.ts';

const CLIENT_ID = 'test-client';
const CLIENT_SECRET = 'test-secret';
// Only ever used as a string: nothing listens there and nothing fetches it.
const REDIRECT_URI = 'http://127.0.0.1:8080/authorization-code/callback';

async function start(t: TestContext, options: FakeOpOptions = {}): Promise<FakeOp> {
  const op = await startFakeOp({ redirectUri: REDIRECT_URI, ...options });
  t.after(() => op.close());
  return op;
}

interface DiscoverOptions {
  nonRepudiation?: boolean;
  metadata?: Partial<client.ClientMetadata>;
  auth?: client.ClientAuth | null; // null: let openid-client choose (it picks client_secret_post)
  url?: string;
}

async function discover(op: FakeOp, options: DiscoverOptions = {}): Promise<client.Configuration> {
  const config = await client.discovery(
    new URL(options.url ?? op.issuer),
    CLIENT_ID,
    { client_secret: CLIENT_SECRET, ...options.metadata },
    options.auth === null ? undefined : (options.auth ?? client.ClientSecretBasic(CLIENT_SECRET)),
    { execute: [client.allowInsecureRequests] },
  );
  if (options.nonRepudiation ?? true) client.enableNonRepudiationChecks(config);
  return config;
}

async function login(op: FakeOp, config: client.Configuration, editCallback?: (callback: URL) => void) {
  const pkceCodeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid email profile',
    state,
    nonce,
    code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
    code_challenge_method: 'S256',
  });
  const callback = await op.authorize(url.href);
  editCallback?.(callback);
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  return { tokens, callback, state, nonce, pkceCodeVerifier };
}

/** The whole RP flow; returns the step that threw and the error, or the step 'ok'. */
async function fullFlow(op: FakeOp, options: DiscoverOptions & { timeout?: number } = {}) {
  let step = 'discovery';
  try {
    const config = await discover(op, options);
    if (options.timeout !== undefined) config.timeout = options.timeout;
    step = 'login';
    const { tokens } = await login(op, config);
    step = 'userinfo';
    const claims = tokens.claims();
    assert.ok(claims);
    await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    return { step: 'ok', error: undefined };
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    return { step, error: error as Error & { code?: string; error?: string } };
  }
}

async function rejection(fn: () => Promise<unknown>): Promise<Error & { code?: string; error?: string }> {
  try {
    await fn();
  } catch (err) {
    return err as Error & { code?: string; error?: string };
  }
  assert.fail('expected a rejection');
}

function describeError(err: (Error & { code?: string; error?: string }) | undefined): string {
  if (!err) return '-';
  const inner = err.cause instanceof Error ? ` <- ${err.cause.message}` : '';
  return `${err.name}${err.code ? ` ${err.code}` : ''}${err.error ? ` ${err.error}` : ''}: ${err.message}${inner}`;
}

const jwksFetches = (op: FakeOp) => op.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/v1/keys')).length;

function tokenRequest(op: FakeOp, body: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(op.endpoints.token, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(body),
  });
}
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

/** A code obtained by hand, for raw token-endpoint tests. */
async function rawCode(op: FakeOp, verifier = client.randomPKCECodeVerifier()) {
  const url = new URL(op.endpoints.authorization);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    scope: 'openid',
    state: 's',
    nonce: 'n',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  }).toString();
  const callback = await op.authorize(url.href);
  const code = callback.searchParams.get('code');
  assert.ok(code, callback.href);
  return { code, verifier };
}

// -------------------------------------------------------------------------------------------------

describe('well-behaved flow', () => {
  test('discovery, code flow with PKCE, ID token, userinfo, one JWKS fetch', async (t) => {
    const op = await start(t, { claims: { email: 'alice@example.com', email_verified: true, groups: ['Everyone'] } });
    assert.match(op.issuer, /^http:\/\/127\.0\.0\.1:\d+\/oauth2\/default$/);

    const metadata = (await (await fetch(op.endpoints.discovery)).json()) as Record<string, unknown>;
    assert.equal(metadata.issuer, op.issuer);
    assert.deepEqual(metadata.response_types_supported, ['code']);
    assert.deepEqual(metadata.id_token_signing_alg_values_supported, ['RS256']);
    assert.deepEqual(metadata.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(metadata.token_endpoint_auth_methods_supported, ['client_secret_basic']);
    assert.equal(metadata.end_session_endpoint, op.endpoints.endSession);
    assert.equal(metadata.authorization_response_iss_parameter_supported, undefined);

    const config = await discover(op);
    const { tokens, callback, state, nonce } = await login(op, config);

    assert.equal(callback.origin + callback.pathname, REDIRECT_URI);
    assert.equal(callback.searchParams.get('state'), state);
    assert.equal(callback.searchParams.get('iss'), null);
    const sent = op.lastAuthorizationRequest;
    assert.ok(sent);
    assert.equal(sent.get('response_type'), 'code');
    assert.equal(sent.get('client_id'), CLIENT_ID);
    assert.equal(sent.get('redirect_uri'), REDIRECT_URI);
    assert.equal(sent.get('scope'), 'openid email profile');
    assert.equal(sent.get('state'), state);
    assert.equal(sent.get('nonce'), nonce);
    assert.equal(sent.get('code_challenge_method'), 'S256');
    assert.match(sent.get('code_challenge') ?? '', /^[\w-]{43}$/);

    assert.equal(tokens.token_type, 'bearer'); // openid-client lower-cases it
    assert.equal(tokens.expires_in, 3600);
    assert.equal(tokens.refresh_token, undefined);
    const claims = tokens.claims();
    assert.ok(claims);
    assert.equal(claims.iss, op.issuer);
    assert.equal(claims.aud, CLIENT_ID);
    assert.equal(claims.sub, 'fake-user-1');
    assert.equal(claims.nonce, nonce);
    assert.equal(claims.email, 'alice@example.com');
    assert.equal(claims.exp - claims.iat, 300);

    assert.equal(jwksFetches(op), 1); // openid-client's non-repudiation check
    // Independent check of the signature with jose against the published JWKS.
    const jwks = (await (await fetch(op.endpoints.jwks)).json()) as jose.JSONWebKeySet;
    const verified = await jose.jwtVerify(tokens.id_token ?? '', jose.createLocalJWKSet(jwks), {
      issuer: op.issuer,
      audience: CLIENT_ID,
      algorithms: ['RS256'],
    });
    assert.equal(verified.protectedHeader.kid, op.currentKid);

    const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.deepEqual(
      { ...userinfo },
      { sub: 'fake-user-1', email: 'alice@example.com', email_verified: true, groups: ['Everyone'] },
    );
    assert.deepEqual(
      op.requests.map((r) => `${r.method} ${r.path.replace('/oauth2/default', '')}`),
      [
        'GET /.well-known/openid-configuration', // the raw fetch above
        'GET /.well-known/openid-configuration', // client.discovery
        'GET /v1/authorize',
        'POST /v1/token',
        'GET /v1/keys', // non-repudiation check
        'GET /v1/keys', // the jose check above
        'GET /v1/userinfo',
      ],
    );
  });

  test('a replayed code gets invalid_grant and revokes the tokens issued from it', async (t) => {
    const op = await start(t);
    const config = await discover(op);
    const first = await login(op, config);
    const replay = await rejection(() =>
      client.authorizationCodeGrant(config, first.callback, {
        pkceCodeVerifier: first.pkceCodeVerifier,
        expectedState: first.state,
        expectedNonce: first.nonce,
        idTokenExpected: true,
      }),
    );
    assert.ok(replay instanceof client.ResponseBodyError, describeError(replay));
    assert.equal(replay.error, 'invalid_grant');
    const revoked = await rejection(() => client.fetchUserInfo(config, first.tokens.access_token, 'fake-user-1'));
    assert.ok(revoked instanceof client.WWWAuthenticateChallengeError, describeError(revoked));
  });

  test('the token endpoint checks PKCE, redirect_uri, client authentication and grant type', async (t) => {
    const op = await start(t);
    const auth = { authorization: basic(CLIENT_ID, CLIENT_SECRET) };
    const expectError = async (response: Response, status: number, error: string) => {
      assert.equal(response.status, status);
      assert.equal(((await response.json()) as { error: string }).error, error);
    };

    let c = await rawCode(op);
    await expectError(
      await tokenRequest(op, { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT_URI, code_verifier: client.randomPKCECodeVerifier() }, auth),
      400, 'invalid_grant',
    );
    c = await rawCode(op);
    await expectError(
      await tokenRequest(op, { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT_URI }, auth),
      400, 'invalid_grant',
    );
    c = await rawCode(op);
    await expectError(
      await tokenRequest(op, { grant_type: 'authorization_code', code: c.code, redirect_uri: `${REDIRECT_URI}/`, code_verifier: c.verifier }, auth),
      400, 'invalid_grant',
    );
    c = await rawCode(op);
    const wrongSecret = await tokenRequest(
      op, { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT_URI, code_verifier: c.verifier },
      { authorization: basic(CLIENT_ID, 'nope') },
    );
    assert.match(wrongSecret.headers.get('www-authenticate') ?? '', /^Basic /);
    await expectError(wrongSecret, 401, 'invalid_client');
    // client_secret_post is refused when client_secret_basic is the registered method.
    await expectError(
      await tokenRequest(op, { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT_URI, code_verifier: c.verifier, client_id: CLIENT_ID, client_secret: CLIENT_SECRET }),
      401, 'invalid_client',
    );
    // The failed client authentications above did not consume the code.
    const ok = await tokenRequest(op, { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT_URI, code_verifier: c.verifier }, auth);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('cache-control'), 'no-store');
    const body = (await ok.json()) as Record<string, unknown>;
    assert.equal(typeof body.access_token, 'string');
    assert.equal(body.token_type, 'Bearer');
    await expectError(await tokenRequest(op, { grant_type: 'refresh_token', refresh_token: 'x' }, auth), 400, 'unsupported_grant_type');
    // Userinfo needs the bearer token.
    const anonymous = await fetch(op.endpoints.userinfo);
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Bearer /);
  });

  test('the authorization endpoint refuses bad requests', async (t) => {
    const op = await start(t);
    const config = await discover(op);
    const base = {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      state: 'st',
      nonce: 'no',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    };
    const errorOf = async (params: Record<string, string>) =>
      (await op.authorize(client.buildAuthorizationUrl(config, params).href)).searchParams.get('error');
    assert.equal(await errorOf({ ...base, nonce: '' }), 'invalid_request');
    assert.equal(await errorOf({ ...base, code_challenge_method: 'plain' }), 'invalid_request');
    assert.equal(await errorOf({ ...base, scope: 'email' }), 'invalid_scope');
    assert.equal(await errorOf({ ...base, response_type: 'token' }), 'unsupported_response_type');
    await assert.rejects(op.authorize(client.buildAuthorizationUrl(config, { ...base, redirect_uri: 'http://127.0.0.1:1/evil' }).href), /400/);
    const url = client.buildAuthorizationUrl(config, base);
    url.searchParams.set('client_id', 'someone-else');
    await assert.rejects(op.authorize(url.href), /unknown client_id/);
    await assert.rejects(op.authorize('http://127.0.0.2:1/authorize'), /only fetches this OP/);
  });

  test('client_secret_post, refresh tokens (rotated), RFC 9207 iss and end_session', async (t) => {
    const op = await start(t, { tokenEndpointAuthMethod: 'client_secret_post', issueRefreshToken: true, supportsIssParameter: true, accessTokenLifetimeSeconds: 120 });
    // With no ClientAuth argument openid-client uses client_secret_post: accepted here.
    const config = await discover(op, { auth: null });
    assert.deepEqual(config.serverMetadata().token_endpoint_auth_methods_supported, ['client_secret_post']);
    assert.equal(config.serverMetadata().authorization_response_iss_parameter_supported, true);
    const { tokens, callback } = await login(op, config);
    assert.equal(callback.searchParams.get('iss'), op.issuer);
    assert.equal(tokens.expires_in, 120);
    assert.ok(tokens.refresh_token);

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    assert.notEqual(refreshed.access_token, tokens.access_token);
    assert.equal(refreshed.claims()?.sub, 'fake-user-1');
    assert.equal(refreshed.claims()?.nonce, undefined);
    const reused = await rejection(() => client.refreshTokenGrant(config, tokens.refresh_token ?? ''));
    assert.equal(reused.error, 'invalid_grant', describeError(reused));

    // client_secret_basic is refused by an OP registered for client_secret_post.
    const basicConfig = await discover(op);
    const refused = await rejection(() => login(op, basicConfig));
    assert.equal(refused.error, 'invalid_client', describeError(refused));

    // A callback without the advertised iss parameter is refused by openid-client (RFC 9207).
    const dropped = await rejection(() => login(op, config, (callback) => callback.searchParams.delete('iss')));
    assert.match(dropped.cause instanceof Error ? dropped.cause.message : '', /"iss" \(issuer\) missing/, describeError(dropped));

    const endSession = client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token ?? '',
      post_logout_redirect_uri: 'http://127.0.0.1:8080/signout/callback',
      state: 'bye',
    });
    const response = await fetch(endSession, { redirect: 'manual' });
    assert.equal(response.status, 302);
    assert.equal(response.headers.get('location'), 'http://127.0.0.1:8080/signout/callback?state=bye');
    assert.equal(op.lastEndSessionRequest?.get('id_token_hint'), tokens.id_token);
  });

  test('endSessionEndpoint: false hides and disables end_session', async (t) => {
    const op = await start(t, { endSessionEndpoint: false });
    const config = await discover(op);
    assert.equal(config.serverMetadata().end_session_endpoint, undefined);
    assert.equal((await fetch(op.endpoints.endSession)).status, 404);
  });
});

// -------------------------------------------------------------------------------------------------

/** Where openid-client (with enableNonRepudiationChecks) stops, per fault; 'ok' = accepted. */
const EXPECTED_STEP: Record<Fault, 'discovery' | 'login' | 'userinfo' | 'ok'> = {
  none: 'ok',
  'wrong-iss': 'login',
  'wrong-aud': 'login',
  'missing-sub': 'login',
  'missing-iat': 'login',
  'wrong-nonce': 'login',
  'missing-nonce': 'login',
  'bad-signature': 'login',
  'alg-none': 'login',
  'hs256-with-public-key': 'login',
  expired: 'login',
  'issued-in-future': 'login', // refused for nbf, not for iat (see part 4)
  'kid-absent-single-key': 'ok',
  'kid-absent-multiple-keys': 'login',
  'unknown-kid-then-rotate': 'ok', // a fresh configuration has no cached JWKS yet (see part 3)
  'userinfo-sub-mismatch': 'userinfo',
  'discovery-issuer-mismatch': 'discovery',
  'token-500': 'login',
  'token-timeout': 'login',
  'token-garbage': 'login',
  'discovery-500': 'discovery',
  'discovery-garbage': 'discovery',
  'userinfo-500': 'userinfo',
  'authorize-error': 'login',
};

describe('faults through openid-client (enableNonRepudiationChecks on)', () => {
  for (const fault of FAULTS) {
    test(fault, async (t) => {
      const op = await start(t);
      op.setFault(fault);
      const { step, error } = await fullFlow(op, { timeout: fault === 'token-timeout' ? 1 : 5 });
      t.diagnostic(`${fault}: ${step === 'ok' ? 'accepted' : `thrown at ${step}`} ${describeError(error)}`);
      assert.equal(step, EXPECTED_STEP[fault], describeError(error));
      if (fault === 'kid-absent-multiple-keys') assert.equal(error?.code, 'OAUTH_KEY_SELECTION_FAILED');
      if (fault === 'authorize-error') assert.ok(error instanceof client.AuthorizationResponseError);
      if (fault === 'token-timeout') assert.equal(error?.code, 'OAUTH_TIMEOUT');
    });
  }

  test('token-timeout holds the request until close()', async (t) => {
    const op = await startFakeOp();
    t.after(() => op.close()); // idempotent; also covers a failed assertion below
    op.setFault('token-timeout');
    const pending = tokenRequest(op, { grant_type: 'authorization_code' });
    let settled = false;
    void pending.then(() => (settled = true), () => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(settled, false);
    await op.close();
    await assert.rejects(pending);
    t.diagnostic('fetch rejected after close()');
  });

  test('setFault refuses an unknown fault', async (t) => {
    const op = await start(t);
    assert.throws(() => op.setFault('nonsense' as Fault), TypeError);
  });
});

// -------------------------------------------------------------------------------------------------

describe('openid-client JWKS cache and key rotation', () => {
  test('an unknown kid is re-fetched only when the cached JWKS is >= 60 s old', async (t) => {
    const op = await start(t);
    const config = await discover(op);
    await login(op, config);
    assert.equal(jwksFetches(op), 1);
    const cached = client.getJwksCache(config);
    assert.ok(cached);
    assert.equal(cached.jwks.keys.length, 1);

    op.setFault('unknown-kid-then-rotate');

    // (a) Cache younger than 60 s: no re-fetch, the token is refused.
    const young = await rejection(() => login(op, config));
    assert.equal(young.code, 'OAUTH_KEY_SELECTION_FAILED', describeError(young));
    assert.equal(jwksFetches(op), 1);

    // (b) setJwksCache() with an old uat on a configuration that already has an in-memory entry
    //     changes nothing: oauth4webapi's module-level WeakMap (keyed by the configuration's server
    //     metadata object) wins over the imported cache.
    client.setJwksCache(config, { jwks: cached.jwks, uat: Math.floor(Date.now() / 1000) - 61 });
    const stillYoung = await rejection(() => login(op, config));
    assert.equal(stillYoung.code, 'OAUTH_KEY_SELECTION_FAILED');
    assert.equal(jwksFetches(op), 1);

    // (c) Once the cache is 60 s old, the unknown kid triggers one re-fetch and the token is accepted.
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    t.mock.timers.tick(61_000);
    await login(op, config);
    assert.equal(jwksFetches(op), 2);
    t.mock.timers.reset();

    // (d) A new Configuration has its own (empty) cache: it fetches the JWKS and accepts.
    const fresh = new client.Configuration(config.serverMetadata(), CLIENT_ID, CLIENT_SECRET, client.ClientSecretBasic(CLIENT_SECRET));
    client.allowInsecureRequests(fresh);
    client.enableNonRepudiationChecks(fresh);
    await login(op, fresh);
    assert.equal(jwksFetches(op), 3);

    // (e) A fresh Configuration seeded with setJwksCache(uat 61 s old, i.e. "fresh" (< 300 s) but
    //     >= 60 s) uses the seeded keys, and re-fetches on the unknown kid.
    const seeded = await discover(op);
    const old = client.getJwksCache(fresh);
    assert.ok(old);
    client.setJwksCache(seeded, { jwks: old.jwks, uat: Math.floor(Date.now() / 1000) - 61 });
    await login(op, seeded);
    assert.equal(jwksFetches(op), 4);

    // (f) The same seeding with uat only 10 s old: no re-fetch, refused.
    const seededYoung = await discover(op);
    const latest = client.getJwksCache(seeded);
    assert.ok(latest);
    client.setJwksCache(seededYoung, { jwks: latest.jwks, uat: Math.floor(Date.now() / 1000) - 10 });
    const refused = await rejection(() => login(op, seededYoung));
    assert.equal(refused.code, 'OAUTH_KEY_SELECTION_FAILED');
    assert.equal(jwksFetches(op), 4);
  });

  test('rotateKeys(): new kid, JWKS serves the new and the previous key', async (t) => {
    const op = await start(t);
    const before = op.currentKid;
    await op.rotateKeys();
    assert.notEqual(op.currentKid, before);
    const jwks = (await (await fetch(op.endpoints.jwks)).json()) as jose.JSONWebKeySet;
    assert.deepEqual(jwks.keys.map((k) => k.kid), [op.currentKid, before]);
    op.setFault('kid-absent-single-key');
    const single = (await (await fetch(op.endpoints.jwks)).json()) as jose.JSONWebKeySet;
    assert.deepEqual(single.keys.map((k) => k.kid), [op.currentKid]);
  });
});

// -------------------------------------------------------------------------------------------------

describe('what openid-client 6.9.0 does not refuse (pinned; the RP must cover these)', () => {
  test('without enableNonRepudiationChecks the ID token signature is never checked', async (t) => {
    const op = await start(t);
    const accepted: string[] = [];
    for (const fault of ['bad-signature', 'alg-none', 'hs256-with-public-key'] as const) {
      op.setFault(fault);
      const { step, error } = await fullFlow(op, { nonRepudiation: false });
      t.diagnostic(`${fault} without non-repudiation checks: ${step} ${describeError(error)}`);
      if (step === 'ok') accepted.push(fault);
    }
    assert.deepEqual(accepted, ['bad-signature', 'alg-none', 'hs256-with-public-key']);
  });

  test('id_token_signed_response_alg pins the algorithm even without signature checks', async (t) => {
    const op = await start(t);
    for (const fault of ['alg-none', 'hs256-with-public-key'] as const) {
      op.setFault(fault);
      const { step, error } = await fullFlow(op, { nonRepudiation: false, metadata: { id_token_signed_response_alg: 'RS256' } });
      assert.equal(step, 'login', `${fault}: ${describeError(error)}`);
    }
  });

  test('an iat in the future (without nbf) is accepted', async (t) => {
    const op = await start(t, { claims: { iat: Math.floor(Date.now() / 1000) + 3600 } });
    const { step, error } = await fullFlow(op);
    assert.equal(step, 'ok', describeError(error));
  });

  test('an azp naming another client is accepted when aud is a single value', async (t) => {
    const op = await start(t, { claims: { azp: 'another-client' } });
    const { step, error } = await fullFlow(op);
    assert.equal(step, 'ok', describeError(error));
  });

  test('discovery from a .well-known URL skips the issuer check', async (t) => {
    const op = await start(t);
    op.setFault('discovery-issuer-mismatch');
    const viaIssuer = await rejection(() => discover(op));
    assert.equal(viaIssuer.code, 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED');
    const config = await discover(op, { url: op.endpoints.discovery });
    assert.notEqual(config.serverMetadata().issuer, op.issuer);
  });

  test('with no ClientAuth argument openid-client uses client_secret_post, whatever discovery advertises', async (t) => {
    const op = await start(t); // advertises and enforces client_secret_basic
    const config = await discover(op, { auth: null });
    const err = await rejection(() => login(op, config));
    t.diagnostic(describeError(err));
    assert.ok(err instanceof client.WWWAuthenticateChallengeError, describeError(err));
    const tokenCall = op.requests.filter((r) => r.path.endsWith('/v1/token'));
    assert.equal(tokenCall.length, 1);
  });
});
