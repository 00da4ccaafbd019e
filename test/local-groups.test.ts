/**
 * Group names (Django's, brought by import-django) on the admin pages, and LOCAL_REQUIRED_GROUPS
 * on the username/password form, on SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ensureGroups, setUserGroups } from '../src/accounts/groups.ts';
import { createUser } from '../src/accounts/users.ts';
import { loadConfig } from '../src/config/index.ts';
import type { Db } from '../src/db/index.ts';
import { createSession } from '../src/sessions/index.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { HttpClient, hiddenField, type Hop } from './support/http-client.ts';
import { databaseTargets, type TestDatabase } from './support/postgres.ts';

test('LOCAL_REQUIRED_GROUPS splits on commas only, as Django group names may hold spaces', () => {
  const config = loadConfig({ cwd: '/nonexistent', env: { SESSION_SECRET: 'test-secret-test-secret-test-secret-1234', LOCAL_REQUIRED_GROUPS: ' Site editors ,staff,, ' } });
  assert.deepEqual(config.localRequiredGroups, ['Site editors', 'staff']);
  const unset = loadConfig({ cwd: '/nonexistent', env: { SESSION_SECRET: 'test-secret-test-secret-test-secret-1234' } });
  assert.deepEqual(unset.localRequiredGroups, []);
});

const PASSWORD = 'group test password';

for (const target of databaseTargets) {
  describe(`groups on ${target.name}`, { skip: target.skip }, () => {
    let database: TestDatabase;
    let t: TestApp;
    let db: Db;
    const ids = new Map<string, number>();
    const staff = new HttpClient();

    async function login(username: string, password = PASSWORD): Promise<{ hop: Hop; client: HttpClient }> {
      const client = new HttpClient();
      const page = await client.get(`${t.url}/accounts/login/`);
      const hop = await client.post(`${t.url}/accounts/login/`, { _csrf: hiddenField(page.body, '_csrf'), next: '/', username, password });
      return { hop, client };
    }

    const lastEvent = (username: string) => db.selectFrom('audit_log').selectAll().where('username', '=', username)
      .orderBy('id', 'desc').executeTakeFirstOrThrow();

    before(async () => {
      database = await target.create();
      t = await startTestApp({ DATABASE_URL: database.url, LOGIN_RATE_LIMIT_PER_MINUTE: '10000', LOCAL_REQUIRED_GROUPS: 'Site editors, Reviewers' });
      db = t.database.db;
      const groups = await ensureGroups(db, ['Site editors', 'Reviewers', 'R&D <lab>']);
      const member = async (username: string, names: string[], extra: { isSuperuser?: boolean; isStaff?: boolean; password?: string | null } = {}) => {
        const user = await createUser(db, { username, email: `${username}@example.com`, password: PASSWORD, ...extra });
        await setUserGroups(db, user.id, names.map((n) => groups.get(n)!));
        ids.set(username, user.id);
      };
      await member('editor', ['Site editors', 'R&D <lab>']);
      await member('reviewer', ['Reviewers']);
      await member('outsider', ['R&D <lab>']);
      await member('loner', []);
      // As createsuperuser makes them: in no group.
      await member('boss', [], { isSuperuser: true, isStaff: true });
      await member('admin', [], { isStaff: true, password: null });
      staff.setCookie(t.url, 'oc_session', await createSession(db, t.config.session, { userId: ids.get('admin')! }));
    });
    after(async () => {
      await t?.close();
      await database?.drop();
    });

    test('the admin user page lists the user\'s groups, escaped', async () => {
      const page = await staff.get(`${t.url}/admin/users/${ids.get('editor')}/`);
      assert.equal(page.status, 200);
      const groups = /<dt>Groups<\/dt><dd>(.*?)<\/dd>/.exec(page.body)?.[1] ?? '';
      assert.match(groups, /<span class="badge plain">R&amp;D &lt;lab&gt;<\/span>/);
      assert.match(groups, /<span class="badge plain">Site editors<\/span>/);
      assert.doesNotMatch(page.body, /<lab>/);
      const none = await staff.get(`${t.url}/admin/users/${ids.get('loner')}/`);
      assert.match(none.body, /<dt>Groups<\/dt><dd>—<\/dd>/);
    });

    test('the users list shows each row\'s groups', async () => {
      const list = await staff.get(`${t.url}/admin/users/`);
      assert.equal(list.status, 200);
      const row = (username: string) => new RegExp(`<a href="/admin/users/${ids.get(username)}/">${username}</a>[\\s\\S]*?</tr>`).exec(list.body)?.[0] ?? '';
      assert.match(row('editor'), /<td>R&amp;D &lt;lab&gt;, Site editors<\/td>/);
      assert.match(row('reviewer'), /<td>Reviewers<\/td>/);
      assert.match(row('loner'), /<td><\/td>/);
    });

    test('a member of one of LOCAL_REQUIRED_GROUPS signs in with their password', async () => {
      for (const username of ['editor', 'reviewer']) {
        const { hop, client } = await login(username);
        assert.equal(hop.status, 302, username);
        assert.ok(client.cookie(t.url, 'oc_session'), username);
        assert.equal((await lastEvent(username)).type, 'login_success');
      }
    });

    test('a superuser in no group still signs in', async () => {
      const { hop, client } = await login('boss');
      assert.equal(hop.status, 302);
      assert.ok(client.cookie(t.url, 'oc_session'));
    });

    test('anyone else is refused with a 403 page and no session, audited as USER_NOT_ALLOWED', async () => {
      for (const username of ['outsider', 'loner']) {
        const { hop, client } = await login(username);
        assert.equal(hop.status, 403, username);
        assert.match(hop.body, /Error code: USER_NOT_ALLOWED/);
        assert.match(hop.body, /members of Site editors, Reviewers/);
        assert.equal(client.cookie(t.url, 'oc_session'), undefined);
        const event = await lastEvent(username);
        assert.deepEqual([event.type, event.method, event.error_code, event.user_id], ['login_failure', 'local', 'USER_NOT_ALLOWED', ids.get(username)]);
      }
      const outsider = await db.selectFrom('users').select('last_login').where('id', '=', ids.get('outsider')!).executeTakeFirstOrThrow();
      assert.equal(outsider.last_login, null, 'a refused login is not a login');
    });

    test('a wrong password gets the generic 401 whatever the groups: membership is not told before the password is right', async () => {
      const { hop } = await login('outsider', 'not the password');
      assert.equal(hop.status, 401);
      assert.match(hop.body, /Please enter a correct username and password/);
      assert.equal((await lastEvent('outsider')).error_code, 'INVALID_CREDENTIALS');
    });
  });
}
