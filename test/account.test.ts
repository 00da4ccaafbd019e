/**
 * Your own account page (issue 19, sections 3 and 4), on SQLite and PostgreSQL: your email and whether
 * it is verified, your identities and sessions, signing sessions out, and a new email that counts only
 * once its link is followed. Mail goes to the development mailbox (no EMAIL_URL, as after `npm start`),
 * read through its page, /dev/mailbox/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createUser, findUserByUsername } from '../src/accounts/users.ts';
import type { Db } from '../src/db/index.ts';
import { outboxDepth } from '../src/mail/outbox.ts';
import { linkIdentity } from '../src/provisioning/identities.ts';
import { createSession, sessionIdFor } from '../src/sessions/index.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { HttpClient, hiddenField, type Hop } from './support/http-client.ts';
import { databaseTargets, type TestDatabase } from './support/postgres.ts';

async function outboxSettled(db: Db): Promise<void> {
  while ((await outboxDepth(db)) > 0) await new Promise((resolve) => setTimeout(resolve, 20));
}

for (const target of databaseTargets) {
  describe(`your account on ${target.name}`, { skip: target.skip }, () => {
    let database: TestDatabase;
    let t: TestApp;

    before(async () => {
      database = await target.create();
      t = await startTestApp({ DATABASE_URL: database.url, LOGIN_RATE_LIMIT_PER_MINUTE: '10000' });
      const carol = await createUser(t.database.db, { username: 'carol', email: 'carol@example.com', password: 'carol password' });
      await linkIdentity(t.database.db, 'http://localhost:1/oauth2/default', '00u-carol-at-okta', carol.id);
      await createUser(t.database.db, { username: 'admin', email: 'admin@example.com', password: 'admin password', isStaff: true, isSuperuser: true });
      await createUser(t.database.db, { username: 'erin', email: 'erin@example.com' });
    });
    after(async () => {
      await t?.close();
      await database.drop();
    });

    async function signIn(username: string, password: string, userAgent = 'Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36'): Promise<HttpClient> {
      const client = new HttpClient();
      const page = await client.get(`${t.url}/accounts/login/`, { 'user-agent': userAgent });
      const login = await client.post(`${t.url}/accounts/login/`, { _csrf: hiddenField(page.body, '_csrf'), next: '/', username, password }, { 'user-agent': userAgent });
      assert.equal(login.status, 302, login.body);
      return client;
    }
    const page = (client: HttpClient) => client.get(`${t.url}/accounts/`);
    /** The mailbox's newest mail to `to`, and its link. */
    async function lastMailTo(to: string): Promise<{ subject: string; link: string } | undefined> {
      await outboxSettled(t.database.db);
      const mailbox = await new HttpClient().get(`${t.url}/dev/mailbox/`);
      const row = [...mailbox.body.matchAll(/<tr>\s*<td class="nowrap">[^<]*<\/td>\s*<td>([^<]*)<\/td>\s*<td><a href="[^"]+">([^<]*)<\/a><\/td>\s*<td class="break"><a href="([^"]+)"/g)]
        .find((m) => m[1] === to);
      return row && { subject: row[2]!, link: row[3]!.replace(/&amp;/g, '&') };
    }

    test('signed out, /accounts/ sends you to the login page and back', async () => {
      const answer = await new HttpClient().get(`${t.url}/accounts/`);
      assert.equal(answer.status, 302);
      assert.equal(answer.location, `${t.url}/accounts/login/?next=%2Faccounts%2F`);
    });

    test('shows your username, email and whether it is verified, your identities, and your sessions with this one marked', async () => {
      const phone = await signIn('carol', 'carol password', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Mobile/15E148 Safari/604.1');
      const laptop = await signIn('carol', 'carol password');
      const { body, status } = await page(laptop);
      assert.equal(status, 200);
      assert.match(body, /<dt>Username<\/dt><dd>carol<\/dd>/);
      assert.match(body, /carol@example\.com\s*<span class="badge good">Verified<\/span>/);
      assert.match(body, /00u-carol-at-okta/);
      assert.match(body, /href="\/accounts\/password_change\/"/);
      assert.match(body, /href="\/accounts\/2fa\/">Two-factor authentication</, 'the page links to the second factors, as issue 19 asks once they exist');
      assert.match(body, /Chrome 131 on Linux <span class="badge plain">this session<\/span>/);
      assert.match(body, /Safari 17 on iOS/);
      assert.match(body, /Sign out all other sessions/);
      await phone.get(`${t.url}/`);
    });

    test('"sign out" ends another session on the server; "sign out all other sessions" ends the rest; this one stays; both are audited', async () => {
      const [a, b, c] = [await signIn('carol', 'carol password'), await signIn('carol', 'carol password'), await signIn('carol', 'carol password')];
      const view = await page(a);
      const csrf = hiddenField(view.body, '_csrf');
      const bSession = sessionIdFor(b.cookie(t.url, 'oc_session')!);
      const ended = await a.post(`${t.url}/accounts/sessions/end/`, { _csrf: csrf, session: bSession });
      assert.equal(`${ended.status} ${ended.location}`, `303 ${t.url}/accounts/?done=session_ended`);
      assert.equal((await b.get(`${t.url}/api/me`, { accept: 'application/json' })).status, 401);
      assert.equal((await c.get(`${t.url}/api/me`, { accept: 'application/json' })).status, 200);
      const again = await a.post(`${t.url}/accounts/sessions/end/`, { _csrf: csrf, session: bSession });
      assert.equal(again.status, 400);
      assert.match(again.body, /That session has already ended/);
      const others = await a.post(`${t.url}/accounts/sessions/end-others/`, { _csrf: csrf });
      assert.equal(others.status, 303);
      assert.equal((await c.get(`${t.url}/api/me`, { accept: 'application/json' })).status, 401);
      assert.equal((await a.get(`${t.url}/api/me`, { accept: 'application/json' })).status, 200, 'this session stays');
      assert.match((await a.get(others.location!)).body, /Every other session was signed out/);
      const events = await t.database.db.selectFrom('audit_log').select('detail').where('type', '=', 'session_end').orderBy('id').execute();
      assert.deepEqual(events.slice(-2).map((e) => e.detail.replace(/^\d+ other sessions$/, 'N other sessions')), ['1 other session', 'N other sessions']);
    });

    test('"sign out this session" logs you out here', async () => {
      const client = await signIn('carol', 'carol password');
      const view = await page(client);
      const mine = /<input type="hidden" name="session" value="([^"]+)">\s*<button type="submit" class="small secondary">Sign out this session/.exec(view.body)![1]!;
      const out = await client.post(`${t.url}/accounts/sessions/end/`, { _csrf: hiddenField(view.body, '_csrf'), session: mine });
      assert.equal(out.status, 303);
      assert.equal(out.location, `${t.url}/?logged_out=1`);
      assert.equal(client.cookie(t.url, 'oc_session'), undefined);
      assert.match((await client.get(out.location!)).body, /You have been logged out/);
    });

    test('every POST here needs the session\'s form token', async () => {
      const client = await signIn('carol', 'carol password');
      for (const path of ['/accounts/sessions/end/', '/accounts/sessions/end-others/', '/accounts/email/', '/accounts/email/resend/']) {
        const refused = await client.post(`${t.url}${path}`, { _csrf: 'forged', session: 'x', email: 'mallory@example.com', password: 'carol password' });
        assert.equal(refused.status, 403, path);
        assert.match(refused.body, /CSRF_INVALID/, path);
      }
      assert.equal((await findUserByUsername(t.database.db, 'carol'))!.email, 'carol@example.com');
    });

    test('a new email needs your password, is unverified, is no reset address until its mailed link is followed, and the link works once', async () => {
      const client = await signIn('carol', 'carol password');
      const csrf = hiddenField((await page(client)).body, '_csrf');
      const wrong = await client.post(`${t.url}/accounts/email/`, { _csrf: csrf, email: 'carol@example.org', password: 'not her password' });
      assert.equal(wrong.status, 400);
      assert.match(wrong.body, /Your password was entered incorrectly/);
      assert.equal((await findUserByUsername(t.database.db, 'carol'))!.email, 'carol@example.com');

      const changed = await client.post(`${t.url}/accounts/email/`, { _csrf: csrf, email: 'carol@example.org', password: 'carol password' });
      assert.equal(`${changed.status} ${changed.location}`, `303 ${t.url}/accounts/?done=email_sent`);
      const carol = (await findUserByUsername(t.database.db, 'carol'))!;
      assert.deepEqual([carol.email, carol.email_verified], ['carol@example.org', 0]);
      assert.match((await page(client)).body, /carol@example\.org\s*<span class="badge bad">Not verified<\/span>/);
      const mail = await lastMailTo('carol@example.org');
      assert.equal(mail?.subject, `Confirm your email address on ${new URL(t.url).host}`);

      // Until it is confirmed, a reset for that address sends nothing.
      const resetForm = await new HttpClient().get(`${t.url}/accounts/password_reset/`);
      const asker = new HttpClient();
      const form = await asker.get(`${t.url}/accounts/password_reset/`);
      await asker.post(`${t.url}/accounts/password_reset/`, { _csrf: hiddenField(form.body, '_csrf'), email: 'carol@example.org' });
      assert.equal((await lastMailTo('carol@example.org'))?.subject, mail!.subject, 'no reset mail');
      assert.equal(resetForm.status, 200);

      // The link opens a page whose button confirms: a mail scanner's GET changes nothing.
      const opened = await new HttpClient().get(mail!.link);
      assert.equal(opened.status, 200);
      assert.match(opened.body, /Please confirm that <strong>carol@example\.org<\/strong> is your email address/);
      assert.equal((await findUserByUsername(t.database.db, 'carol'))!.email_verified, 0);
      const browser = new HttpClient();
      const confirmPage = await browser.get(mail!.link);
      const confirmed = await browser.post(mail!.link, { _csrf: hiddenField(confirmPage.body, '_csrf') });
      assert.equal(`${confirmed.status} ${confirmed.location}`, `303 ${t.url}/accounts/?done=email_verified`);
      assert.equal((await findUserByUsername(t.database.db, 'carol'))!.email_verified, 1);
      const used = await new HttpClient().get(mail!.link);
      assert.equal(used.status, 400);
      assert.match(used.body, /This confirmation link was invalid/);
      const events = await t.database.db.selectFrom('audit_log').select(['type', 'error_code']).where('user_id', '=', carol.id)
        .where('type', 'in', ['email_change', 'email_verified']).orderBy('id').execute();
      assert.deepEqual(events.map((e) => `${e.type}/${e.error_code}`), ['email_change/null', 'email_verified/null']);

      // Now it is her reset address.
      const again = new HttpClient();
      const form2 = await again.get(`${t.url}/accounts/password_reset/`);
      await again.post(`${t.url}/accounts/password_reset/`, { _csrf: hiddenField(form2.body, '_csrf'), email: 'carol@example.org' });
      assert.equal((await lastMailTo('carol@example.org'))?.subject, `Password reset on ${new URL(t.url).host}`);
    });

    test('a provider-only account gets no email form, and its POST is refused', async () => {
      const erin = (await findUserByUsername(t.database.db, 'erin'))!;
      const client = new HttpClient();
      // erin has no password: she is signed in as a provider login would, by a session made for her.
      client.setCookie(t.url, 'oc_session', await createSession(t.database.db, t.config.session, { userId: erin.id, provider: 'default' }));
      const view = await page(client);
      assert.match(view.body, /Your email comes from your identity provider/);
      assert.doesNotMatch(view.body, /name="password"/);
      const refused = await client.post(`${t.url}/accounts/email/`, { _csrf: hiddenField(view.body, '_csrf'), email: 'erin@example.org', password: 'x' });
      assert.equal(refused.status, 403);
    });

    test('an address an operator sets in the admin counts as verified, and the admin shows the flag', async () => {
      const admin = await signIn('admin', 'admin password');
      const erin = (await findUserByUsername(t.database.db, 'erin'))!;
      await t.database.db.updateTable('users').set({ email_verified: 0 }).where('id', '=', erin.id).execute();
      const before = await admin.get(`${t.url}/admin/users/${erin.id}/`);
      assert.match(before.body, /erin@example\.com <span class="badge bad">Not verified<\/span>/);
      const set = await admin.post(`${t.url}/admin/users/${erin.id}/email`, { _csrf: hiddenField(before.body, '_csrf'), email: 'erin@example.net' });
      assert.equal(set.status, 303);
      const after = await admin.get(set.location!);
      assert.match(after.body, /erin@example\.net <span class="badge good">Verified<\/span>/);
      assert.match(after.body, /The email address was set, as verified\./);
      const row = (await findUserByUsername(t.database.db, 'erin'))!;
      assert.deepEqual([row.email, row.email_key, row.email_verified], ['erin@example.net', 'erin@example.net', 1]);
      const bad = await admin.post(`${t.url}/admin/users/${erin.id}/email`, { _csrf: hiddenField(before.body, '_csrf'), email: 'not an address' });
      assert.equal(bad.status, 400);
    });

    test('the development mailbox lists each mail with its link; a mail opens with its text, and its HTML version is sandboxed', async () => {
      const asker = new HttpClient();
      const form = await asker.get(`${t.url}/accounts/password_reset/`);
      await asker.post(`${t.url}/accounts/password_reset/`, { _csrf: hiddenField(form.body, '_csrf'), email: 'admin@example.com' });
      const mail = await lastMailTo('admin@example.com');
      assert.ok(mail?.link.startsWith(`${t.url}/accounts/reset/`));
      const list = await new HttpClient().get(`${t.url}/dev/mailbox/`);
      const id = new RegExp(`<td>admin@example\\.com</td>\\s*<td><a href="/dev/mailbox/([\\w-]+)/">`).exec(list.body)![1]!;
      const one: Hop = await new HttpClient().get(`${t.url}/dev/mailbox/${id}/`);
      assert.match(one.body, /Your username, in case you&#39;ve forgotten: admin/);
      const html = await new HttpClient().get(`${t.url}/dev/mailbox/${id}/html`);
      assert.match(html.headers.get('content-security-policy')!, /^sandbox; default-src 'none'/);
      assert.match(html.body, /Choose a new password<\/a>/);
      const raw = await new HttpClient().get(`${t.url}/dev/mailbox/${id}/raw`);
      assert.match(raw.body, /^Message-ID: <[\w-]+@127\.0\.0\.1>$/m);
      assert.match(raw.body, /^Content-Type: multipart\/alternative;/m);
      assert.equal((await new HttpClient().get(`${t.url}/dev/mailbox/0000000000000-xxxxxxxx/`)).status, 404);
    });
  });
}
