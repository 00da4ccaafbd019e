/**
 * Contract test of what src/rp leans on in openid-client (and the oauth4webapi under it), pinned to
 * the versions it was checked against (issue 18, section 3). Two things are ours and not the library's:
 * - src/rp/http.ts answers every request with a plain Response of the bytes it read (its own pool and
 *   size bound); openid-client must read discovery, token, userinfo and error answers from it;
 * - src/rp/provider.ts seeds each Configuration's JWKS cache (setJwksCache, public) marked 61 s old,
 *   because openid-client re-fetches the keys for an unknown `kid` only from a cache at least 60 s old
 *   (oauth4webapi's rule, not its documented API): so a rotated key reaches our fetch hook, where the
 *   shared cache and its cooldown decide. test/support/fake-op.test.ts, part 3, pins that rule in
 *   openid-client alone; here it is checked through ProviderClient.
 * On an upgrade, PINNED fails first: re-read those two places against the new version, run this file,
 * then update PINNED.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import { causeMessages, OidcConnectError } from '../src/errors.ts';
import type { ProviderConfig } from '../src/config/index.ts';
import { JWKS_COOLDOWN_MS } from '../src/rp/jwks.ts';
import { ProviderClient } from '../src/rp/provider.ts';
import { startFakeOp, type FakeOp } from './support/fake-op.ts';

const PINNED = { 'openid-client': '6.9.0', oauth4webapi: '3.8.8' };
const installed = (name: string) =>
  (JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8')) as { version: string }).version;

const APP_URL = 'http://127.0.0.1:8080'; // only a string: the fake OP redirects to it, nothing fetches it
const CLAIMS = { email: 'rosa@example.com', email_verified: true, preferred_username: 'rosa' };

function providerClient(op: FakeOp, config: Partial<ProviderConfig> = {}): ProviderClient {
  return new ProviderClient({
    id: 'default', name: 'Fake', issuer: op.issuer, clientId: 'test-client', clientSecret: 'test-secret',
    scopes: ['openid', 'email', 'profile', 'offline_access'], signAlgs: [], usernameAlgo: 'claims', endpoints: {}, ...config,
  }, { appUrl: APP_URL, clockToleranceSeconds: 30, httpTimeoutMs: 5000, log: { warn: () => {} } });
}

/** One whole sign-in through the ProviderClient: authorization URL, the OP's redirect, code exchange, userinfo. */
async function signIn(op: FakeOp, rp: ProviderClient): ReturnType<ProviderClient['finish']> {
  const state = client.randomState();
  const nonce = client.randomNonce();
  const codeVerifier = client.randomPKCECodeVerifier();
  const url = await rp.authorizationUrl({ state, nonce, codeChallenge: await client.calculatePKCECodeChallenge(codeVerifier), promptNone: false });
  return rp.finish(await op.authorize(url.href), { state, nonce, codeVerifier });
}

const fetchesOf = (op: FakeOp, path: string) => op.requests.filter((r) => r.path.endsWith(path)).length;

test(`checked against openid-client ${PINNED['openid-client']} with oauth4webapi ${PINNED.oauth4webapi}`, () => {
  assert.deepEqual({ 'openid-client': installed('openid-client'), oauth4webapi: installed('oauth4webapi') }, PINNED,
    'openid-client or oauth4webapi changed: re-check src/rp/http.ts and the JWKS seeding in src/rp/provider.ts, run this file, then update PINNED');
});

describe('openid-client reads the plain Responses of src/rp/http.ts', () => {
  let op: FakeOp;
  before(async () => { op = await startFakeOp({ redirectUri: `${APP_URL}/authorization-code/callback`, claims: CLAIMS, issueRefreshToken: true }); });
  after(() => op?.close());

  test('discovery, the code exchange with its ID token checks, userinfo and a refresh succeed', async () => {
    const rp = providerClient(op);
    const result = await signIn(op, rp);
    assert.equal(result.claims.sub, 'fake-user-1');
    assert.equal(result.userinfo['email'], 'rosa@example.com');
    assert.ok(result.tokens.refreshToken);
    const refreshed = await rp.refresh({ refreshToken: result.tokens.refreshToken, idToken: result.tokens.idToken });
    assert.notEqual(refreshed.accessToken, result.tokens.accessToken);
    for (const path of ['/.well-known/openid-configuration', '/v1/token', '/v1/userinfo', '/v1/keys']) assert.ok(fetchesOf(op, path) >= 1, path);
  });

  test('an error answer (invalid_client, HTTP 401) is read as the OAuth error, and the message names the URL that answered', async () => {
    const rp = providerClient(op, { clientSecret: 'wrong', tokenAuthMethod: 'client_secret_basic' });
    const error = await signIn(op, rp).then(() => assert.fail('signed in with a wrong secret'), (e: unknown) => e);
    assert.ok(error instanceof OidcConnectError);
    assert.equal(error.code, 'CLIENT_AUTH_FAILED');
    assert.ok(causeMessages(error, 5).some((message) => message.includes(`HTTP 401 from ${op.endpoints.token}`)), causeMessages(error, 5).join(' <- '));
  });
});

describe('an unknown kid reaches ProviderClient\'s fetch (the JWKS cache seeded 61 s old)', () => {
  test('the first rotation is fetched through our hook and accepted; a second within the cooldown is refused without a fetch', async () => {
    const op = await startFakeOp({ redirectUri: `${APP_URL}/authorization-code/callback`, claims: CLAIMS });
    try {
      const rp = providerClient(op);
      await signIn(op, rp);
      assert.equal(fetchesOf(op, '/v1/keys'), 1);
      await signIn(op, rp);
      assert.equal(fetchesOf(op, '/v1/keys'), 1, 'known keys: the seeded copy serves');

      await op.rotateKeys(); // the OP signs with a kid the app has never seen
      const rotated = await signIn(op, rp);
      assert.equal(rotated.claims.sub, 'fake-user-1');
      assert.equal(fetchesOf(op, '/v1/keys'), 2, 'the unknown kid made one fetch');

      // Our cooldown (src/rp/jwks.ts) only applies to fetches that go through our hook: a second
      // rotation within it is refused with no request, where openid-client's own fetch would have made one.
      await op.rotateKeys();
      const refused = await signIn(op, rp).then(() => assert.fail(`accepted within the ${JWKS_COOLDOWN_MS} ms cooldown`), (e: unknown) => e);
      assert.equal((refused as OidcConnectError).code, 'ID_TOKEN_INVALID');
      assert.equal(fetchesOf(op, '/v1/keys'), 2);
    } finally {
      await op.close();
    }
  });
});
