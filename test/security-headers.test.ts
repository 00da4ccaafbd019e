import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createUser } from '../src/accounts/users.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { HttpClient, hiddenField, type Hop } from './support/http-client.ts';

/** Every app page: a Content-Security-Policy that allows no inline script and no framing, and nosniff. */
function assertSecurityHeaders(hop: Hop, what: string): void {
  const csp = hop.headers.get('content-security-policy') ?? '';
  assert.match(csp, /frame-ancestors 'none'/, `${what}: frame-ancestors`);
  const directive = (name: string) => csp.split(';').map((d) => d.trim()).find((d) => d.startsWith(`${name} `)) ?? '';
  assert.equal(directive('script-src'), "script-src 'self'", `${what}: scripts only from this origin`);
  assert.ok(!csp.includes('unsafe-inline'), `${what}: nothing inline (${csp})`);
  assert.equal(hop.headers.get('x-content-type-options'), 'nosniff', `${what}: nosniff`);
  assert.equal(hop.headers.get('x-frame-options'), 'DENY', `${what}: old browsers refuse framing too`);
  // The pages must not need what the policy forbids: inline scripts, style attributes, event handlers.
  assert.doesNotMatch(hop.body, /<script(?![^>]*\ssrc=)[^>]*>/i, `${what}: inline <script>`);
  assert.doesNotMatch(hop.body, /<style[\s>]|\sstyle=|\son[a-z]+=/i, `${what}: inline style or event handler`);
}

describe('security headers on every app page', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
    await createUser(t.database.db, { username: 'root', email: 'root@example.com', password: 'root password', isStaff: true, isSuperuser: true });
  });
  after(() => t.close());

  test('home, login, error pages and the admin pages', async () => {
    const client = new HttpClient();
    assertSecurityHeaders(await client.get(`${t.url}/`), 'home');
    const login = await client.get(`${t.url}/accounts/login/`);
    assertSecurityHeaders(login, 'login page');
    const missing = await client.get(`${t.url}/no/such/page`);
    assert.equal(missing.status, 404);
    assertSecurityHeaders(missing, '404 page');
    const badState = await client.get(`${t.url}/authorization-code/callback?code=x&state=unknown`);
    assert.equal(badState.status, 400);
    assertSecurityHeaders(badState, 'sign-in error page');

    const signedIn = await client.post(`${t.url}/accounts/login/`, { _csrf: hiddenField(login.body, '_csrf'), username: 'root', password: 'root password' });
    assert.equal(signedIn.status, 302);
    for (const path of ['/admin/', '/admin/users/', '/admin/sessions/', '/admin/audit/']) {
      const page = await client.get(`${t.url}${path}`);
      assert.equal(page.status, 200, path);
      assertSecurityHeaders(page, path);
    }
    const me = await client.get(`${t.url}/api/me`, { accept: 'application/json' });
    assert.equal(me.headers.get('x-content-type-options'), 'nosniff', 'JSON answers too');
  });
});
