/**
 * /admin/ over HTTP: who may see and do what, every action, CSRF, and the audit log written by
 * local and provider sign-ins (never holding a password).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { reserveAttempt } from '../src/accounts/lockout.ts';
import { createDirectoryUser } from '../src/accounts/directory.ts';
import { ensureGroups, setUserGroups } from '../src/accounts/groups.ts';
import { applyRoleRules } from '../src/accounts/roles.ts';
import { createUser, createUserWithFreeUsername, findUserByUsername } from '../src/accounts/users.ts';
import { recordEvent } from '../src/audit/index.ts';
import type { Db } from '../src/db/index.ts';
import { createSession, sessionIdFor } from '../src/sessions/index.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { confirmProviderLogout, providerLogin, startDevStack, type DevStack } from './support/dev-stack.ts';
import { HttpClient, hiddenField, type Hop } from './support/http-client.ts';
import { openRowTokens } from './support/session-tokens.ts';

// Only the accounts whose tests log in through the form have a password: each scrypt costs ~0.5 s.
const PASSWORDS = {
  staffer: 'staffer-password-2',
  carol: 'carol-password-3',
};

async function login(t: TestApp, client: HttpClient, username: string, password: string): Promise<Hop> {
  const page = await client.get(`${t.url}/accounts/login/`);
  return client.post(`${t.url}/accounts/login/`, {
    _csrf: hiddenField(page.body, '_csrf'),
    next: '/',
    username,
    password,
  });
}

/** Signs a client in without the form (and its scrypt): a session row and its cookie. */
async function sessionFor(t: TestApp, client: HttpClient, username: string): Promise<void> {
  const user = await findUserByUsername(t.database.db, username);
  assert.ok(user, `user ${username} exists`);
  client.setCookie(t.url, 'oc_session', await createSession(t.database.db, t.config.session, { userId: user.id, userAgent: 'TestClient/1.0', ip: '127.0.0.1' }));
}

async function loggedInAs(t: TestApp, client: HttpClient): Promise<string | null> {
  const home = await client.get(`${t.url}/`);
  return /Hi (\S+) - /.exec(home.body)?.[1] ?? null;
}

async function auditRows(db: Db) {
  return db.selectFrom('audit_log').selectAll().orderBy('id').execute();
}

/** Everything in the audit table as one string, to search for secrets. */
async function auditDump(db: Db): Promise<string> {
  return JSON.stringify(await auditRows(db));
}

async function userId(db: Db, username: string): Promise<number> {
  const user = await findUserByUsername(db, username);
  assert.ok(user, `user ${username} exists`);
  return user.id;
}

describe('admin pages', () => {
  let t: TestApp;
  let db: Db;
  const root = new HttpClient();
  const staffer = new HttpClient();

  before(async () => {
    t = await startTestApp();
    db = t.database.db;
    await createUser(db, { username: 'root', email: 'root@example.com', isStaff: true, isSuperuser: true });
    await createUser(db, { username: 'staffer', email: 'staffer@example.com', password: PASSWORDS.staffer, isStaff: true });
    await createUser(db, { username: 'carol', email: 'carol@example.com', password: PASSWORDS.carol, firstName: 'Carol', lastName: 'Danvers' });
    await createUser(db, { username: 'dave', email: 'dave@example.com' });
    await createUser(db, { username: 'erin', email: 'erin@example.org' });
    await createUser(db, { username: 'frank', email: 'carol.friend@example.net' });
    await sessionFor(t, root, 'root');
    await sessionFor(t, staffer, 'staffer');
  });
  after(() => t.close());

  /** A POST from an admin page's form, with that page's CSRF token. */
  async function adminPost(client: HttpClient, user: string, path: string, form: Record<string, string>): Promise<Hop> {
    const id = await userId(db, user);
    const page = await client.get(`${t.url}/admin/users/${id}/`);
    assert.equal(page.status, 200, `the detail page of ${user} opens`);
    return client.post(`${t.url}/admin/users/${id}/${path}`, { _csrf: hiddenField(page.body, '_csrf'), ...form });
  }

  describe('access', () => {
    const PAGES = ['/admin/', '/admin/users/', '/admin/users/1/', '/admin/sessions/', '/admin/audit/'];

    test('a visitor who is not logged in is sent to the login page with next', async () => {
      for (const path of [...PAGES, '/admin/users/?q=car']) {
        const hop = await new HttpClient().get(`${t.url}${path}`);
        assert.equal(hop.status, 302, path);
        const location = new URL(hop.location!);
        assert.equal(location.pathname, '/accounts/login/');
        assert.equal(location.searchParams.get('next'), path);
      }
      // After logging in, next brings the admin back.
      const client = new HttpClient();
      const page = await client.get(`${t.url}/accounts/login/?next=${encodeURIComponent('/admin/users/')}`);
      const hop = await client.post(`${t.url}/accounts/login/`, {
        _csrf: hiddenField(page.body, '_csrf'), next: hiddenField(page.body, 'next'), username: 'staffer', password: PASSWORDS.staffer,
      });
      assert.equal(hop.location, `${t.url}/admin/users/`);
    });

    test('a logged-in user who is not staff gets a 403 page, for pages and actions', async () => {
      const carol = new HttpClient();
      await sessionFor(t, carol, 'carol');
      for (const path of PAGES) {
        const hop = await carol.get(`${t.url}${path}`);
        assert.equal(hop.status, 403, path);
        assert.match(hop.body, /Access denied/);
        assert.match(hop.body, /FORBIDDEN/);
      }
      const home = await carol.get(`${t.url}/`);
      const hop = await carol.post(`${t.url}/admin/users/${await userId(db, 'dave')}/active`, { _csrf: hiddenField(home.body, '_csrf'), active: '0' });
      assert.equal(hop.status, 403);
      assert.equal((await findUserByUsername(db, 'dave'))!.is_active, 1);
      assert.doesNotMatch(home.body, /href="\/admin\/"/, 'no Admin link for non-staff');
    });

    test('staff see every admin page', async () => {
      for (const path of PAGES) {
        const hop = await staffer.get(`${t.url}${path}`);
        assert.equal(hop.status, 200, path);
        assert.match(hop.headers.get('content-type') ?? '', /text\/html/);
        assert.equal(hop.headers.get('cache-control'), 'no-store');
      }
      const home = await staffer.get(`${t.url}/`);
      assert.match(home.body, /href="\/admin\/"/, 'the header links Admin for staff');
    });

    test('an anonymous POST is refused and changes nothing', async () => {
      const hop = await new HttpClient().post(`${t.url}/admin/users/${await userId(db, 'dave')}/active`, { active: '0' });
      assert.ok(hop.status === 401 || hop.status === 403, `status ${hop.status}`);
      assert.equal((await findUserByUsername(db, 'dave'))!.is_active, 1);
    });

    test('a POST without a CSRF token, or with another browser\'s, gets 403 and changes nothing', async () => {
      const dave = await userId(db, 'dave');
      const missing = await root.post(`${t.url}/admin/users/${dave}/active`, { active: '0' });
      assert.equal(missing.status, 403);
      assert.match(missing.body, /CSRF_INVALID/);
      const other = await staffer.get(`${t.url}/admin/users/${dave}/`);
      const foreign = await root.post(`${t.url}/admin/users/${dave}/active`, { _csrf: hiddenField(other.body, '_csrf'), active: '0' });
      assert.equal(foreign.status, 403);
      assert.equal((await findUserByUsername(db, 'dave'))!.is_active, 1);
    });

    test('staff can\'t change staff flags (403); a superuser can, and it is audited', async () => {
      const erin = await userId(db, 'erin');
      const page = await staffer.get(`${t.url}/admin/users/${erin}/`);
      assert.doesNotMatch(page.body, /Make staff/, 'staff are not offered the button');
      const refused = await staffer.post(`${t.url}/admin/users/${erin}/staff`, { _csrf: hiddenField(page.body, '_csrf'), staff: '1' });
      assert.equal(refused.status, 403);
      assert.equal((await findUserByUsername(db, 'erin'))!.is_staff, 0);

      const granted = await adminPost(root, 'erin', 'staff', { staff: '1' });
      assert.equal(granted.status, 303);
      assert.equal(granted.location, `${t.url}/admin/users/${erin}/?done=staff_granted`);
      assert.equal((await findUserByUsername(db, 'erin'))!.is_staff, 1);
      const erinClient = new HttpClient();
      await sessionFor(t, erinClient, 'erin');
      assert.equal((await erinClient.get(`${t.url}/admin/`)).status, 200, 'the new staff member gets in');

      const revoked = await adminPost(root, 'erin', 'staff', { staff: '0' });
      assert.equal(revoked.status, 303);
      assert.equal((await findUserByUsername(db, 'erin'))!.is_staff, 0);
      assert.equal((await erinClient.get(`${t.url}/admin/`)).status, 403, 'and is out again on the next request');

      const actions = (await auditRows(db)).filter((e) => e.type === 'admin_action' && e.user_id === erin).map((e) => e.action);
      assert.deepEqual(actions, ['grant_staff', 'revoke_staff']);
    });

    test('staff can\'t manage staff or superuser accounts (no password reset of a superuser)', async () => {
      // The page of a staff account offers no forms; the token comes from another admin page.
      const csrf = hiddenField((await staffer.get(`${t.url}/admin/users/${await userId(db, 'dave')}/`)).body, '_csrf');
      const hop = await staffer.post(`${t.url}/admin/users/${await userId(db, 'root')}/password`, {
        _csrf: csrf, password1: 'taken-over-123', password2: 'taken-over-123',
      });
      assert.equal(hop.status, 403);
      assert.equal((await findUserByUsername(db, 'root'))!.password, null, 'root\'s password is unchanged');
      const page = await staffer.get(`${t.url}/admin/users/${await userId(db, 'root')}/`);
      assert.match(page.body, /Only superusers can manage staff and superuser accounts/);
    });

    test('nobody can deactivate themselves or drop their own staff flag', async () => {
      const self = await adminPost(root, 'root', 'active', { active: '0' });
      assert.equal(self.status, 400);
      assert.match(self.body, /can’t deactivate your own account/);
      const staff = await adminPost(root, 'root', 'staff', { staff: '0' });
      assert.equal(staff.status, 400);
      const rootUser = (await findUserByUsername(db, 'root'))!;
      assert.equal(rootUser.is_active, 1);
      assert.equal(rootUser.is_staff, 1);
    });

    test('an unknown user id is a 404 page', async () => {
      assert.equal((await staffer.get(`${t.url}/admin/users/999999/`)).status, 404);
      assert.equal((await staffer.get(`${t.url}/admin/users/abc/`)).status, 404);
    });
  });

  describe('users list', () => {
    test('search matches a prefix of the username or the email, case-insensitively', async () => {
      const names = async (q: string) => {
        const hop = await staffer.get(`${t.url}/admin/users/?${new URLSearchParams({ q })}`);
        assert.equal(hop.status, 200);
        return [...hop.body.matchAll(/<a href="\/admin\/users\/\d+\/">([^<]+)<\/a>/g)].map((m) => m[1]);
      };
      assert.deepEqual(await names('CAR'), ['carol', 'frank'], 'username matches first, then email-only matches');
      assert.deepEqual(await names('erin@example.org'), ['erin']);
      assert.deepEqual(await names('nobody'), []);
      assert.deepEqual(await names(''), ['carol', 'dave', 'erin', 'frank', 'root', 'staffer']);
      const page = await staffer.get(`${t.url}/admin/users/?q=%3Cscript%3E`);
      assert.doesNotMatch(page.body, /<script>/, 'the query is escaped');
      assert.match(page.body, /&lt;script&gt;/);
    });

    test('pagination walks every user once, in order, with a keyset cursor', async () => {
      const { listUsers } = await import('../src/accounts/user-list.ts');
      const seen: string[] = [];
      let after = null;
      for (let i = 0; i < 10; i++) {
        const page: Awaited<ReturnType<typeof listUsers>> = await listUsers(db, { after, limit: 2 });
        seen.push(...page.users.map((u) => u.username));
        if (!page.next) break;
        after = page.next;
      }
      assert.deepEqual(seen, ['carol', 'dave', 'erin', 'frank', 'root', 'staffer']);
      // The same across the phases of a search.
      const found: string[] = [];
      let cursor = null;
      for (let i = 0; i < 5; i++) {
        const page: Awaited<ReturnType<typeof listUsers>> = await listUsers(db, { q: 'car', after: cursor, limit: 1 });
        found.push(...page.users.map((u) => u.username));
        if (!page.next) break;
        cursor = page.next;
      }
      assert.deepEqual(found, ['carol', 'frank']);
      // And over HTTP, through the Next link.
      const first = await staffer.get(`${t.url}/admin/users/?q=car`);
      assert.doesNotMatch(first.body, /rel="next"/, 'one page only');
    });
  });

  describe('actions', () => {
    test('deactivating a user ends their sessions on their next request; reactivating lets them back', async () => {
      const carolA = new HttpClient();
      const carolB = new HttpClient();
      await sessionFor(t, carolA, 'carol');
      await sessionFor(t, carolB, 'carol');
      assert.equal(await loggedInAs(t, carolA), 'carol');
      const carol = await userId(db, 'carol');

      const sessions = (await db.selectFrom('sessions').select('id').where('user_id', '=', carol).execute()).length;
      assert.ok(sessions >= 2);
      const detail = await staffer.get(`${t.url}/admin/users/${carol}/`);
      assert.match(detail.body, new RegExp(`Active sessions <span class="muted">· ${sessions}</span>`));
      const hop = await adminPost(staffer, 'carol', 'active', { active: '0' });
      assert.equal(hop.status, 303);
      assert.equal(hop.location, `${t.url}/admin/users/${carol}/?done=deactivated`);
      const after = await staffer.get(hop.location!);
      assert.match(after.body, /deactivated and all its sessions ended/);
      assert.match(after.body, /Inactive/);

      assert.equal(await loggedInAs(t, carolA), null, 'the first browser is logged out');
      assert.equal(await loggedInAs(t, carolB), null, 'and the second');
      const left = await db.selectFrom('sessions').select('id').where('user_id', '=', carol).execute();
      assert.equal(left.length, 0, 'no session row is left');
      assert.equal((await login(t, new HttpClient(), 'carol', PASSWORDS.carol)).status, 401, 'a new login is refused');

      const failed = (await auditRows(db)).filter((e) => e.type === 'login_failure' && e.user_id === carol).at(-1);
      assert.equal(failed?.error_code, 'USER_INACTIVE', 'the audit log says why');
      const action = (await auditRows(db)).filter((e) => e.type === 'admin_action' && e.action === 'deactivate').at(-1);
      assert.equal(action?.user_id, carol);
      assert.equal(action?.actor_id, await userId(db, 'staffer'));
      assert.equal(action?.detail, `${sessions} sessions ended`);

      assert.equal((await adminPost(staffer, 'carol', 'active', { active: '1' })).status, 303);
      assert.equal((await login(t, new HttpClient(), 'carol', PASSWORDS.carol)).status, 302);
    });

    test('end one session, then all of them', async () => {
      const one = new HttpClient();
      const two = new HttpClient();
      const three = new HttpClient();
      for (const c of [one, two, three]) await sessionFor(t, c, 'dave');
      const target = sessionIdFor(one.cookie(t.url, 'oc_session')!);

      const ended = await adminPost(staffer, 'dave', 'sessions/end', { session: target });
      assert.equal(ended.status, 303);
      assert.equal(await loggedInAs(t, one), null);
      assert.equal(await loggedInAs(t, two), 'dave');
      const again = await adminPost(staffer, 'dave', 'sessions/end', { session: target });
      assert.equal(again.status, 400, 'an ended session can\'t be ended twice');

      // A session id of another user is not this user's to end.
      const rootSession = sessionIdFor(root.cookie(t.url, 'oc_session')!);
      assert.equal((await adminPost(staffer, 'dave', 'sessions/end', { session: rootSession })).status, 400);
      assert.equal(await loggedInAs(t, root), 'root');

      const all = await adminPost(staffer, 'dave', 'sessions/end', { session: 'all' });
      assert.equal(all.status, 303);
      assert.equal(await loggedInAs(t, two), null);
      assert.equal(await loggedInAs(t, three), null);
      const actions = (await auditRows(db)).filter((e) => e.type === 'admin_action' && e.username === 'dave').map((e) => [e.action, e.detail]);
      assert.deepEqual(actions.slice(-2), [['end_session', '1 session ended'], ['end_all_sessions', '2 sessions ended']]);
    });

    test('unlink an identity: the link goes, and so do the sessions from its provider', async () => {
      const dave = await userId(db, 'dave');
      const issuer = t.config.providers[0]!.issuer;
      await db.insertInto('identities').values({ issuer, subject: 'sub-dave-123', user_id: dave, created: Date.now(), last_login: Date.now() }).execute();
      await createSession(db, t.config.session, { userId: dave, provider: 'default' });
      await createSession(db, t.config.session, { userId: dave });
      const page = await staffer.get(`${t.url}/admin/users/${dave}/`);
      assert.match(page.body, /sub-dave-123/);
      assert.match(page.body, /Okta/, 'the provider is named');
      const identity = /name="identity" value="(\d+)"/.exec(page.body)![1]!;

      const hop = await staffer.post(`${t.url}/admin/users/${dave}/identities/unlink`, { _csrf: hiddenField(page.body, '_csrf'), identity });
      assert.equal(hop.status, 303);
      assert.equal((await db.selectFrom('identities').select('id').where('user_id', '=', dave).execute()).length, 0);
      const sessions = await db.selectFrom('sessions').select('provider').where('user_id', '=', dave).execute();
      assert.deepEqual(sessions.map((s) => s.provider), [null], 'the local session stays');
      const event = (await auditRows(db)).at(-1)!;
      assert.equal(event.action, 'unlink_identity');
      assert.equal(event.detail, `${issuer}; 1 session ended`);
    });

    test("set a password for local login: Django's validators, confirmed, then it works", async () => {
      const short = await adminPost(staffer, 'frank', 'password', { password1: 'short', password2: 'short' });
      assert.equal(short.status, 400);
      assert.match(short.body, /This password is too short\. It must contain at least 8 characters\./);
      for (const [weak, message] of [['password', /This password is too common\./], ['Frank2024', /The password is too similar to the username\./]] as const) {
        const refused = await adminPost(staffer, 'frank', 'password', { password1: weak, password2: weak });
        assert.equal(refused.status, 400, weak);
        assert.match(refused.body, message);
      }
      const mismatch = await adminPost(staffer, 'frank', 'password', { password1: 'long-enough-1', password2: 'long-enough-2' });
      assert.equal(mismatch.status, 400);
      assert.match(mismatch.body, /didn’t match/);
      assert.equal((await findUserByUsername(db, 'frank'))!.password, null, 'frank has no password yet');

      const frankSession = new HttpClient();
      await sessionFor(t, frankSession, 'frank');
      assert.equal(await loggedInAs(t, frankSession), 'frank');
      const set = await adminPost(staffer, 'frank', 'password', { password1: 'frank-new-password', password2: 'frank-new-password' });
      assert.equal(set.status, 303);
      assert.equal(await loggedInAs(t, frankSession), null, 'his sessions ended');
      assert.equal((await login(t, new HttpClient(), 'frank', 'frank-new-password')).status, 302);
      assert.equal((await auditRows(db)).filter((e) => e.action === 'set_password').length, 1);
      const dump = await auditDump(db);
      for (const secret of ['frank-new-password', 'long-enough-1', 'long-enough-2', 'short']) {
        assert.ok(!dump.includes(secret), `the audit log never holds "${secret}"`);
      }
    });
  });

  describe('audit log', () => {
    test('local sign-ins are recorded: success, failure, lockout, logout; never the password', async () => {
      await createUser(db, { username: 'gina', email: 'gina@example.com', password: 'gina-password-7' });
      const gina = await userId(db, 'gina');
      const before = (await auditRows(db)).length;
      const client = new HttpClient();
      const agent = { 'user-agent': 'AuditTest/1.0' };
      const page = await client.get(`${t.url}/accounts/login/`);
      const post = (username: string, password: string) => client.request('POST', `${t.url}/accounts/login/`, {
        form: { _csrf: hiddenField(page.body, '_csrf'), next: '/', username, password }, headers: agent,
      });
      assert.equal((await post('gina', 'wrong-password-8')).status, 401);
      assert.equal((await post('nosuchuser', 'wrong-password-9')).status, 401);
      assert.equal((await post('gina-password-7 oops', 'x')).status, 401, 'a password typed into the username field');
      assert.equal((await post('gina', 'gina-password-7')).status, 302);
      const home = await client.get(`${t.url}/`);
      assert.equal((await client.request('POST', `${t.url}/accounts/logout/`, { form: { _csrf: hiddenField(home.body, '_csrf') }, headers: agent })).status, 302);

      const events = (await auditRows(db)).slice(before);
      assert.deepEqual(events.map((e) => [e.type, e.method, e.error_code, e.user_id, e.username]), [
        ['login_failure', 'local', 'INVALID_CREDENTIALS', gina, 'gina'],
        ['login_failure', 'local', 'INVALID_CREDENTIALS', null, 'nosuchuser'],
        ['login_failure', 'local', 'INVALID_CREDENTIALS', null, ''],
        ['login_success', 'local', null, gina, 'gina'],
        ['logout', 'local', null, gina, 'gina'],
      ]);
      for (const e of events.slice(0, 4)) {
        assert.equal(e.ip, '127.0.0.1');
        assert.equal(e.user_agent, 'AuditTest/1.0');
        assert.ok(Math.abs(e.time - Date.now()) < 60_000);
      }

      // Ten attempts lock the account (counted directly here: each real attempt costs a scrypt);
      // the next attempt is refused and recorded as TOO_MANY_ATTEMPTS.
      for (let i = 0; i < 10; i++) await reserveAttempt(db, t.config.lockout, 'gina');
      const locked = await post('gina', 'gina-password-7');
      assert.equal(locked.status, 429);
      assert.equal((await auditRows(db)).at(-1)!.error_code, 'TOO_MANY_ATTEMPTS');

      const dump = await auditDump(db);
      for (const secret of ['gina-password-7', 'wrong-password-8', 'wrong-password-9', ...Object.values(PASSWORDS)]) {
        assert.ok(!dump.includes(secret), `the audit log never holds "${secret}"`);
      }
    });

    test('the audit page lists events, filters by type and user, and escapes what users typed', async () => {
      await recordEvent(db, { type: 'login_failure', method: 'local', errorCode: 'INVALID_CREDENTIALS', username: 'x', userAgent: '<img src=x onerror=alert(1)>' });
      const all = await staffer.get(`${t.url}/admin/audit/`);
      assert.equal(all.status, 200);
      assert.doesNotMatch(all.body, /<img src=x/);
      assert.match(all.body, /&lt;img src=x/);

      const failures = await staffer.get(`${t.url}/admin/audit/?type=login_failure`);
      assert.match(failures.body, /Failed sign-in/);
      assert.doesNotMatch(failures.body, /<span class="badge good">Sign-in<\/span>/);
      const carol = await userId(db, 'carol');
      const byUser = await staffer.get(`${t.url}/admin/audit/?user=${carol}`);
      assert.match(byUser.body, /User: carol/);
      const links = [...byUser.body.matchAll(/<td><a href="\/admin\/users\/(\d+)\/">/g)].map((m) => Number(m[1]));
      assert.ok(links.length > 0 && links.every((id) => id === carol), 'only carol\'s events');
    });

    test('the audit page pages through older events', async () => {
      const { listEvents } = await import('../src/audit/stats.ts');
      const time = Date.now() - 60_000;
      for (let i = 0; i < 60; i++) await recordEvent(db, { type: 'logout', method: 'local', time }); // one shared time: ties on time
      const all = await listEvents(db, {}, 1000);
      const seen: number[] = [];
      let before;
      for (let i = 0; i < 100; i++) {
        const page: Awaited<ReturnType<typeof listEvents>> = await listEvents(db, before ? { before } : {}, 7);
        seen.push(...page.events.map((e) => e.id));
        if (!page.next) break;
        before = page.next;
      }
      assert.deepEqual(seen, all.events.map((e) => e.id));
      const hop = await staffer.get(`${t.url}/admin/audit/`);
      const next = /href="([^"]+)" rel="next"/.exec(hop.body)![1]!.replace(/&amp;/g, '&');
      assert.equal((await staffer.get(`${t.url}${next}`)).status, 200);
    });

    test('the dashboard draws the last 30 days from the audit log', async () => {
      const now = Date.now();
      for (let i = 0; i < 25; i++) {
        await recordEvent(db, { type: 'login_failure', method: 'local', errorCode: 'INVALID_CREDENTIALS', time: now - 2 * 86_400_000 });
      }
      await recordEvent(db, { type: 'login_success', method: 'default', time: now - 3 * 86_400_000 });
      await recordEvent(db, { type: 'login_failure', method: 'default', errorCode: 'STATE_INVALID', time: now - 40 * 86_400_000 });
      const hop = await staffer.get(`${t.url}/admin/`);
      assert.equal(hop.status, 200);
      assert.match(hop.body, /<svg class="chart"/);
      assert.match(hop.body, /Spike of failed sign-ins/);
      assert.match(hop.body, /<text class="code-label"[^>]*>INVALID_CREDENTIALS<\/text>/);
      assert.doesNotMatch(hop.body, /STATE_INVALID/, 'events older than 30 days are not counted');
      assert.match(hop.body, /Okta/, 'provider sign-ins are labelled with the provider\'s name');
      assert.match(hop.body, /Local password/);
      const active = /<span class="stat-value">(\d+)<\/span><span class="stat-label">Active sessions/.exec(hop.body);
      const now2 = Date.now();
      const expected = await db.selectFrom('sessions').select('id').where('expires', '>', now2).execute();
      assert.equal(Number(active?.[1]), expected.length);
    });
  });

  // Runs last: the users it adds would change the lists the tests above expect.
  describe('source, groups and roles', () => {
    const RULES = [{ group: 'Support', roles: ['staff', 'support'] }];
    /** The text of a `<dt>` row of the user's page, badges joined by commas. */
    const row = (body: string, name: string): string => {
      const cell = new RegExp(`<dt>${name}</dt><dd>([\\s\\S]*?)</dd>`).exec(body)?.[1];
      assert.ok(cell !== undefined, `the page has a ${name} row`);
      const badges = [...cell.matchAll(/<span class="badge plain">([^<]*)<\/span>/g)].map((m) => m[1]);
      return badges.length > 0 ? badges.join(', ') : cell.trim();
    };

    before(async () => {
      const sam = await createDirectoryUser(db, { username: 'sam', externalId: 'okta-sam', email: 'sam@example.com', firstName: '', lastName: '', displayName: '', nickName: '', active: true });
      await setUserGroups(db, sam.id, [...(await ensureGroups(db, ['Support', 'Everyone'])).values()]);
      assert.equal(await applyRoleRules(db, sam, RULES), true);
      await createUserWithFreeUsername(db, ['pat'], { email: 'pat@example.com' });
    });

    test('a user\'s page shows their source (Local, Provider, SCIM), their groups, and their roles from ROLE_RULES and the flags', async () => {
      const page = async (username: string) => {
        const hop = await root.get(`${t.url}/admin/users/${await userId(db, username)}/`);
        assert.equal(hop.status, 200);
        return hop.body;
      };
      const sam = await page('sam');
      assert.deepEqual([row(sam, 'Source'), row(sam, 'Groups')], ['SCIM', 'Everyone, Support']);
      assert.match(row(sam, 'Roles'), /^staff, support/);
      const pat = await page('pat');
      assert.deepEqual([row(pat, 'Source'), row(pat, 'Groups'), row(pat, 'Roles')], ['Provider', '—', '—']);
      const dave = await page('dave');
      assert.deepEqual([row(dave, 'Source'), row(dave, 'Groups'), row(dave, 'Roles')], ['Local', '—', '—']);
      const rootPage = await page('root');
      assert.deepEqual([row(rootPage, 'Source'), row(rootPage, 'Roles')], ['Local', 'staff, superuser'], 'the flags are roles too');
    });

    test('staff that a ROLE_RULES rule gives can\'t be changed by hand: no button, and a forged POST is refused with a message and changes nothing', async () => {
      const sam = await userId(db, 'sam');
      const page = await root.get(`${t.url}/admin/users/${sam}/`);
      assert.doesNotMatch(page.body, /Remove staff status/, 'the superuser is not offered the button');
      assert.match(page.body, /Given by a ROLE_RULES rule for one of the user’s groups/);
      const refused = await root.post(`${t.url}/admin/users/${sam}/staff`, { _csrf: hiddenField(page.body, '_csrf'), staff: '0' });
      assert.equal(refused.status, 400);
      assert.match(refused.body, /Staff comes from a ROLE_RULES rule for one of this user&#39;s groups: change the group at the provider instead\./);
      const after = (await findUserByUsername(db, 'sam'))!;
      assert.deepEqual([after.is_staff, JSON.parse(after.rule_roles)], [1, ['staff', 'support']]);
      const actions = (await auditRows(db)).filter((e) => e.type === 'admin_action' && e.user_id === sam);
      assert.deepEqual(actions, [], 'nothing to audit: nothing was done');
      // A staff flag set by hand stays the admin's to change.
      const dave = await userId(db, 'dave');
      assert.equal((await adminPost(root, 'dave', 'staff', { staff: '1' })).status, 303);
      const davePage = await root.get(`${t.url}/admin/users/${dave}/`);
      assert.match(davePage.body, /Remove staff status/);
      assert.equal((await adminPost(root, 'dave', 'staff', { staff: '0' })).status, 303);
      assert.equal((await findUserByUsername(db, 'dave'))!.is_staff, 0);
    });

    test('the users list shows each user\'s source', async () => {
      const hop = await staffer.get(`${t.url}/admin/users/`);
      assert.equal(hop.status, 200);
      assert.match(hop.body, /<th>Source<\/th>/);
      const sources = Object.fromEntries([...hop.body.matchAll(/<a href="\/admin\/users\/\d+\/">([^<]+)<\/a>[\s\S]*?<td class="nowrap source">([^<]*)<\/td>/g)].map((m) => [m[1], m[2]]));
      assert.deepEqual([sources.sam, sources.pat, sources.dave, sources.root], ['SCIM', 'Provider', 'Local', 'Local']);
    });
  });
});

describe('audit log on failure of its own', () => {
  test('a failing audit insert never fails the sign-in', async () => {
    const t = await startTestApp();
    try {
      await createUser(t.database.db, { username: 'hal', password: 'hal-password-9000' });
      await t.database.db.schema.dropTable('audit_log').execute();
      const client = new HttpClient();
      assert.equal((await login(t, client, 'hal', 'wrong-password')).status, 401);
      assert.equal((await login(t, client, 'hal', 'hal-password-9000')).status, 302);
      assert.equal(await loggedInAs(t, client), 'hal');
    } finally {
      await t.close();
    }
  });
});

describe('audit log for provider sign-ins (development provider)', () => {
  let s: DevStack;
  before(async () => {
    s = await startDevStack();
  });
  after(() => s.close());

  test('success, failure with the error\'s code, logout and back-channel logout are recorded', async () => {
    const db = s.app.database.db;
    const client = new HttpClient();
    const callback = await providerLogin(client, s.app.url, { email: 'alice@example.com', password: 'wonderland' });
    assert.equal(callback.status, 302);
    const alice = (await db.selectFrom('users').select(['id', 'username']).executeTakeFirstOrThrow());

    // The same callback again: the route answers as before (the state is used up), and the failure is recorded.
    const replay = await client.get(callback.url);
    assert.equal(replay.status, 400);
    assert.match(replay.body, /STATE_INVALID/);

    // Logging out at the provider makes it call our back-channel endpoint.
    const row = await db.selectFrom('sessions').select('data').executeTakeFirstOrThrow();
    const idToken = (await openRowTokens(s.app.config.sessionSecret, row.data)).idToken!;
    const logout = new URL(`${s.idp.issuer}/v1/logout`);
    logout.search = new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: `${s.app.url}/signout/callback` }).toString();
    await confirmProviderLogout(client, await client.get(logout.href));

    // A second sign-in, ended with the app's own Log Out.
    assert.equal((await providerLogin(client, s.app.url, { email: 'alice@example.com', password: 'wonderland' })).status, 302);
    const home = await client.get(`${s.app.url}/`);
    await client.post(`${s.app.url}/accounts/logout/`, { _csrf: hiddenField(home.body, '_csrf') });

    // A forged logout token is refused and recorded too.
    const forged = await new HttpClient().post(`${s.app.url}/oidc/backchannel-logout`, { logout_token: 'not-a-jwt' }, { accept: '*/*' });
    assert.equal(forged.status, 400);

    const events = await auditRows(db);
    assert.deepEqual(events.map((e) => [e.type, e.method, e.error_code, e.user_id]), [
      ['login_success', 'default', null, alice.id],
      ['login_failure', 'default', 'STATE_INVALID', null],
      ['backchannel_logout', 'default', null, null],
      ['login_success', 'default', null, alice.id],
      ['logout', 'default', null, alice.id],
      ['backchannel_logout', '', 'BAD_REQUEST', null],
    ]);
    assert.equal(events[0]!.detail, 'new user created');
    assert.equal(events[0]!.username, alice.username);
    assert.equal(events[2]!.detail, '1 session(s) ended');
    const dump = await auditDump(db);
    assert.ok(!dump.includes('wonderland'), 'the provider password is not in the audit log');
    assert.ok(!dump.includes(idToken.slice(0, 40)), 'nor any token');
  });

  test('a provider that can\'t be reached is recorded as a failed sign-in', async () => {
    const t = await startTestApp({ DEV_IDP_PORT: '1' });
    try {
      const hop = await new HttpClient().get(`${t.url}/authorization-code/authenticate/`);
      assert.ok(hop.status >= 500, `status ${hop.status}`);
      const events = await auditRows(t.database.db);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.type, 'login_failure');
      assert.equal(events[0]!.method, 'default');
      assert.match(events[0]!.error_code ?? '', /^PROVIDER_/);
    } finally {
      await t.close();
    }
  });
});
