import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createUser } from '../src/accounts/users.ts';
import { loadConfig } from '../src/config/index.ts';
import { confirmProviderLogout, providerLogin, startDevStack, type DevStack } from './support/dev-stack.ts';
import { HttpClient, hiddenField } from './support/http-client.ts';

/** Where a redirect points, relative to the app. */
const target = (location: string | null | undefined) => {
  const url = new URL(location ?? '', 'http://unset.invalid');
  return `${url.pathname}${url.search}`;
};

// Django's LOGIN_REDIRECT_URL and LOGOUT_REDIRECT_URL, under the same names.
describe('LOGIN_REDIRECT_URL and LOGOUT_REDIRECT_URL', () => {
  let s: DevStack;
  before(async () => {
    s = await startDevStack({ LOGIN_REDIRECT_URL: '/api/me', LOGOUT_REDIRECT_URL: '/?bye=1' });
    await createUser(s.app.database.db, { username: 'carol', email: 'carol@example.com', password: 'carol password' });
  });
  after(() => s.close());

  test('a local sign-in without next lands on LOGIN_REDIRECT_URL, and a sign-out on LOGOUT_REDIRECT_URL', async () => {
    const client = new HttpClient();
    const page = await client.get(`${s.app.url}/accounts/login/`);
    const login = await client.post(`${s.app.url}/accounts/login/`, {
      _csrf: hiddenField(page.body, '_csrf'), next: hiddenField(page.body, 'next'), username: 'carol', password: 'carol password',
    });
    assert.equal(login.status, 302);
    assert.equal(target(login.location), '/api/me');
    const withNext = new HttpClient();
    const page2 = await withNext.get(`${s.app.url}/accounts/login/?next=/admin/`);
    const login2 = await withNext.post(`${s.app.url}/accounts/login/`, {
      _csrf: hiddenField(page2.body, '_csrf'), next: hiddenField(page2.body, 'next'), username: 'carol', password: 'carol password',
    });
    assert.equal(target(login2.location), '/admin/', 'an explicit next still wins');

    const home = await client.get(`${s.app.url}/`);
    const out = await client.post(`${s.app.url}/accounts/logout/`, { _csrf: hiddenField(home.body, '_csrf') });
    assert.equal(out.status, 302);
    assert.match(target(out.location), /^\/\?bye=1(&|$)/, 'LOGOUT_REDIRECT_URL, whatever notice flag is added');
  });

  test('a provider sign-in without next, and the return from the provider\'s logout, use them too', async () => {
    const client = new HttpClient();
    const done = await providerLogin(client, s.app.url, { email: 'alice@example.com', password: 'wonderland' }, '');
    assert.equal(done.status, 302);
    assert.equal(target(done.location), '/api/me');
    const home = await client.get(`${s.app.url}/`);
    const out = await client.post(`${s.app.url}/accounts/logout/`, { _csrf: hiddenField(home.body, '_csrf') });
    const hops = await confirmProviderLogout(client, await client.get(out.location!));
    const back = hops.find((h) => h.url.startsWith(`${s.app.url}/signout/callback`));
    assert.match(target(back?.location), /^\/\?bye=1(&|$)/);
  });

  test('a value that is neither a path nor an absolute URL is a configuration error', () => {
    assert.throws(() => loadConfig({ env: { LOGIN_REDIRECT_URL: 'dashboard', LOGOUT_REDIRECT_URL: '//evil.example', SESSION_SECRET: 'x'.repeat(40) } }), (error: Error) => {
      assert.match(error.message, /LOGIN_REDIRECT_URL=dashboard: must be a path on this site/);
      assert.match(error.message, /LOGOUT_REDIRECT_URL=\/\/evil\.example: must be a path on this site/);
      return true;
    });
    const ok = loadConfig({ env: { LOGIN_REDIRECT_URL: 'https://www.example.com/welcome', SESSION_SECRET: 'x'.repeat(40) } });
    assert.equal(ok.loginRedirectUrl, 'https://www.example.com/welcome');
    assert.equal(ok.logoutRedirectUrl, '/');
  });
});
