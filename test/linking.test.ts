/**
 * Account linking as an attacker would try it (issue 10, item 1), with two development providers:
 * "okta" (the victims' provider) and "other" (where the attacker controls the claims through its
 * users file). An email is a link target only when both sides have verified it, emails compare
 * through one normalisation (no Unicode folding), and a second `sub` from one issuer never joins
 * an account that already has an identity there.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEV_CLIENT_ID, DEV_CLIENT_SECRET, startDevIdp, type DevIdp } from '../src/dev-idp/index.ts';
import { freePort, startTestApp, type TestApp } from './support/app.ts';
import { HttpClient, type Hop } from './support/http-client.ts';

const alice = { email: 'alice@example.com', password: 'wonderland' };
const kate = { email: 'kate@example.com', password: 'kate password' };
/** At "other": an account carrying alice's address, which "other" has not verified. */
const preAccount = { email: 'alice@example.com', password: 'mallory one', email_verified: false, sub: 'mallory-unverified' };
/** At "other": a verified address that differs from kate's only by U+212A KELVIN SIGN. */
const kelvin = { email: '\u212Aate@example.com', password: 'mallory two', sub: 'mallory-kelvin' };

/** Signs in through `provider`'s login form; returns the app's answer to the callback. */
async function loginVia(client: HttpClient, appUrl: string, provider: string, credentials: { email: string; password: string }): Promise<Hop> {
  const start = await client.get(`${appUrl}/authorization-code/authenticate/?${new URLSearchParams({ provider, next: '/api/me' })}`);
  assert.equal(start.status, 302, start.body);
  let hop = await client.get(start.location!);
  let typed = false;
  while (!hop.url.startsWith(`${appUrl}/authorization-code/callback`)) {
    if (hop.status >= 300 && hop.status < 400 && hop.location) {
      hop = await client.get(new URL(hop.location, hop.url).href);
    } else if (!typed && /name="password"/.test(hop.body)) {
      const action = /<form method="post" action="([^"]+)"/.exec(hop.body)![1]!.replace(/&amp;/g, '&');
      hop = await client.post(new URL(action, hop.url).href, { email: credentials.email, password: credentials.password });
      typed = true;
    } else {
      throw new Error(`provider login stopped at ${hop.url} (${hop.status})`);
    }
  }
  return hop;
}

async function me(client: HttpClient, appUrl: string): Promise<{ id: number; email: string; provider: string }> {
  const hop = await client.get(`${appUrl}/api/me`, { accept: 'application/json' });
  assert.equal(hop.status, 200, hop.body);
  return JSON.parse(hop.body);
}

describe('linking by email is safe against takeover (two development providers)', () => {
  let dir: string;
  let app: TestApp;
  let okta: DevIdp;
  let other: DevIdp;
  let oktaPort: number;
  const oktaUsers = (aliceSub?: string) => {
    const file = join(dir, `okta-users-${aliceSub ?? 'first'}.json`);
    writeFileSync(file, JSON.stringify([{ ...alice, ...(aliceSub ? { sub: aliceSub } : {}) }, kate]));
    return file;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oidc-connect-linking-'));
    oktaPort = await freePort();
    const otherPort = await freePort();
    const config = join(dir, 'oidc-connect.config.json');
    writeFileSync(config, JSON.stringify({
      providers: [
        { id: 'okta', name: 'Okta', issuer: `http://localhost:${oktaPort}/oauth2/default`, clientId: DEV_CLIENT_ID, clientSecret: DEV_CLIENT_SECRET },
        { id: 'other', name: 'Other', issuer: `http://localhost:${otherPort}/oauth2/default`, clientId: DEV_CLIENT_ID, clientSecret: DEV_CLIENT_SECRET },
      ],
    }));
    const otherUsers = join(dir, 'other-users.json');
    writeFileSync(otherUsers, JSON.stringify([preAccount, kelvin]));
    app = await startTestApp({ OIDC_CONNECT_CONFIG: config });
    okta = await startDevIdp({ port: oktaPort, appUrl: app.url, dataDir: join(dir, 'okta'), usersFile: oktaUsers() });
    other = await startDevIdp({ port: otherPort, appUrl: app.url, dataDir: join(dir, 'other'), usersFile: otherUsers });
  });
  after(async () => {
    await app.close();
    await okta.close();
    await other.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('pre-account hijack: an account made from an unverified email does not receive the verified owner', async () => {
    const mallory = new HttpClient();
    assert.equal((await loginVia(mallory, app.url, 'other', preAccount)).status, 302);
    const planted = await me(mallory, app.url);
    assert.equal(planted.email, 'alice@example.com');

    const victim = new HttpClient();
    assert.equal((await loginVia(victim, app.url, 'okta', alice)).status, 302);
    const own = await me(victim, app.url);
    assert.equal(own.provider, 'okta');
    assert.notEqual(own.id, planted.id, 'alice got an account of her own, not the one the attacker planted');
  });

  test('a verified \\u212Aate@example.com does not take over kate@example.com', async () => {
    const victim = new HttpClient();
    assert.equal((await loginVia(victim, app.url, 'okta', kate)).status, 302);
    const owner = await me(victim, app.url);

    const mallory = new HttpClient();
    assert.equal((await loginVia(mallory, app.url, 'other', kelvin)).status, 302);
    const other = await me(mallory, app.url);
    assert.equal(other.email, '\u212Aate@example.com');
    assert.notEqual(other.id, owner.id, 'the Kelvin sign is not the letter k');
  });

  test('a second sub from the same issuer is refused (IDENTITY_CONFLICT), never linked by email', async () => {
    const first = new HttpClient();
    assert.equal((await loginVia(first, app.url, 'okta', alice)).status, 302);
    const account = await me(first, app.url);

    // The provider now says another subject owns alice's verified address (an account recreated there).
    await okta.close();
    okta = await startDevIdp({ port: oktaPort, appUrl: app.url, dataDir: join(dir, 'okta'), usersFile: oktaUsers('alice-recreated') });
    const second = new HttpClient();
    const refused = await loginVia(second, app.url, 'okta', alice);
    assert.equal(refused.status, 409, refused.body);
    assert.match(refused.body, /IDENTITY_CONFLICT/);
    assert.equal(second.cookie(app.url, 'oc_session'), undefined, 'no session');
    const identities = await app.database.db.selectFrom('identities').select('subject').where('user_id', '=', account.id).execute();
    assert.deepEqual(identities.map((i) => i.subject).filter((s) => s === 'alice-recreated'), [], 'nothing linked');
  });
});
