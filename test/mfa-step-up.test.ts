/**
 * ADMIN_REQUIRE_MFA for provider users, and requireBearer({ acr }), against the development provider,
 * whose demo users are asked for a second step when an app asks for it (acr_values) or when the users
 * file says `"mfa": true`; its ID and access tokens then carry amr ["pwd", "mfa"] and a multi-factor acr.
 *
 * Two host apps on one provider: the first asks for the PAPE multi-factor policy at step-up (no
 * OIDC_MFA_ACR_VALUES); the second counts only an acr the provider never gives (urn:example:loa:gold),
 * so its step-ups come back without a second factor.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import { setStaff } from '../src/accounts/users.ts';
import { DEV_CLIENT_ID, DEV_CLIENT_SECRET, startDevIdp, type DevIdp } from '../src/dev-idp/index.ts';
import { sessionIdFor } from '../src/sessions/index.ts';
import { oidcConnect } from '../src/web/plugin.ts';
import { freePort, testAppBase, type TestAppBase } from './support/app.ts';
import { authorizationRequest, signIn } from './support/dev-idp-login.ts';
import { providerLogin } from './support/dev-stack.ts';
import { HttpClient, type Hop } from './support/http-client.ts';

const PAPE_MULTI_FACTOR = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor';
const alice = { email: 'alice@example.com', password: 'wonderland' };
const carol = { email: 'carol@example.com', password: 'carol-password' };
const SECOND = { id: 'second-app', secret: 'second-app-secret-0123456789abcdef' };
const PUSHING = { id: 'pushing-app', secret: 'pushing-app-secret-0123456789abcdef' };

interface Host {
  base: TestAppBase;
  app: FastifyInstance;
  url: string;
}

/** `client`, with every form it posts recorded: which steps the provider showed during a sign-in. */
function recordingPosts(client: HttpClient): { provider: HttpClient; posts: Array<{ url: string; form: Record<string, string> }> } {
  const posts: Array<{ url: string; form: Record<string, string> }> = [];
  const provider = new Proxy(client, {
    get: (target, name) => (name === 'post' ? async (url: string, form: Record<string, string>) => {
      posts.push({ url, form });
      return target.post(url, form);
    } : Reflect.get(target, name)),
  });
  return { provider, posts };
}

/** The plugin in a host app of its own, with one API route that asks for a multi-factor acr. */
async function startHost(base: TestAppBase): Promise<Host> {
  const app = Fastify();
  await app.register(oidcConnect, { config: base.config, db: base.database.db });
  app.get('/api/strong', { preHandler: app.requireBearer({ acr: 'urn:okta:loa:2fa:any', user: 'optional' }) },
    async (request) => ({ acr: request.bearer?.claims['acr'] }));
  await app.listen({ port: base.port, host: '127.0.0.1' });
  return { base, app, url: base.config.appUrl };
}

describe('ADMIN_REQUIRE_MFA for provider users: step-up at the development provider', () => {
  let idp: DevIdp;
  let first: Host;
  let second: Host;
  let pushing: Host;
  const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-step-up-'));

  before(async () => {
    const idpPort = await freePort();
    // The tests read acr_values and max_age in the authorization request's query, which PAR (on by default with
    // the development provider) would push instead.
    const common = { DEV_IDP_PORT: String(idpPort), ADMIN_REQUIRE_MFA: 'true', LOGIN_RATE_LIMIT_PER_MINUTE: '10000', OIDC_USE_PAR: 'off' };
    const firstBase = await testAppBase('step-up', common);
    const secondBase = await testAppBase('step-up-gold', {
      ...common, OIDC_MFA_ACR_VALUES: 'urn:example:loa:gold', OIDC_RP_CLIENT_ID: SECOND.id, OIDC_RP_CLIENT_SECRET: SECOND.secret,
    });
    // PAR as by default (auto: the development provider offers it), so acr_values ride in the pushed request.
    const pushingBase = await testAppBase('step-up-par', {
      ...common, OIDC_USE_PAR: 'auto', OIDC_RP_CLIENT_ID: PUSHING.id, OIDC_RP_CLIENT_SECRET: PUSHING.secret,
    });
    const usersFile = join(dir, 'users.json');
    writeFileSync(usersFile, JSON.stringify([
      { ...alice, preferred_username: 'alice', groups: ['Everyone'] },
      { ...carol, preferred_username: 'carol', groups: ['Everyone'], mfa: true },
    ]));
    idp = await startDevIdp({
      port: idpPort, appUrl: firstBase.config.appUrl, dataDir: dir, usersFile,
      extraClients: [
        { client_id: SECOND.id, client_secret: SECOND.secret, redirect_uris: [`${secondBase.config.appUrl}/authorization-code/callback`] },
        { client_id: PUSHING.id, client_secret: PUSHING.secret, redirect_uris: [`${pushingBase.config.appUrl}/authorization-code/callback`] },
      ],
    });
    first = await startHost(firstBase);
    second = await startHost(secondBase);
    pushing = await startHost(pushingBase);
  });

  after(async () => {
    for (const host of [first, second, pushing]) {
      await host?.app.close();
      await host?.base.close();
    }
    await idp?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Signs in at the provider through `host`, and makes the local user staff. */
  async function staffSignedIn(host: Host, who: { email: string; password: string }, options: { approveSecondStep?: boolean } = {}) {
    const client = new HttpClient();
    const start = await client.get(`${host.url}/authorization-code/authenticate/?next=%2F`);
    const callback = await signIn(client, start.location!, `${host.url}/authorization-code/callback`, who, options);
    assert.equal((await client.get(callback.href)).status, 302);
    const row = await sessionRow(host, client);
    await setStaff(host.base.database.db, row.user_id, true);
    return { client, userId: row.user_id };
  }

  const sessionRow = (host: Host, client: HttpClient) => host.base.database.db.selectFrom('sessions').selectAll()
    .where('id', '=', sessionIdFor(client.cookie(host.url, 'oc_session')!)).executeTakeFirstOrThrow();

  test('without amr: a sign-in with a password alone is sent from /admin/ through a step-up (acr_values asked, a second step at the provider), then back to /admin/', async () => {
    const { client } = await staffSignedIn(first, alice);
    const before = await sessionRow(first, client);
    assert.equal(before.amr, 'pwd');
    assert.equal(before.acr, 'urn:okta:loa:1fa:pwd');

    const admin = await client.get(`${first.url}/admin/users/?q=ali`);
    assert.equal(admin.status, 302);
    assert.equal(admin.location, `${first.url}/authorization-code/step-up/?next=%2Fadmin%2Fusers%2F%3Fq%3Dali`);
    const stepUp = await client.get(admin.location!);
    const authorize = new URL(stepUp.location!);
    assert.equal(authorize.origin + authorize.pathname, `${idp.issuer}/v1/authorize`);
    assert.equal(authorize.searchParams.get('acr_values'), PAPE_MULTI_FACTOR, 'no OIDC_MFA_ACR_VALUES: the PAPE multi-factor policy');
    assert.equal(authorize.searchParams.get('max_age'), null);

    const { provider, posts } = recordingPosts(client);
    const callback = await signIn(provider, authorize, `${first.url}/authorization-code/callback`, alice);
    assert.ok(posts.some((post) => post.url.endsWith('/second-step')), 'the provider asked for its second step');
    const back = await client.get(callback.href);
    assert.equal(back.location, `${first.url}/admin/users/?q=ali`);
    assert.equal((await client.get(back.location!)).status, 200);
    const after = await sessionRow(first, client);
    assert.notEqual(after.id, before.id, 'a new session');
    assert.equal(after.amr, 'pwd mfa');
    assert.equal(after.acr, PAPE_MULTI_FACTOR);
  });

  test('with PAR, the step-up is pushed: the browser carries only the request_uri, and the provider still asks its second step', async () => {
    const { client } = await staffSignedIn(pushing, alice);
    const stepUp = await client.get((await client.get(`${pushing.url}/admin/`)).location!);
    const authorize = new URL(stepUp.location!);
    assert.deepEqual([...authorize.searchParams.keys()].sort(), ['client_id', 'request_uri']);
    const { provider, posts } = recordingPosts(client);
    const callback = await signIn(provider, authorize, `${pushing.url}/authorization-code/callback`, alice);
    assert.ok(posts.some((post) => post.url.endsWith('/second-step')), 'the pushed acr_values made the provider ask its second step');
    const back = await client.get(callback.href);
    assert.equal((await client.get(back.location!)).status, 200);
    const after = await sessionRow(pushing, client);
    assert.equal(after.amr, 'pwd mfa');
    assert.equal(after.acr, PAPE_MULTI_FACTOR);
  });

  test('with amr: a user the provider always asks a second step of opens /admin/ at once', async () => {
    const { client } = await staffSignedIn(first, carol);
    assert.equal((await sessionRow(first, client)).amr, 'pwd mfa');
    assert.equal((await client.get(`${first.url}/admin/`)).status, 200);
  });

  test('a fetch or form post to /admin/ without a multi-factor sign-in gets 403 MFA_REQUIRED instead of a redirect', async () => {
    const { client } = await staffSignedIn(first, alice);
    const fetched = await client.get(`${first.url}/admin/`, { accept: 'application/json', 'sec-fetch-mode': 'cors' });
    assert.equal(fetched.status, 403);
    assert.equal(JSON.parse(fetched.body).error, 'MFA_REQUIRED');
  });

  test('a step-up the provider answers without a second factor ends on MFA_REQUIRED, not in a loop; the acr asked for is OIDC_MFA_ACR_VALUES', async () => {
    const { client } = await staffSignedIn(second, alice);
    const admin = await client.get(`${second.url}/admin/`);
    const stepUp = await client.get(admin.location!);
    const authorize = new URL(stepUp.location!);
    assert.equal(authorize.searchParams.get('acr_values'), 'urn:example:loa:gold');
    const callback = await signIn(client, authorize, `${second.url}/authorization-code/callback`, alice);
    const back: Hop = await client.get(callback.href);
    assert.equal(back.status, 403);
    assert.match(back.body, /signed you in without a second factor, so the admin pages stay closed/);
    assert.match(back.body, /MFA_REQUIRED/);
    assert.equal((await sessionRow(second, client)).amr, 'pwd', 'signed in all the same, for every other page');
  });

  test('?max_age=0 asks the provider for a fresh sign-in (the password again) even with its session alive', async () => {
    const client = new HttpClient();
    assert.equal((await providerLogin(client, first.url, alice)).status, 302);
    const stepUp = await client.get(`${first.url}/authorization-code/step-up/?next=%2F&max_age=0`);
    const authorize = new URL(stepUp.location!);
    assert.equal(authorize.searchParams.get('max_age'), '0');
    const { provider, posts } = recordingPosts(client);
    const callback = await signIn(provider, authorize, `${first.url}/authorization-code/callback`, alice);
    assert.ok(posts.some((post) => 'password' in post.form), 'the provider asked for the password again');
    assert.equal((await client.get(callback.href)).location, `${first.url}/`);
  });

  test('requireBearer({ acr }): a token from a password alone gets 401 insufficient_user_authentication with acr_values; one after the second step passes', async () => {
    const redirect = `${first.url}/authorization-code/callback`;
    const token = async (extra: Record<string, string>) => {
      const browser = new HttpClient();
      const request = await authorizationRequest(idp.issuer, DEV_CLIENT_ID, redirect, extra);
      const code = (await signIn(browser, request.url, redirect, alice)).searchParams.get('code')!;
      const response = await fetch(`${idp.issuer}/v1/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${DEV_CLIENT_ID}:${DEV_CLIENT_SECRET}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirect, code_verifier: request.codeVerifier }),
      });
      return ((await response.json()) as { access_token: string }).access_token;
    };
    const weak = await token({});
    assert.equal(decodeJwt(weak)['acr'], 'urn:okta:loa:1fa:pwd');
    const refused = await fetch(`${first.url}/api/strong`, { headers: { authorization: `Bearer ${weak}` } });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('www-authenticate'),
      'Bearer error="insufficient_user_authentication", error_description="This request needs a stronger sign-in (acr) than the token shows.", acr_values="urn:okta:loa:2fa:any"');
    assert.equal(((await refused.json()) as { error: string }).error, 'INSUFFICIENT_USER_AUTHENTICATION');

    const strong = await token({ acr_values: 'urn:okta:loa:2fa:any' });
    const passed = await fetch(`${first.url}/api/strong`, { headers: { authorization: `Bearer ${strong}` } });
    assert.equal(passed.status, 200);
    assert.deepEqual(await passed.json(), { acr: 'urn:okta:loa:2fa:any' });
  });
});
