/**
 * Our forms' anti-forgery tokens (src/web/protection/csrf.ts): a signed-in page carries its session's
 * own token, the same at every render, another for every session and every sign-in; a form that
 * sends back anything else is refused. Pages without a session keep the double-submit cookie.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createUser } from '../src/accounts/users.ts';
import { createSession, sessionIdFor } from '../src/sessions/index.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { HttpClient, hiddenField, type Hop } from './support/http-client.ts';

let t: TestApp;

async function login(client: HttpClient, username = 'carol', password = 'carol password'): Promise<Hop> {
  const page = await client.get(`${t.url}/accounts/login/`);
  return client.post(`${t.url}/accounts/login/`, { _csrf: hiddenField(page.body, '_csrf'), next: '/', username, password });
}

const homeToken = async (client: HttpClient) => hiddenField((await client.get(`${t.url}/`)).body, '_csrf');

async function storedToken(client: HttpClient): Promise<string | null> {
  const row = await t.database.db.selectFrom('sessions').select('csrf')
    .where('id', '=', sessionIdFor(client.cookie(t.url, 'oc_session')!)).executeTakeFirstOrThrow();
  return row.csrf;
}

const signedIn = async (client: HttpClient) => /Hi carol/.test((await client.get(`${t.url}/`)).body);

describe('form tokens', () => {
  before(async () => {
    t = await startTestApp({ LOGIN_RATE_LIMIT_PER_MINUTE: '10000' });
    await createUser(t.database.db, { username: 'carol', email: 'carol@example.com', password: 'carol password' });
    await createUser(t.database.db, { username: 'sam', email: 'sam@example.com', isStaff: true });
    await createUser(t.database.db, { username: 'dave', email: 'dave@example.com' });
  });
  after(() => t?.close());

  test('a signed-in page carries its session\'s token, the same at every render, with no cookie to check it against', async () => {
    const browser = new HttpClient();
    assert.equal((await login(browser)).status, 302);
    const first = await homeToken(browser);
    assert.equal(first, await storedToken(browser));
    assert.equal(await homeToken(browser), first, 'the same token at the next render');
    // Only the session cookie: the token needs no double-submit cookie beside it.
    const bare = new HttpClient();
    bare.setCookie(t.url, 'oc_session', browser.cookie(t.url, 'oc_session')!);
    const page = await bare.get(`${t.url}/`);
    assert.deepEqual(page.headers.getSetCookie(), [], 'rendering it sets no cookie');
    assert.equal((await bare.post(`${t.url}/accounts/logout/`, { _csrf: first })).status, 302);
    assert.equal(await signedIn(bare), false);
  });

  test('another session has another token, and a sign-in makes a new one', async () => {
    const a = new HttpClient();
    const b = new HttpClient();
    await login(a);
    await login(b);
    const tokenA = await homeToken(a);
    assert.notEqual(tokenA, await homeToken(b));
    await login(a); // a new sign-in in the same browser: a new session
    const again = await homeToken(a);
    assert.notEqual(again, tokenA);
    assert.equal(again, await storedToken(a));
  });

  test('a wrong token, or another session\'s, is refused and logs nobody out', async () => {
    const a = new HttpClient();
    const b = new HttpClient();
    await login(a);
    await login(b);
    for (const token of [await homeToken(b), 'forged', '', `${await homeToken(a)}x`]) {
      const refused = await a.post(`${t.url}/accounts/logout/`, { _csrf: token });
      assert.equal(refused.status, 403, token);
      assert.match(refused.body, /CSRF_INVALID/);
    }
    assert.equal(await signedIn(a), true);
    assert.equal((await a.post(`${t.url}/accounts/logout/`, { _csrf: await homeToken(a) })).status, 302);
    assert.equal(await signedIn(a), false);
  });

  test('a login form opened before signing in elsewhere comes back unchecked, with the session\'s token, and then switches accounts', async () => {
    const client = new HttpClient();
    const form = hiddenField((await client.get(`${t.url}/accounts/login/`)).body, '_csrf');
    await login(client); // in another tab
    const session = client.cookie(t.url, 'oc_session');
    const audited = async () => (await t.database.db.selectFrom('audit_log').select('id').execute()).length;
    const rows = await audited();
    const stale = await client.post(`${t.url}/accounts/login/`, { _csrf: form, next: '/accounts/password_change/', username: 'carol', password: 'a wrong password' });
    assert.equal(stale.status, 403);
    assert.match(stale.body, /This form was opened before you signed in, so it was not sent/);
    assert.match(stale.body, /You are signed in as <strong>carol<\/strong>\. <a href="\/accounts\/password_change\/">Continue as carol<\/a>/);
    assert.match(stale.body, /name="username" value="carol"/);
    assert.equal(hiddenField(stale.body, '_csrf'), await storedToken(client), 'the form now carries the session\'s token');
    assert.equal(await audited(), rows, 'the password was not checked: no failed sign-in recorded');
    assert.equal(client.cookie(t.url, 'oc_session'), session, 'the session is the same');
    const again = await client.post(`${t.url}/accounts/login/`, { _csrf: hiddenField(stale.body, '_csrf'), next: '/', username: 'carol', password: 'carol password' });
    assert.equal(again.status, 302);
    assert.notEqual(client.cookie(t.url, 'oc_session'), session, 'a new session');
  });

  test('a double-submit pair planted in a signed-in staff browser forges no admin action (issue 17, finding 4)', async () => {
    // The attacker, as an anonymous browser, is given a secret and its token by the login page.
    const attacker = new HttpClient();
    const token = hiddenField((await attacker.get(`${t.url}/accounts/login/`)).body, '_csrf');
    const secret = attacker.cookie(t.url, 'oc_csrf');
    assert.ok(secret, 'the login page set the double-submit cookie');
    // Without the __Host- prefix (an http APP_URL), a sibling subdomain can set that cookie in the
    // browser of a signed-in staff user, then post the token from a form of its own.
    const sam = await t.database.db.selectFrom('users').select('id').where('username', '=', 'sam').executeTakeFirstOrThrow();
    const staff = new HttpClient();
    staff.setCookie(t.url, 'oc_session', await createSession(t.database.db, t.config.session, { userId: sam.id }));
    staff.setCookie(t.url, 'oc_csrf', secret);
    const dave = await t.database.db.selectFrom('users').select('id').where('username', '=', 'dave').executeTakeFirstOrThrow();
    const forged = await staff.post(`${t.url}/admin/users/${dave.id}/active`, { _csrf: token, active: '0' });
    assert.equal(forged.status, 403);
    assert.match(forged.body, /CSRF_INVALID/);
    const after = await t.database.db.selectFrom('users').select('is_active').where('id', '=', dave.id).executeTakeFirstOrThrow();
    assert.equal(Number(after.is_active), 1, 'dave is still active');
    // The staff page's own token still does it.
    const page = await staff.get(`${t.url}/admin/users/${dave.id}/`);
    const done = await staff.post(`${t.url}/admin/users/${dave.id}/active`, { _csrf: hiddenField(page.body, '_csrf'), active: '0' });
    assert.equal(done.status, 303);
  });

  test('a session from before the tokens (none stored) uses the double-submit cookie', async () => {
    const carol = await t.database.db.selectFrom('users').select('id').where('username', '=', 'carol').executeTakeFirstOrThrow();
    const secret = await createSession(t.database.db, t.config.session, { userId: carol.id });
    await t.database.db.updateTable('sessions').set({ csrf: null }).where('id', '=', sessionIdFor(secret)).execute();
    const client = new HttpClient();
    client.setCookie(t.url, 'oc_session', secret);
    const token = await homeToken(client);
    assert.ok(client.cookie(t.url, 'oc_csrf'), 'the page set the double-submit cookie');
    assert.equal((await client.post(`${t.url}/accounts/logout/`, { _csrf: token })).status, 302);
    assert.equal(await signedIn(client), false);
  });
});
