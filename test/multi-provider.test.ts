import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config/index.ts';
import { DEV_CLIENT_ID, DEV_CLIENT_SECRET, startDevIdp, type DevIdp } from '../src/dev-idp/index.ts';
import { ConfigError } from '../src/errors.ts';
import { freePort, startTestApp, type TestApp } from './support/app.ts';
import { providerLogin } from './support/dev-stack.ts';
import { HttpClient } from './support/http-client.ts';

const alice = { email: 'alice@example.com', password: 'wonderland' };

describe('two providers at once (two development providers on two ports)', () => {
  let dir: string;
  let app: TestApp;
  let okta: DevIdp;
  let corp: DevIdp;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oidc-connect-multi-'));
    const [oktaPort, corpPort] = [await freePort(), await freePort()];
    const file = join(dir, 'oidc-connect.config.json');
    writeFileSync(file, JSON.stringify({
      providers: [
        { id: 'okta', name: 'Okta', issuer: `http://localhost:${oktaPort}/oauth2/default`, clientId: DEV_CLIENT_ID, clientSecret: DEV_CLIENT_SECRET },
        { id: 'corp', name: 'Corp SSO', issuer: `http://localhost:${corpPort}/oauth2/default`, clientId: DEV_CLIENT_ID, clientSecretEnv: 'CORP_SECRET', usernameAlgo: 'sha224' },
      ],
    }));
    app = await startTestApp({ OIDC_CONNECT_CONFIG: file, CORP_SECRET: DEV_CLIENT_SECRET });
    okta = await startDevIdp({ port: oktaPort, appUrl: app.url, dataDir: join(dir, 'okta') });
    corp = await startDevIdp({ port: corpPort, appUrl: app.url, dataDir: join(dir, 'corp') });
  });
  after(async () => {
    await app.close();
    await okta.close();
    await corp.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the login page has one button per provider, and no development provider starts', async () => {
    assert.equal(app.config.devIdp, null);
    const page = await new HttpClient().get(`${app.url}/accounts/login/`);
    assert.match(page.body, /href="\/authorization-code\/authenticate\/\?provider=okta&amp;next=%2F">Log In with Okta</);
    assert.match(page.body, /href="\/authorization-code\/authenticate\/\?provider=corp&amp;next=%2F">Log In with Corp SSO</);
  });

  test('each provider signs in with its own identity; a verified email links both to one user', async () => {
    const a = new HttpClient();
    const viaOkta = await providerLogin(a, app.url, alice, '/api/me');
    assert.equal(viaOkta.status, 302, viaOkta.body);
    const first = JSON.parse((await a.get(`${app.url}/api/me`)).body);
    assert.equal(first.provider, 'okta');

    const b = new HttpClient();
    const start = await b.get(`${app.url}/authorization-code/authenticate/?provider=corp&next=/api/me`);
    assert.ok(start.location!.startsWith(`${corp.issuer}/v1/authorize`));
    let hop = await b.get(start.location!);
    while (hop.status >= 300 && hop.status < 400) hop = await b.get(hop.location!);
    const action = /<form method="post" action="([^"]+)"/.exec(hop.body)![1]!.replace(/&amp;/g, '&');
    hop = await b.post(new URL(action, hop.url).href, alice);
    while (!hop.url.startsWith(`${app.url}/authorization-code/callback`)) hop = await b.get(hop.location!);
    assert.equal(hop.status, 302, hop.body);
    const second = JSON.parse((await b.get(`${app.url}/api/me`)).body);
    assert.equal(second.provider, 'corp');
    assert.equal(second.id, first.id, 'linked by the verified email');
    const identities = await app.database.db.selectFrom('identities').select('issuer').where('user_id', '=', first.id).execute();
    assert.deepEqual(identities.map((i) => i.issuer).sort(), [corp.issuer, okta.issuer].sort());
  });

  test('mix-up defence: a callback claiming another issuer than the flow’s provider is refused', async () => {
    const client = new HttpClient();
    const start = await client.get(`${app.url}/authorization-code/authenticate/?provider=okta`);
    let hop = await client.get(start.location!);
    while (hop.status >= 300 && hop.status < 400 && !hop.location!.startsWith(app.url)) hop = await client.get(hop.location!);
    if (hop.status === 200) {
      const action = /<form method="post" action="([^"]+)"/.exec(hop.body)![1]!.replace(/&amp;/g, '&');
      hop = await client.post(new URL(action, hop.url).href, alice);
      while (!hop.location!.startsWith(app.url)) hop = await client.get(hop.location!);
    }
    const callback = new URL(hop.location!);
    assert.equal(callback.searchParams.get('iss'), okta.issuer, 'the provider sends RFC 9207 iss');
    callback.searchParams.set('iss', corp.issuer);
    const refused = await client.get(callback.href);
    assert.ok(refused.status >= 400 && refused.status < 500, `status ${refused.status}`);
    assert.match(refused.body, /Error code: (STATE_INVALID|PROVIDER_ERROR|ID_TOKEN_INVALID)/);
    assert.equal(client.cookie(app.url, 'oc_session'), undefined);
  });

  test('an unknown provider id gets a readable 404', async () => {
    const page = await new HttpClient().get(`${app.url}/authorization-code/authenticate/?provider=nope`);
    assert.equal(page.status, 404);
    assert.match(page.body, /PROVIDER_NOT_CONFIGURED/);
  });
});

describe('providers file validation', () => {
  test('each problem is named by its place in the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-cfg-'));
    try {
      writeFileSync(join(dir, 'oidc-connect.config.json'), JSON.stringify({
        providers: [
          { id: 'Bad Id', issuer: 'http://idp.example', clientId: 'x', clientSecret: 'y' },
          { id: 'ok', issuer: 'https://idp.example', clientId: 'x', clientSecretEnv: 'MISSING_SECRET' },
          { id: 'ok', issuer: 'https://idp2.example', clientId: 'x', clientSecret: 'y', signAlgs: ['none'] },
        ],
      }));
      assert.throws(() => loadConfig({ cwd: dir, env: {} }), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        const text = error.problems.join('\n');
        assert.match(text, /providers\[0\]\.id: is required: lower-case/);
        assert.match(text, /providers\[0\]\.issuer=http:\/\/idp\.example: must use https:\/\//);
        assert.match(text, /providers\[1\]\.clientSecret: the variable MISSING_SECRET named by clientSecretEnv is not set/);
        assert.match(text, /providers\[2\]\.id=ok: is used twice/);
        assert.match(text, /providers\[2\]\.signAlgs: none and HS\* are never accepted/);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a file that is not JSON is reported, not thrown raw', () => {
    const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-cfg-'));
    try {
      writeFileSync(join(dir, 'oidc-connect.config.json'), '{ providers: ');
      assert.throws(() => loadConfig({ cwd: dir, env: {} }), /oidc-connect\.config\.json: is not valid JSON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
