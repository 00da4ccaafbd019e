// request.accessToken() (issue 23, section 1): a token for downstream calls, refreshed under the
// refresh lease, exchanged for other audiences, through the Fastify host of test/support/adapters.ts
// (its GET /downstream calls accessToken(); every adapter's own test is in test/adapters.test.ts).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { changing } from '../src/db/change-feed.ts';
import { SessionTokens } from '../src/rp/session-tokens.ts';
import { sessionIdFor } from '../src/sessions/index.ts';
import { startAdapterApp, type AdapterApp, type Downstream } from './support/adapters.ts';
import { freePort } from './support/app.ts';
import { providerLogin } from './support/dev-stack.ts';
import { startFakeOp, type FakeOp } from './support/fake-op.ts';
import { HttpClient } from './support/http-client.ts';
import { databaseTargets, type TestDatabase } from './support/postgres.ts';
import { startRecordingProxy, type RecordingProxy } from './support/recording-proxy.ts';
import { openRowTokens, sealRowTokens } from './support/session-tokens.ts';

const alice = { email: 'alice@example.com', password: 'wonderland' };
const digest = (token: string) => createHash('sha256').update(token).digest('base64url');

async function downstream(client: HttpClient, url: string, query: Record<string, string> = {}): Promise<{ status: number; body: Downstream }> {
  const answer = await client.get(`${url}/downstream${Object.keys(query).length > 0 ? `?${new URLSearchParams(query)}` : ''}`);
  return { status: answer.status, body: JSON.parse(answer.body) as Downstream };
}

/** The session row of a browser, and a way to rewrite its tokens (times in the clear; the rest sealed). */
function sessionOf(s: AdapterApp, client: HttpClient) {
  const id = () => sessionIdFor(client.cookie(s.url, 'oc_session')!);
  const data = async () => (await s.database.db.selectFrom('sessions').select('data').where('id', '=', id()).executeTakeFirstOrThrow()).data;
  // Announced as the app's own writes are, so that every instance's session cache lets the old row go.
  const write = (value: string) => changing(s.database.db, (db) => db.updateTable('sessions').set({ data: value }).where('id', '=', id()).execute(), () => [{ kind: 'session', id: id() }]);
  return {
    id,
    tokens: async () => openRowTokens(s.config.sessionSecret, await data()),
    async expireIn(ms: number) {
      await write(JSON.stringify({ ...JSON.parse(await data()), expiresAt: Date.now() + ms }));
    },
    async seal(patch: Record<string, unknown>) {
      await write(await sealRowTokens(s.config.sessionSecret, { ...(await openRowTokens(s.config.sessionSecret, await data())), ...patch }));
    },
  };
}

describe('accessToken() against the development provider', () => {
  let s: AdapterApp;
  let proxy: RecordingProxy;
  before(async () => {
    const idpPort = await freePort();
    proxy = await startRecordingProxy(`http://localhost:${idpPort}`);
    s = await startAdapterApp('fastify', {
      DEV_IDP_PORT: String(idpPort),
      OIDC_RP_SCOPES: 'openid email profile offline_access',
      // Token requests go through a recorder, so refreshes and exchanges can be counted.
      OIDC_OP_TOKEN_ENDPOINT: `${proxy.url}/oauth2/default/v1/token`,
    });
  });
  after(async () => {
    await s.close();
    await proxy.close();
  });
  const grants = (type: string) => proxy.requests.filter((r) => new URLSearchParams(r.body).get('grant_type') === type).length;

  test('with under a minute left, where a page would not refresh yet, concurrent calls refresh once and all get the new token', async () => {
    const client = new HttpClient();
    assert.equal((await providerLogin(client, s.url, alice)).status, 302);
    const session = sessionOf(s, client);
    const before = await session.tokens();
    assert.ok(before.refreshToken, 'offline_access gave a refresh token');
    await session.expireIn(45_000);
    const refreshes = grants('refresh_token');
    assert.match((await client.get(`${s.url}/`)).body, /"user":"alice"/);
    assert.equal(grants('refresh_token'), refreshes, 'a page leaves a token with 45 s left alone');

    const answers = await Promise.all(Array.from({ length: 4 }, () => downstream(client, s.url)));
    assert.equal(grants('refresh_token'), refreshes + 1, 'one refresh for all four calls');
    const after = await session.tokens();
    assert.notEqual(after.accessToken, before.accessToken);
    for (const { status, body } of answers) {
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.token, digest(after.accessToken!), 'every call got the refreshed token');
      assert.ok(body.expiresAt! - Date.now() >= 60_000);
      assert.equal(body.userinfo?.status, 200);
    }
  });

  test('a refresh the provider refuses: REFRESH_REFUSED, and the session has ended', async () => {
    const client = new HttpClient();
    assert.equal((await providerLogin(client, s.url, alice)).status, 302);
    const session = sessionOf(s, client);
    // 45 s left: the page hook leaves it, accessToken() refreshes, with a refresh token the provider doesn't know.
    await session.seal({ refreshToken: 'revoked-or-unknown', expiresAt: Date.now() + 45_000 });
    const answer = await downstream(client, s.url);
    assert.deepEqual([answer.status, answer.body.error], [401, 'REFRESH_REFUSED']);
    assert.match((await client.get(`${s.url}/`)).body, /"user":null/);
    assert.equal(await s.database.db.selectFrom('sessions').select('id').where('id', '=', session.id()).executeTakeFirst(), undefined);
  });

  test('{ audience, scope }: a token exchanged for that API, which its introspection confirms; asked again, the one kept', async () => {
    const client = new HttpClient();
    assert.equal((await providerLogin(client, s.url, alice)).status, 302);
    const exchanges = grants('urn:ietf:params:oauth:grant-type:token-exchange');
    const first = await downstream(client, s.url, { audience: 'api://reports', scope: 'reports:read' });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.deepEqual([first.body.type, first.body.scope], ['Bearer', 'reports:read']);
    assert.notEqual(first.body.token, digest((await sessionOf(s, client).tokens()).accessToken!), 'another token than the session\'s');
    const again = await downstream(client, s.url, { audience: 'api://reports', scope: 'reports:read' });
    assert.equal(again.body.token, first.body.token);
    assert.equal(grants('urn:ietf:params:oauth:grant-type:token-exchange'), exchanges + 1, 'one exchange: the second call used the kept token');

    // The token is kept sealed with the session; the reports API asks the provider about it.
    const row = await s.database.db.selectFrom('session_tokens').select(['sealed']).where('session_id', '=', sessionOf(s, client).id()).executeTakeFirstOrThrow();
    const kept = (await new SessionTokens(s.config.sessionSecret).openExchanged(row.sealed))!;
    assert.equal(digest(kept.accessToken), first.body.token);
    assert.ok(!row.sealed.includes(kept.accessToken), 'sealed');
    const introspection = await fetch(`${s.idp.issuer}/v1/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('oidc-connect-dev:oidc-connect-dev-secret').toString('base64')}` },
      body: new URLSearchParams({ token: kept.accessToken }),
    }).then((r) => r.json()) as Record<string, unknown>;
    assert.deepEqual([introspection.active, introspection.aud, introspection.scope, introspection.sub], [true, 'api://reports', 'reports:read', (await s.database.db.selectFrom('identities').select('subject').executeTakeFirstOrThrow()).subject]);
  });

  test('an audience the provider does not know: TOKEN_EXCHANGE_REFUSED with its error, and the session goes on', async () => {
    const client = new HttpClient();
    assert.equal((await providerLogin(client, s.url, alice)).status, 302);
    const refused = await downstream(client, s.url, { audience: 'api://nobody' });
    assert.deepEqual([refused.status, refused.body.error], [403, 'TOKEN_EXCHANGE_REFUSED']);
    const scope = await downstream(client, s.url, { audience: 'api://reports', scope: 'reports:delete' });
    assert.deepEqual([scope.status, scope.body.error], [403, 'TOKEN_EXCHANGE_REFUSED']);
    assert.equal((await downstream(client, s.url)).status, 200);
  });

  test('arguments are checked: an empty audience is refused before anything is asked', async () => {
    const client = new HttpClient();
    assert.equal((await providerLogin(client, s.url, alice)).status, 302);
    const answer = await downstream(client, s.url, { audience: ' ' });
    assert.match(answer.body.error!, /TypeError: accessToken: audience must be a non-empty string/);
  });
});

describe('accessToken() without a refresh token', () => {
  let s: AdapterApp;
  before(async () => {
    s = await startAdapterApp('fastify');
  });
  after(() => s.close());

  test('a token with under a minute left and nothing to renew it: NO_PROVIDER_TOKENS', async () => {
    const client = new HttpClient();
    assert.equal((await providerLogin(client, s.url, alice)).status, 302);
    assert.equal((await downstream(client, s.url)).status, 200);
    await sessionOf(s, client).expireIn(30_000);
    const answer = await downstream(client, s.url);
    assert.deepEqual([answer.status, answer.body.error], [401, 'NO_PROVIDER_TOKENS']);
  });
});

describe('accessToken() with a provider without token exchange (the fake provider)', () => {
  let op: FakeOp;
  let s: AdapterApp;
  before(async () => {
    op = await startFakeOp({ claims: { email: 'rita@example.com', email_verified: true, preferred_username: 'rita' } });
    s = await startAdapterApp('fastify', { OIDC_ISSUER: op.issuer, OIDC_RP_CLIENT_ID: 'test-client', OIDC_RP_CLIENT_SECRET: 'test-secret' });
  });
  after(async () => {
    await s.close();
    await op.close();
  });

  test('{ audience }: TOKEN_EXCHANGE_UNSUPPORTED, and nothing is sent to the provider; the session\'s own token still comes', async () => {
    const client = new HttpClient();
    const start = await client.get(`${s.url}/authorization-code/authenticate/`);
    assert.equal((await client.get((await client.get(start.location!)).location!)).status, 302);
    const before = op.requests.length;
    const answer = await downstream(client, s.url, { audience: 'api://reports' });
    assert.deepEqual([answer.status, answer.body.error], [501, 'TOKEN_EXCHANGE_UNSUPPORTED']);
    assert.equal(op.requests.length, before);
    assert.equal((await downstream(client, s.url)).status, 200);
  });
});

// Two app instances on one database (each its own connection pool, caches and provider client, as two
// processes would have), against a provider that rotates refresh tokens at every use: a second refresh
// with the old token would be refused, and would end the session.
for (const target of databaseTargets) {
  describe(`accessToken() from two instances at once, on ${target.name}`, { skip: target.skip }, () => {
    let op: FakeOp;
    let database: TestDatabase;
    let a: AdapterApp;
    let b: AdapterApp;
    before(async () => {
      op = await startFakeOp({ issueRefreshToken: true, claims: { email: 'rita@example.com', email_verified: true, preferred_username: 'rita' } });
      database = await target.create();
      const env = { DATABASE_URL: database.url, OIDC_ISSUER: op.issuer, OIDC_RP_CLIENT_ID: 'test-client', OIDC_RP_CLIENT_SECRET: 'test-secret' };
      a = await startAdapterApp('fastify', env);
      b = await startAdapterApp('fastify', env);
    });
    after(async () => {
      await a.close();
      await b.close();
      await database.drop();
      await op.close();
    });
    const refreshes = () => op.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/v1/token')).length;

    test('one refresh between them; both get its token; the rotated refresh token serves the next refresh', async () => {
      const atA = new HttpClient();
      const start = await atA.get(`${a.url}/authorization-code/authenticate/`);
      assert.equal((await atA.get((await atA.get(start.location!)).location!)).status, 302);
      const atB = new HttpClient();
      atB.setCookie(b.url, 'oc_session', atA.cookie(a.url, 'oc_session')!);
      const session = sessionOf(a, atA);
      for (let round = 1; round <= 2; round++) {
        await session.expireIn(10_000);
        const before = refreshes();
        const answers = await Promise.all([a, b, a, b].map((app, i) => downstream(i % 2 === 0 ? atA : atB, app.url)));
        assert.equal(refreshes(), before + 1, `round ${round}: one refresh across both instances`);
        const { accessToken } = await session.tokens();
        for (const { status, body } of answers) {
          assert.equal(status, 200, `round ${round}: ${JSON.stringify(body)}`);
          assert.equal(body.token, digest(accessToken!));
        }
      }
    });
  });
}
