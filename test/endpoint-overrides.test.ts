import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from './support/app.ts';
import { startFakeOp, type FakeOp } from './support/fake-op.ts';
import { HttpClient } from './support/http-client.ts';

/**
 * The tutorial's explicit endpoint settings win over discovery: here the authorization and
 * userinfo endpoints point at a relay that records the call and passes it on to the provider.
 */
let op: FakeOp;
let relay: Server;
let relayUrl: string;
const seen: string[] = [];
let t: TestApp;

before(async () => {
  op = await startFakeOp({ claims: { email: 'eve@example.com', email_verified: true, preferred_username: 'eve' } });
  relay = createServer(async (req, res) => {
    seen.push(req.url!.split('?')[0]!);
    if (req.url!.startsWith('/authorize')) {
      res.writeHead(302, { location: `${op.endpoints.authorization}${req.url!.slice('/authorize'.length)}` }).end();
      return;
    }
    const upstream = await fetch(op.endpoints.userinfo, { headers: { authorization: req.headers.authorization ?? '' } });
    res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' }).end(await upstream.text());
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  relayUrl = `http://127.0.0.1:${(relay.address() as { port: number }).port}`;
  t = await startTestApp({
    OIDC_ISSUER: op.issuer, OIDC_RP_CLIENT_ID: 'test-client', OIDC_RP_CLIENT_SECRET: 'test-secret',
    OIDC_OP_AUTHORIZATION_ENDPOINT: `${relayUrl}/authorize`, OIDC_OP_USER_ENDPOINT: `${relayUrl}/userinfo`,
  });
});
after(async () => {
  await t.close();
  relay.close();
  await op.close();
});

test('OIDC_OP_AUTHORIZATION_ENDPOINT and OIDC_OP_USER_ENDPOINT override discovery', async () => {
  const client = new HttpClient();
  const start = await client.get(`${t.url}/authorization-code/authenticate/?next=/api/me`);
  assert.ok(start.location!.startsWith(`${relayUrl}/authorize?`), start.location!);
  const hops = await client.follow(start);
  assert.equal(hops.at(-1)!.status, 200, hops.at(-1)!.body);
  assert.equal(JSON.parse(hops.at(-1)!.body).username, 'eve');
  assert.deepEqual(seen, ['/authorize', '/userinfo']);
});
