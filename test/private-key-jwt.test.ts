import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from './support/app.ts';
import { cli } from './support/cli.ts';
import { providerLogin, startDevStack, type DevStack } from './support/dev-stack.ts';
import { startFakeOp, type FakeOp } from './support/fake-op.ts';
import { HttpClient } from './support/http-client.ts';
import { startRecordingProxy, type RecordingProxy } from './support/recording-proxy.ts';
import { startTestApp, type TestApp } from './support/app.ts';

const alice = { email: 'alice@example.com', password: 'wonderland' };
const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-pkjwt-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** RFC 7638's thumbprint of a PEM's public key, computed by Python's cryptography, apart from jose. */
function pythonThumbprint(pem: string): string {
  return execFileSync('python3', ['-c', `
import json, hashlib, base64, sys
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.hazmat.primitives.asymmetric import ec
key = load_pem_private_key(open(sys.argv[1], 'rb').read(), None).public_key()
b64 = lambda data: base64.urlsafe_b64encode(data).rstrip(b'=').decode()
num = lambda i, size=None: b64(i.to_bytes(size or (i.bit_length() + 7) // 8, 'big'))
if isinstance(key, ec.EllipticCurvePublicKey):
    n = key.public_numbers()
    members = {'crv': 'P-256', 'kty': 'EC', 'x': num(n.x, 32), 'y': num(n.y, 32)}
else:
    n = key.public_numbers()
    members = {'e': num(n.e), 'kty': 'RSA', 'n': num(n.n)}
print(b64(hashlib.sha256(json.dumps(members, separators=(',', ':'), sort_keys=True).encode()).digest()))
`, pem]).toString().trim();
}

/** A form POST straight to the provider, as an attacker holding a copied request would send it. */
async function post(url: string, form: URLSearchParams | string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, { method: 'POST', body: String(form), headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
  return { status: response.status, body: await response.json() as Record<string, unknown> };
}

describe('oidc-connect keygen', () => {
  test('writes a private key with mode 0600 and prints the variables and the JWKS, whose kid is the RFC 7638 thumbprint', async () => {
    for (const alg of ['RS256', 'ES256']) {
      const out = `data/${alg}.pem`;
      const run = await cli(dir, ['keygen', '--out', out, '--alg', alg]);
      assert.equal(run.code, 0, run.stderr);
      const file = join(dir, out);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.match(readFileSync(file, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
      assert.match(run.stdout, new RegExp(`^  OIDC_RP_TOKEN_AUTH_METHOD=private_key_jwt$`, 'm'));
      assert.match(run.stdout, new RegExp(`^  OIDC_RP_PRIVATE_KEY=\\./data/${alg}\\.pem$`, 'm'));
      const jwks = JSON.parse(run.stdout.slice(run.stdout.indexOf('{'))) as { keys: Array<Record<string, string>> };
      assert.equal(jwks.keys.length, 1);
      assert.equal(jwks.keys[0]!.kid, pythonThumbprint(file));
      assert.equal(jwks.keys[0]!.d, undefined, 'the public key only');
      assert.equal(jwks.keys[0]!.kty, alg === 'ES256' ? 'EC' : 'RSA');
    }
  });

  test('never overwrites a key file: it exits 1 and the key is unchanged', async () => {
    const before = readFileSync(join(dir, 'data/RS256.pem'), 'utf8');
    const again = await cli(dir, ['keygen', '--out', 'data/RS256.pem']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already exists, and keygen never overwrites a key/);
    assert.equal(readFileSync(join(dir, 'data/RS256.pem'), 'utf8'), before);
    const bad = await cli(dir, ['keygen', '--out', 'data/other.pem', '--alg', 'HS256']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--alg HS256: keygen makes RS256 or ES256 keys/);
  });
});

describe('private_key_jwt against the development provider (which fetches the app\'s keys and holds no secret for it)', () => {
  let s: DevStack;
  let proxy: RecordingProxy;
  const key = () => join(dir, 'data/RS256.pem');
  before(async () => {
    const idpPort = await freePort();
    // The token and introspection requests go through a recorder, so a test can replay what was sent.
    proxy = await startRecordingProxy(`http://localhost:${idpPort}`);
    s = await startDevStack({
      DEV_IDP_PORT: String(idpPort),
      OIDC_RP_TOKEN_AUTH_METHOD: 'private_key_jwt',
      OIDC_RP_PRIVATE_KEY: `${key()},${join(dir, 'data/ES256.pem')}`,
      OIDC_OP_TOKEN_ENDPOINT: `${proxy.url}/oauth2/default/v1/token`,
      OIDC_OP_INTROSPECTION_ENDPOINT: `${proxy.url}/oauth2/default/v1/introspect`,
    });
  });
  after(async () => {
    await s.close();
    await proxy.close();
  });
  const assertions = () => proxy.requests.map((r) => new URLSearchParams(r.body)).filter((form) => form.has('client_assertion'));

  test('/.well-known/jwks.json serves both keys\' public halves, as keygen printed them', async () => {
    const answer = await new HttpClient().get(`${s.app.url}/.well-known/jwks.json`);
    assert.equal(answer.status, 200);
    assert.match(answer.headers.get('content-type')!, /^application\/jwk-set\+json/);
    const { keys } = JSON.parse(answer.body) as { keys: Array<Record<string, string>> };
    assert.deepEqual(keys.map((k) => k.kid), [pythonThumbprint(key()), pythonThumbprint(join(dir, 'data/ES256.pem'))]);
    assert.ok(keys.every((k) => k.d === undefined && k.p === undefined), 'no private member');
  });

  test('alice signs in: every client request carries an assertion signed by the first key, and no secret', async () => {
    const client = new HttpClient();
    const start = await client.get(`${s.app.url}/authorization-code/authenticate/`);
    // The request was pushed (PAR), which this provider accepts from this client with the key only.
    assert.ok(new URL(start.location!).searchParams.get('request_uri'));
    const done = await providerLogin(client, s.app.url, alice);
    assert.equal(done.status, 302, done.body);
    assert.match((await client.get(`${s.app.url}/`)).body, /Hi alice - alice@example.com!/);
    const [sent] = assertions();
    assert.ok(sent, 'the code was exchanged with an assertion');
    assert.equal(sent.get('client_assertion_type'), 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    assert.equal(sent.get('client_secret'), null);
    const header = JSON.parse(Buffer.from(sent.get('client_assertion')!.split('.')[0]!, 'base64url').toString()) as Record<string, string>;
    assert.deepEqual([header.alg, header.kid], ['RS256', pythonThumbprint(key())]);
    assert.equal(proxy.requests[0]!.headers.authorization, undefined, 'no Basic credentials');
    // The provider takes no secret for this client: a request with it is refused.
    const basic = Buffer.from(`oidc-connect-dev:oidc-connect-dev-secret`).toString('base64');
    const refused = await post(`${s.idp.issuer}/v1/token`, new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'x' }), { authorization: `Basic ${basic}` });
    assert.equal(refused.body.error, 'invalid_client');
  });

  test('introspection authenticates with an assertion too', async () => {
    const rp = s.app.rp.provider('default');
    const answer = await rp.introspect('not-a-token');
    assert.equal(answer?.active, false);
    const last = assertions().at(-1)!;
    assert.equal(last.get('token'), 'not-a-token');
  });

  test('an assertion is good once: replayed at the token or introspection endpoint, the client is refused', async () => {
    const rp = s.app.rp.provider('default');
    // A fresh assertion passes client authentication: the provider then judges the grant (invalid_grant).
    await assert.rejects(rp.refresh({ refreshToken: 'unknown' }), (error: { code?: string }) => error.code === 'PROVIDER_ERROR');
    const copied = assertions().at(-1)!;
    const replayed = (extra: Record<string, string>) => new URLSearchParams({
      client_assertion_type: copied.get('client_assertion_type')!, client_assertion: copied.get('client_assertion')!, client_id: 'oidc-connect-dev', ...extra,
    });
    const token = await post(`${s.idp.issuer}/v1/token`, replayed({ grant_type: 'refresh_token', refresh_token: 'unknown' }));
    assert.equal(token.status, 401);
    assert.equal(token.body.error, 'invalid_client', JSON.stringify(token.body));
    const introspection = await post(`${s.idp.issuer}/v1/introspect`, replayed({ token: 'x' }));
    assert.equal(introspection.body.error, 'invalid_client', JSON.stringify(introspection.body));
  });

  test('check signs with the key and the provider accepts it; a key the provider does not know is a PROBLEM naming OIDC_RP_PRIVATE_KEY', async () => {
    const env = { DEV_IDP_PORT: String(s.idp.port), APP_URL: s.app.url, OIDC_RP_TOKEN_AUTH_METHOD: 'private_key_jwt' };
    const ok = await cli(dir, ['check'], { ...env, OIDC_RP_PRIVATE_KEY: key() });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /^OK Okta: private_key_jwt assertions are signed RS256 with the key of .*RS256\.pem$/m);
    assert.match(ok.stdout, /^OK Okta: the token endpoint accepts the client credentials$/m);
    await cli(dir, ['keygen', '--out', 'data/unknown.pem']);
    const unknown = await cli(dir, ['check'], { ...env, OIDC_RP_PRIVATE_KEY: join(dir, 'data/unknown.pem') });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stdout, /^PROBLEM Okta token endpoint: Okta refused our client credentials: check OIDC_RP_CLIENT_ID \/ OIDC_RP_PRIVATE_KEY\.$/m);
  });
});

describe('client_secret_jwt against the development provider', () => {
  let s: DevStack;
  before(async () => {
    s = await startDevStack({ OIDC_RP_TOKEN_AUTH_METHOD: 'client_secret_jwt', OIDC_RP_CLIENT_SECRET: 'a-client-secret-long-enough-for-hs256-0123456789' });
  });
  after(() => s.close());

  test('alice signs in, with an HS256 assertion: the provider takes nothing else from this client', async () => {
    const client = new HttpClient();
    const done = await providerLogin(client, s.app.url, alice);
    assert.equal(done.status, 302, done.body);
    assert.match((await client.get(`${s.app.url}/`)).body, /Hi alice/);
    const basic = Buffer.from('oidc-connect-dev:a-client-secret-long-enough-for-hs256-0123456789').toString('base64');
    const refused = await post(`${s.idp.issuer}/v1/token`, new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'x' }), { authorization: `Basic ${basic}` });
    assert.equal(refused.body.error, 'invalid_client', 'the secret sent as such is refused');
    assert.equal((await client.get(`${s.app.url}/.well-known/jwks.json`)).status, 404, 'no keys, no key set');
  });
});

describe('a provider without private_key_jwt (the fake provider takes client_secret_basic only)', () => {
  let op: FakeOp;
  let app: TestApp;
  before(async () => {
    op = await startFakeOp();
    app = await startTestApp({ OIDC_ISSUER: op.issuer, OIDC_RP_CLIENT_ID: 'test-client', OIDC_RP_PRIVATE_KEY: join(dir, 'data/RS256.pem') });
  });
  after(async () => {
    await app.close();
    await op.close();
  });

  test('the sign-in ends on a 502 page saying the client was refused and naming OIDC_RP_PRIVATE_KEY', async () => {
    const client = new HttpClient();
    const start = await client.get(`${app.url}/authorization-code/authenticate/`);
    const back = await client.get(start.location!);
    const done = await client.get(back.location!);
    assert.equal(done.status, 502);
    assert.match(done.body, /CLIENT_AUTH_FAILED/);
    assert.match(done.body, /check OIDC_RP_CLIENT_ID \/ OIDC_RP_PRIVATE_KEY/);
  });

  test('check warns that the provider does not list private_key_jwt, and fails at the token endpoint', async () => {
    const run = await cli(dir, ['check'], { OIDC_ISSUER: op.issuer, OIDC_RP_CLIENT_ID: 'test-client', OIDC_RP_PRIVATE_KEY: join(dir, 'data/RS256.pem'), APP_URL: 'http://localhost:8080' });
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^WARN 127\.0\.0\.1:\d+: OIDC_RP_TOKEN_AUTH_METHOD is private_key_jwt, which the provider does not list \(it lists client_secret_basic\)$/m);
    assert.match(run.stdout, /^PROBLEM 127\.0\.0\.1:\d+ token endpoint: 127\.0\.0\.1:\d+ refused our client credentials: check OIDC_RP_CLIENT_ID \/ OIDC_RP_PRIVATE_KEY\.$/m);
  });
});
