import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createUser } from '../src/accounts/users.ts';
import { migrate, openDatabase } from '../src/db/index.ts';
import { sessionIdFor } from '../src/sessions/index.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { HttpClient, hiddenField, type Hop } from './support/http-client.ts';
import { databaseTargets, type TestDatabase } from './support/postgres.ts';

let t: TestApp;

async function login(client: HttpClient, username: string, password: string, next?: string): Promise<Hop> {
  const page = await client.get(`${t.url}/accounts/login/${next === undefined ? '' : `?next=${encodeURIComponent(next)}`}`);
  return client.post(`${t.url}/accounts/login/`, {
    _csrf: hiddenField(page.body, '_csrf'),
    next: hiddenField(page.body, 'next'),
    username,
    password,
  });
}

const sessionCookie = (client: HttpClient) => client.cookie(t.url, 'oc_session');

// The same suite on SQLite and on PostgreSQL (TEST_DATABASE_URL; see test/support/postgres.ts).
for (const target of databaseTargets) {
  describe(`accounts on ${target.name}`, { skip: target.skip }, () => {
    let database: TestDatabase;
    before(async () => {
      database = await target.create();
      // Every test user signs in from 127.0.0.1: the per-address limit is test/password-guessing.test.ts's subject.
      t = await startTestApp({ DATABASE_URL: database.url, LOGIN_RATE_LIMIT_PER_MINUTE: '10000' });
      await createUser(t.database.db, { username: 'admin', email: 'admin@example.com', password: 'correct horse', isStaff: true, isSuperuser: true });
      await createUser(t.database.db, { username: 'carol', email: 'carol@example.com', password: 'carol password' });
    });
    after(async () => {
      await t.close();
      await database.drop();
    });

    describe('pages', () => {
      test('home page when logged out', async () => {
        const home = await new HttpClient().get(`${t.url}/`);
        assert.equal(home.status, 200);
        assert.match(home.body, /You are not logged in/);
        assert.match(home.body, /<a[^>]+href="\/accounts\/login\/"[^>]*>Log In<\/a>/);
      });

      test('login page has a CSRF-protected form and the provider button', async () => {
        const page = await new HttpClient().get(`${t.url}/accounts/login/?next=/api/me`);
        assert.equal(page.status, 200);
        assert.ok(hiddenField(page.body, '_csrf').length > 20);
        assert.equal(hiddenField(page.body, 'next'), '/api/me');
        assert.match(page.body, /Log In with Okta/);
      });

      test('the stylesheet is served from our own origin', async () => {
        const css = await new HttpClient().get(`${t.url}/oidc-connect/static/app.css`);
        assert.equal(css.status, 200);
        assert.match(css.headers.get('content-type') ?? '', /text\/css/);
      });

      test('unknown pages get a readable 404 page', async () => {
        const page = await new HttpClient().get(`${t.url}/no/such/page`);
        assert.equal(page.status, 404);
        assert.match(page.body, /Page not found/);
      });

      test('healthz answers when the database does', async () => {
        const health = await new HttpClient().get(`${t.url}/healthz`);
        assert.equal(health.status, 200);
        assert.deepEqual(JSON.parse(health.body), { status: 'ok' });
      });
    });

    describe('local login', () => {
      test('the right password logs in, sets a safe cookie and greets the user', async () => {
        const client = new HttpClient();
        const result = await login(client, 'admin', 'correct horse');
        assert.equal(result.status, 302);
        assert.equal(result.location, `${t.url}/`);
        const setCookie = result.headers.getSetCookie().find((c) => c.startsWith('oc_session='));
        assert.ok(setCookie);
        assert.match(setCookie, /HttpOnly/i);
        assert.match(setCookie, /SameSite=Lax/i);
        assert.match(setCookie, /Path=\//);
        assert.doesNotMatch(setCookie, /Secure/i, 'http APP_URL: no Secure flag');
        const home = await client.get(`${t.url}/`);
        assert.match(home.body, /Hi admin - admin@example.com!/);
        assert.match(home.body, /Log Out/);
        // Only a hash of the cookie's secret is stored.
        const secret = sessionCookie(client)!;
        assert.equal(secret.length, 43);
        const rows = await t.database.db.selectFrom('sessions').select('id').execute();
        assert.ok(rows.some((r) => r.id === sessionIdFor(secret)));
        assert.ok(!rows.some((r) => r.id === secret));
      });

      test('a wrong password and an unknown user get the same generic error and no session', async () => {
        const a = new HttpClient();
        const wrong = await login(a, 'carol', 'not her password');
        const b = new HttpClient();
        const unknown = await login(b, 'nobody', 'whatever pw');
        assert.equal(wrong.status, 401);
        assert.equal(unknown.status, 401);
        const message = /Please enter a correct username and password/;
        assert.match(wrong.body, message);
        assert.match(unknown.body, message);
        assert.equal(sessionCookie(a), undefined);
        assert.equal(sessionCookie(b), undefined);
      });

      test('a missing or forged CSRF token is refused with 403', async () => {
        const client = new HttpClient();
        await client.get(`${t.url}/accounts/login/`);
        const missing = await client.post(`${t.url}/accounts/login/`, { username: 'admin', password: 'correct horse' });
        assert.equal(missing.status, 403);
        assert.match(missing.body, /Error code: CSRF_INVALID/);
        const forged = await client.post(`${t.url}/accounts/login/`, { _csrf: 'forged-token', username: 'admin', password: 'correct horse' });
        assert.equal(forged.status, 403);
        // A token from another browser does not fit this browser's CSRF cookie.
        const other = new HttpClient();
        const page = await other.get(`${t.url}/accounts/login/`);
        const stolen = await client.post(`${t.url}/accounts/login/`, { _csrf: hiddenField(page.body, '_csrf'), username: 'admin', password: 'correct horse' });
        assert.equal(stolen.status, 403);
        assert.equal(sessionCookie(client), undefined);
      });

      test('a safe next is honoured; open redirects go to /', async () => {
        const ok = await login(new HttpClient(), 'carol', 'carol password', '/api/me?x=1');
        assert.equal(ok.location, `${t.url}/api/me?x=1`);
        for (const evil of ['https://evil.example', '//evil.example', '/\\evil.example', 'https:evil.example', '/\t/evil.example']) {
          const result = await login(new HttpClient(), 'carol', 'carol password', evil);
          assert.equal(result.status, 302);
          assert.equal(result.location, `${t.url}/`, `next=${JSON.stringify(evil)}`);
        }
        // Posted straight, bypassing the form's own sanitising.
        const client = new HttpClient();
        const page = await client.get(`${t.url}/accounts/login/`);
        const direct = await client.post(`${t.url}/accounts/login/`, { _csrf: hiddenField(page.body, '_csrf'), next: '//evil.example/x', username: 'carol', password: 'carol password' });
        assert.equal(direct.location, `${t.url}/`);
      });

      test('a posted next whose dot segments collapse to //host is not followed', async () => {
        const client = new HttpClient();
        const page = await client.get(`${t.url}/accounts/login/`);
        const direct = await client.post(`${t.url}/accounts/login/`, { _csrf: hiddenField(page.body, '_csrf'), next: '/.//evil.example', username: 'carol', password: 'carol password' });
        assert.equal(direct.status, 302);
        assert.equal(direct.headers.get('location'), '/', 'the raw Location header, before any resolving');
      });

      test('the session id changes at login (no fixation)', async () => {
        const client = new HttpClient();
        await login(client, 'carol', 'carol password');
        const first = sessionCookie(client)!;
        await login(client, 'admin', 'correct horse');
        const second = sessionCookie(client)!;
        assert.notEqual(first, second);
        // The earlier session is gone on the server, not only replaced in the browser.
        const replay = new HttpClient();
        replay.setCookie(t.url, 'oc_session', first);
        assert.match((await replay.get(`${t.url}/`)).body, /You are not logged in/);
        // A planted (made-up) cookie never becomes a session.
        const planted = new HttpClient();
        planted.setCookie(t.url, 'oc_session', 'A'.repeat(43));
        await login(planted, 'carol', 'carol password');
        assert.notEqual(sessionCookie(planted), 'A'.repeat(43));
      });

      test('logout is CSRF-protected and ends the session on the server', async () => {
        const client = new HttpClient();
        await login(client, 'carol', 'carol password');
        const cookie = sessionCookie(client)!;
        const noToken = await client.post(`${t.url}/accounts/logout/`, {});
        assert.equal(noToken.status, 403);
        assert.match((await client.get(`${t.url}/`)).body, /Hi carol/);

        const home = await client.get(`${t.url}/`);
        const out = await client.post(`${t.url}/accounts/logout/`, { _csrf: hiddenField(home.body, '_csrf') });
        assert.equal(out.status, 302);
        assert.equal(out.location, `${t.url}/?logged_out=1`);
        const landed = (await client.get(out.location!)).body;
        assert.match(landed, /You are not logged in/);
        assert.match(landed, /You have been logged out\./);
        const replay = new HttpClient();
        replay.setCookie(t.url, 'oc_session', cookie);
        assert.match((await replay.get(`${t.url}/`)).body, /You are not logged in/);
        assert.equal(await t.database.db.selectFrom('sessions').select('id').where('id', '=', sessionIdFor(cookie)).executeTakeFirst(), undefined);
      });

      test('an expired or idle session is logged out', async () => {
        const client = new HttpClient();
        await login(client, 'carol', 'carol password');
        const id = sessionIdFor(sessionCookie(client)!);
        await t.database.db.updateTable('sessions').set({ expires: Date.now() - 1 }).where('id', '=', id).execute();
        assert.match((await client.get(`${t.url}/`)).body, /You are not logged in/);
        assert.equal((await client.get(`${t.url}/api/me`)).status, 401);

        const idle = new HttpClient();
        await login(idle, 'carol', 'carol password');
        const idleId = sessionIdFor(sessionCookie(idle)!);
        const longAgo = Date.now() - (t.config.session.idleTimeoutSeconds + 5) * 1000;
        await t.database.db.updateTable('sessions').set({ last_seen: longAgo }).where('id', '=', idleId).execute();
        assert.match((await idle.get(`${t.url}/`)).body, /You are not logged in/);
      });

      test('/api/me answers for the session user, 401 otherwise', async () => {
        const anonymous = await new HttpClient().get(`${t.url}/api/me`);
        assert.equal(anonymous.status, 401);
        assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer');
        assert.equal(JSON.parse(anonymous.body).error, 'LOGIN_REQUIRED');
        const client = new HttpClient();
        await login(client, 'admin', 'correct horse');
        const me = await client.get(`${t.url}/api/me`);
        assert.equal(me.status, 200);
        const body = JSON.parse(me.body);
        assert.equal(body.username, 'admin');
        assert.equal(body.email, 'admin@example.com');
        assert.equal(body.is_superuser, true);
        assert.equal(body.auth, 'session');
      });
    });

    describe('brute-force protection', () => {
      test('10 failures lock the username with 429; it holds even for the right password', async () => {
        await createUser(t.database.db, { username: 'dave', email: 'dave@example.com', password: 'dave password' });
        const client = new HttpClient();
        for (let i = 0; i < 10; i++) assert.equal((await login(client, 'dave', `wrong ${i}`)).status, 401);
        const locked = await login(client, 'dave', 'dave password');
        assert.equal(locked.status, 429);
        // Usernames are case-sensitive: Dave is another (here unknown) username, with a count of its own.
        assert.equal((await login(client, 'Dave', 'dave password')).status, 401);
        assert.equal(locked.headers.get('retry-after'), String(t.config.lockout.windowSeconds));
        assert.match(locked.body, /Too many failed sign-in attempts for this account\. Wait 15 minutes/);
        assert.equal(sessionCookie(client), undefined);
        // The window passes: the username works again.
        await t.database.db.updateTable('login_failures').set({ window_start: Date.now() - 16 * 60_000 }).where('username', '=', 'dave').execute();
        assert.equal((await login(client, 'dave', 'dave password')).status, 302);
      });

      test('a successful login resets the counter', async () => {
        await createUser(t.database.db, { username: 'erin', email: 'erin@example.com', password: 'erin password' });
        const client = new HttpClient();
        for (let i = 0; i < 9; i++) await login(client, 'erin', 'wrong');
        assert.equal((await login(client, 'erin', 'erin password')).status, 302);
        for (let i = 0; i < 9; i++) assert.equal((await login(new HttpClient(), 'erin', 'wrong')).status, 401);
        assert.equal((await login(new HttpClient(), 'erin', 'erin password')).status, 302);
      });
    });

    describe('password change', () => {
      test('checks the old password, rotates this session and ends the others', async () => {
        await createUser(t.database.db, { username: 'frank', email: 'frank@example.com', password: 'frank password' });
        const laptop = new HttpClient();
        const phone = new HttpClient();
        await login(laptop, 'frank', 'frank password');
        await login(phone, 'frank', 'frank password');
        const before = sessionCookie(laptop);

        const form = await laptop.get(`${t.url}/accounts/password_change/`);
        assert.equal(form.status, 200);
        const csrf = hiddenField(form.body, '_csrf');
        const noCsrf = await laptop.post(`${t.url}/accounts/password_change/`, { old_password: 'frank password', new_password1: 'new password 1', new_password2: 'new password 1' });
        assert.equal(noCsrf.status, 403);
        const wrongOld = await laptop.post(`${t.url}/accounts/password_change/`, { _csrf: csrf, old_password: 'nope', new_password1: 'new password 1', new_password2: 'new password 1' });
        assert.equal(wrongOld.status, 400);
        assert.match(wrongOld.body, /old password was entered incorrectly/);
        const mismatch = await laptop.post(`${t.url}/accounts/password_change/`, { _csrf: csrf, old_password: 'frank password', new_password1: 'new password 1', new_password2: 'new password 2' });
        assert.equal(mismatch.status, 400);
        const short = await laptop.post(`${t.url}/accounts/password_change/`, { _csrf: csrf, old_password: 'frank password', new_password1: 'short', new_password2: 'short' });
        assert.equal(short.status, 400);
        assert.match(short.body, /This password is too short\. It must contain at least 8 characters\./);
        // Django's validators (issue 17, finding 7), with Django's messages.
        for (const [weak, message] of [['password', /This password is too common\./], ['Frank2024', /The password is too similar to the username\./]] as const) {
          const refused = await laptop.post(`${t.url}/accounts/password_change/`, { _csrf: csrf, old_password: 'frank password', new_password1: weak, new_password2: weak });
          assert.equal(refused.status, 400, weak);
          assert.match(refused.body, message);
        }

        const done = await laptop.post(`${t.url}/accounts/password_change/`, { _csrf: csrf, old_password: 'frank password', new_password1: 'new password 1', new_password2: 'new password 1' });
        assert.equal(done.status, 302);
        assert.equal(done.location, `${t.url}/accounts/password_change/done/`);
        assert.notEqual(sessionCookie(laptop), before);
        assert.match((await laptop.get(`${t.url}/`)).body, /Hi frank/);
        assert.match((await phone.get(`${t.url}/`)).body, /You are not logged in/);
        assert.equal((await login(new HttpClient(), 'frank', 'frank password')).status, 401);
        assert.equal((await login(new HttpClient(), 'frank', 'new password 1')).status, 302);
      });

      test('logged-out visitors are sent to the login page with next', async () => {
        const result = await new HttpClient().get(`${t.url}/accounts/password_change/`);
        assert.equal(result.status, 302);
        assert.equal(result.location, `${t.url}/accounts/login/?next=%2Faccounts%2Fpassword_change%2F`);
      });
    });
  });
}

describe('housekeeping', () => {
  test('expired sessions whose cookie never comes back are swept by the app\'s housekeeping schedule', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-housekeeping-'));
    const file = join(dir, 'app.sqlite');
    const database = openDatabase({ kind: 'sqlite', file, display: file });
    await migrate(database);
    const user = await createUser(database.db, { username: 'gina', email: 'gina@example.com', password: 'gina password' });
    const long = Date.now() - 30 * 24 * 3600 * 1000;
    const soon = Date.now() + 3600 * 1000;
    await database.db.insertInto('sessions').values([
      { id: 'abandoned', user_id: user.id, created: long, expires: long + 1000, last_seen: long, provider: null, provider_sid: null, user_agent: '', ip: '' },
      { id: 'live', user_id: user.id, created: Date.now(), expires: soon, last_seen: Date.now(), provider: null, provider_sid: null, user_agent: '', ip: '' },
    ]).execute();
    await database.close();
    const app = await startTestApp({ DATABASE_URL: `sqlite:${file}` });
    try {
      const ids = async () => (await app.database.db.selectFrom('sessions').select('id').orderBy('id').execute()).map((r) => r.id);
      const deadline = Date.now() + 5000;
      while ((await ids()).includes('abandoned') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(await ids(), ['live'], 'the sweep at start removed the expired session, and only it');
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
