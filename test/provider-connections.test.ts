/**
 * A login's provider calls share one keep-alive connection (src/rp/http.ts): discovery, the token
 * request, the signing keys and userinfo reach the provider on the same TCP connection, and the next
 * login uses it again.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startFakeOp, type FakeOp } from './support/fake-op.ts';
import { startTestApp, type TestApp } from './support/app.ts';

let op: FakeOp;
let app: TestApp;

before(async () => {
  op = await startFakeOp({ claims: { email: 'kai@example.com', email_verified: true, preferred_username: 'kai' } });
  app = await startTestApp({ OIDC_ISSUER: op.issuer, OIDC_RP_CLIENT_ID: 'test-client', OIDC_RP_CLIENT_SECRET: 'test-secret' });
});
after(async () => {
  await app?.close();
  await op?.close();
});

/** One login through the relying party; the fake OP's authorize step is the test's own request. */
async function login(): Promise<void> {
  const binding = randomBytes(32).toString('base64url');
  const url = await app.rp.startLogin({ next: '/', binding });
  const signedIn = await app.rp.finishLogin(await op.authorize(url.href), binding);
  assert.equal(signedIn.claims.sub, 'fake-user-1');
}

test('discovery, token and userinfo share one connection, and the next login opens none', async () => {
  await login();
  const first = op.requests.filter((r) => !r.path.endsWith('/v1/authorize'));
  const byPath = (path: string) => first.find((r) => r.path.endsWith(path))!.connection;
  assert.deepEqual(new Set([byPath('/openid-configuration'), byPath('/v1/token'), byPath('/v1/userinfo')]).size, 1, JSON.stringify(first));
  // The signing keys may come on a second pooled connection: undici hands a request made in the
  // same tick as the previous answer's end to another connection. Both stay open for the next login.
  await login();
  const second = op.requests.filter((r) => !r.path.endsWith('/v1/authorize')).slice(first.length);
  assert.deepEqual(second.map((r) => r.path.replace(/^.*\/v1\//, '')), ['token', 'userinfo']);
  const open = new Set(first.map((r) => r.connection));
  for (const request of second) assert.ok(open.has(request.connection), `${request.path} came on a new connection`);
});
