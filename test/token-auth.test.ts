/**
 * Client authentication at the token endpoint: OIDC_RP_TOKEN_AUTH_METHOD, and the one retry with
 * client_secret_post after a provider refuses our Basic credentials with invalid_client. The provider
 * is the fake OP acting like LemonLDAP::NG 2.16 (basicWithoutUrlDecoding: it lists both methods and
 * never percent-decodes Basic credentials, so the client id `my-app`, sent as `my%2Dapp`, is
 * unknown), so this runs everywhere; test/lemonldap.test.ts does the same against the real portal.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import type { ProviderConfig } from '../src/config/index.ts';
import { OidcConnectError } from '../src/errors.ts';
import { ProviderClient } from '../src/rp/provider.ts';
import { startTestApp } from './support/app.ts';
import { startFakeOp, type FakeOp, type FakeOpOptions } from './support/fake-op.ts';
import { HttpClient } from './support/http-client.ts';

const CLAIMS = { email: 'dwho@example.com', email_verified: true, preferred_username: 'dwho' };
const APP_URL = 'http://127.0.0.1:8080'; // only a string here: the fake OP redirects to it, nothing fetches it

interface Rig {
  op: FakeOp;
  rp: ProviderClient;
  warnings: string[];
  tokenRequests(): number;
  /** One whole sign-in through the ProviderClient: authorization URL, the OP's redirect, code exchange. */
  signIn(): ReturnType<ProviderClient['finish']>;
}

async function rig(options: { op?: FakeOpOptions; provider?: Partial<ProviderConfig> } = {}): Promise<Rig> {
  const op = await startFakeOp({ clientId: 'my-app', clientSecret: 'interop-secret', basicWithoutUrlDecoding: true, claims: CLAIMS, ...options.op });
  after(() => op.close());
  const warnings: string[] = [];
  const rp = new ProviderClient({
    id: 'default', name: 'Portal', issuer: op.issuer, clientId: 'my-app', clientSecret: 'interop-secret',
    scopes: ['openid', 'email', 'profile'], signAlgs: [], usernameAlgo: 'claims', endpoints: {}, ...options.provider,
  }, { appUrl: APP_URL, clockToleranceSeconds: 30, httpTimeoutMs: 5000, log: { warn: (_details, message) => warnings.push(message) } });
  return {
    op,
    rp,
    warnings,
    tokenRequests: () => op.requests.filter((r) => r.path.endsWith('/v1/token')).length,
    async signIn() {
      const state = client.randomState();
      const nonce = client.randomNonce();
      const codeVerifier = client.randomPKCECodeVerifier();
      const url = await rp.authorizationUrl({ state, nonce, codeChallenge: await client.calculatePKCECodeChallenge(codeVerifier), promptNone: false });
      return rp.finish(await op.authorize(url.href), { state, nonce, codeVerifier });
    },
  };
}

async function refusal(promise: Promise<unknown>): Promise<OidcConnectError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof OidcConnectError, `expected an OidcConnectError, got ${String(error)}`);
  return error;
}

describe('a provider that refuses percent-encoded Basic credentials', () => {
  test('Basic is refused, the same code is redeemed with client_secret_post, and post is kept, with one warning', async () => {
    const r = await rig({ op: { issueRefreshToken: true }, provider: { scopes: ['openid', 'email', 'profile', 'offline_access'] } });
    const first = await r.signIn();
    assert.equal(first.claims.sub, 'fake-user-1');
    assert.equal(r.tokenRequests(), 2, 'one refused Basic request, one post request with the same code');
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, /^Portal refused our client credentials sent with client_secret_basic \(invalid_client\) and accepted client_secret_post.*OIDC_RP_TOKEN_AUTH_METHOD=client_secret_post/);

    await r.signIn();
    await r.rp.refresh({ refreshToken: first.tokens.refreshToken! });
    assert.equal(r.tokenRequests(), 4, 'the next sign-in and the refresh go straight to post');
    assert.equal(r.warnings.length, 1, 'warned once');
  });

  test('concurrent sign-ins that all meet the refusal each retry once, and the warning still comes once', async () => {
    const r = await rig();
    await Promise.all([r.signIn(), r.signIn(), r.signIn()]);
    assert.equal(r.tokenRequests(), 6);
    assert.equal(r.warnings.length, 1);
  });

  test('OIDC_RP_TOKEN_AUTH_METHOD=client_secret_post sends no Basic request at all', async () => {
    const r = await rig({ provider: { tokenAuthMethod: 'client_secret_post' } });
    await r.signIn();
    assert.equal(r.tokenRequests(), 1);
    assert.deepEqual(r.warnings, []);
  });

  test('OIDC_RP_TOKEN_AUTH_METHOD=client_secret_basic is kept: no retry, CLIENT_AUTH_FAILED', async () => {
    const r = await rig({ provider: { tokenAuthMethod: 'client_secret_basic' } });
    assert.equal((await refusal(r.signIn())).code, 'CLIENT_AUTH_FAILED');
    assert.equal(r.tokenRequests(), 1);
  });

  test('a wrong secret is refused under both methods: CLIENT_AUTH_FAILED, and post is not kept', async () => {
    const r = await rig({ provider: { clientSecret: 'wrong' } });
    for (let attempt = 1; attempt <= 2; attempt++) {
      const error = await refusal(r.signIn());
      assert.equal(error.code, 'CLIENT_AUTH_FAILED');
      assert.equal(r.tokenRequests(), 2 * attempt, 'Basic first, then post, every time');
    }
    assert.deepEqual(r.warnings, []);
  });

  test('credentials that the encoding leaves alone keep Basic', async () => {
    const r = await rig({ op: { clientId: 'myapp', clientSecret: 'secret1' }, provider: { clientId: 'myapp', clientSecret: 'secret1' } });
    await r.signIn();
    assert.equal(r.tokenRequests(), 1);
    assert.deepEqual(r.warnings, []);
  });

  test('a provider that lists Basic only is not retried with post', async () => {
    const r = await rig({ op: { basicWithoutUrlDecoding: false }, provider: { clientSecret: 'wrong' } });
    assert.equal((await refusal(r.signIn())).code, 'CLIENT_AUTH_FAILED');
    assert.equal(r.tokenRequests(), 1);
  });
});

describe('the app signs in through such a provider', () => {
  let op: FakeOp;
  before(async () => { op = await startFakeOp({ clientId: 'my-app', clientSecret: 'interop-secret', basicWithoutUrlDecoding: true, claims: CLAIMS }); });
  after(() => op.close());

  for (const env of [{}, { OIDC_RP_TOKEN_AUTH_METHOD: 'client_secret_post' }] as Record<string, string>[]) {
    test(`the code flow ends signed in (${Object.keys(env).length ? 'OIDC_RP_TOKEN_AUTH_METHOD=client_secret_post' : 'automatic retry'})`, async () => {
      const app = await startTestApp({ OIDC_ISSUER: op.issuer, OIDC_RP_CLIENT_ID: 'my-app', OIDC_RP_CLIENT_SECRET: 'interop-secret', ...env });
      try {
        const browser = new HttpClient();
        const start = await browser.get(`${app.url}/authorization-code/authenticate/?next=%2Fapi%2Fme`);
        const back = await browser.get(start.location!);
        const done = await browser.get(back.location!);
        assert.equal(done.status, 302, done.body);
        assert.equal(done.location, `${app.url}/api/me`);
        assert.equal(JSON.parse((await browser.get(done.location!)).body).username, 'dwho');
      } finally {
        await app.close();
      }
    });
  }
});
