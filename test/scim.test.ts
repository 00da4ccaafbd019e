/**
 * SCIM 2.0 at /scim/v2, on every database: each request exactly as Okta's SCIM 2.0 reference
 * ("Okta and SCIM Version 2.0") and Microsoft's "Develop and plan provisioning for a SCIM endpoint"
 * and "Known issues … SCIM 2.0 protocol compliance" (aadOptscim062020) show them (compared with the
 * guides' text in okta/okta-developer-docs and MicrosoftDocs/entra-docs; where a guide shows no body,
 * the comment says what stands in), then bad input: each refusal a SCIM error object, and nothing written.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSession, loadSession } from '../src/sessions/index.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { databaseTargets, type TestDatabase } from './support/postgres.ts';

const TOKEN = 'scim-token-0123456789abcdefghijklmnopqrstuvwxyz';
const OLD_TOKEN = 'previous-token-0123456789abcdefghijklmnopqrs';
const SCIM_JSON = 'application/scim+json';

interface Answer { status: number; type: string; body: any; headers: Headers }

describe('SCIM 2.0', () => {
  for (const target of databaseTargets) {
    describe(`on ${target.name}`, { skip: target.skip }, () => {
      let database: TestDatabase;
      let t: TestApp;
      const scim = async (method: string, path: string, body?: unknown, init: { token?: string | null; type?: string; raw?: string } = {}): Promise<Answer> => {
        const headers: Record<string, string> = { accept: SCIM_JSON };
        const token = init.token === undefined ? TOKEN : init.token;
        if (token !== null) headers.authorization = `Bearer ${token}`;
        if (body !== undefined || init.raw !== undefined) headers['content-type'] = init.type ?? SCIM_JSON;
        const response = await fetch(`${t.url}/scim/v2${path}`, { method, headers, body: init.raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
        const text = await response.text();
        return { status: response.status, type: response.headers.get('content-type') ?? '', body: text ? JSON.parse(text) : undefined, headers: response.headers };
      };
      const users = async () => t.database.db.selectFrom('users').selectAll().orderBy('id').execute();
      const snapshot = async () => JSON.stringify({
        users: await users(),
        groups: await t.database.db.selectFrom('groups').selectAll().orderBy('id').execute(),
        members: await t.database.db.selectFrom('user_groups').selectAll().orderBy('user_id').orderBy('group_id').execute(),
      });
      const assertScimError = (answer: Answer, status: number, scimType?: string) => {
        assert.equal(answer.status, status, JSON.stringify(answer.body));
        assert.match(answer.type, /^application\/scim\+json/);
        assert.deepEqual(answer.body.schemas, ['urn:ietf:params:scim:api:messages:2.0:Error']);
        assert.equal(answer.body.status, String(status), 'status is a string (RFC 7644 §3.12)');
        assert.equal(typeof answer.body.detail, 'string');
        if (scimType) assert.equal(answer.body.scimType, scimType);
      };

      before(async () => {
        database = await target.create();
        t = await startTestApp({
          DATABASE_URL: database.url,
          SCIM_TOKENS: `${TOKEN},${OLD_TOKEN}`,
          ROLE_RULES: JSON.stringify({ 'Okta Admins': ['superuser'], Support: ['staff', 'support'] }),
        });
      });
      after(async () => {
        await t?.close();
        await database?.drop();
      });

      test('no SCIM route answers without a token from SCIM_TOKENS; both tokens of a rotation work', async () => {
        for (const path of ['/ServiceProviderConfig', '/Users', '/Groups', '/Users/1', '/Schemas']) {
          const answer = await scim('GET', path, undefined, { token: null });
          assertScimError(answer, 401);
          assert.match(answer.headers.get('www-authenticate') ?? '', /^Bearer/);
          assertScimError(await scim('GET', path, undefined, { token: `${TOKEN}x` }), 401);
        }
        assertScimError(await scim('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'mallory' }, { token: 'wrong' }), 401);
        assert.equal((await users()).length, 0, 'nothing was written');
        assert.equal((await scim('GET', '/ServiceProviderConfig', undefined, { token: OLD_TOKEN })).status, 200);
        const failures = await t.database.db.selectFrom('audit_log').select(['type', 'error_code', 'count']).where('type', '=', 'provisioning').execute();
        assert.ok(failures.some((row) => row.error_code === 'SCIM_UNAUTHORIZED' && row.count >= 10), 'refusals are counted in the audit log');
      });

      test('discovery: ServiceProviderConfig, ResourceTypes and Schemas', async () => {
        const config = await scim('GET', '/ServiceProviderConfig');
        assert.equal(config.status, 200);
        assert.match(config.type, /^application\/scim\+json/);
        assert.equal(config.body.patch.supported, true);
        assert.equal(config.body.filter.supported, true);
        const types = await scim('GET', '/ResourceTypes');
        assert.deepEqual(types.body.Resources.map((r: any) => r.endpoint), ['/Users', '/Groups']);
        const schemas = await scim('GET', '/Schemas');
        assert.ok(schemas.body.Resources.some((s: any) => s.id === 'urn:ietf:params:scim:schemas:core:2.0:User'));
        assert.equal((await scim('GET', '/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group')).body.name, 'Group');
      });

      test('Okta: test connection, check user exists, create, read, update (PUT), deactivate (PATCH), reactivate, password sync, import', async () => {
        // "Test connection": GET /Users?startIndex=1&count=2 on an empty service.
        const first = await scim('GET', '/Users?startIndex=1&count=2');
        assert.equal(first.status, 200);
        assert.deepEqual(first.body, { schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: 0, startIndex: 1, itemsPerPage: 0, Resources: [] });
        // "Determine if the User already exists": an empty ListResponse, never 404.
        const lookup = await scim('GET', `/Users?filter=${encodeURIComponent('userName eq "test.user@okta.local"')}&startIndex=1&count=100`);
        assert.equal(lookup.status, 200);
        assert.equal(lookup.body.totalResults, 0);
        // "Create the User", Okta's body as documented (password included).
        const created = await scim('POST', '/Users', {
          schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
          userName: 'test.user@okta.local',
          name: { givenName: 'Test', familyName: 'User' },
          emails: [{ primary: true, value: 'test.user@okta.local', type: 'work' }],
          displayName: 'Test User',
          locale: 'en-US',
          externalId: '00ujl29u0le5T6Aj10h7',
          groups: [],
          password: '1mz050nq',
          active: true,
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        assert.match(created.type, /^application\/scim\+json/);
        const id = created.body.id;
        assert.equal(created.headers.get('location'), `${t.url}/scim/v2/Users/${id}`);
        assert.equal(created.body.userName, 'test.user@okta.local');
        assert.equal(created.body.externalId, '00ujl29u0le5T6Aj10h7');
        assert.deepEqual(created.body.name, { givenName: 'Test', familyName: 'User', formatted: 'Test User' });
        assert.deepEqual(created.body.emails, [{ value: 'test.user@okta.local', type: 'work', primary: true }]);
        assert.equal(created.body.active, true);
        assert.equal(created.body.password, undefined, 'a password is never returned');
        for (const key of ['location', 'created', 'lastModified', 'version']) assert.ok(created.body.meta[key], `meta.${key}`);
        const [row] = await users();
        assert.equal(row!.password, null, 'the password Okta sent is discarded');
        assert.equal(row!.source, 'scim');
        assert.equal(row!.email_verified, 1, 'the directory vouches for the email');

        assert.equal((await scim('GET', `/Users?filter=${encodeURIComponent('userName eq "test.user@okta.local"')}`)).body.Resources[0].id, id);
        const read = await scim('GET', `/Users/${id}`);
        assert.equal(read.status, 200);
        assert.equal(read.headers.get('etag'), read.body.meta.version);

        // "Update a specific User (PUT)", Okta's body as documented: the user as read back, the change made
        // (middleName), emails with display, no externalId, displayName or password; id, groups and meta are
        // read-only (ignored), and what is absent and kept apart (externalId) stays as it was.
        const put = await scim('PUT', `/Users/${id}`, {
          schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
          id,
          userName: 'test.user@okta.local',
          name: { givenName: 'Another', middleName: 'Excited', familyName: 'User' },
          emails: [{ primary: true, value: 'test.user@okta.local', type: 'work', display: 'test.user@okta.local' }],
          active: true,
          groups: [],
          meta: { resourceType: 'User' },
        });
        assert.equal(put.status, 200, JSON.stringify(put.body));
        assert.deepEqual(put.body.name, { givenName: 'Another', familyName: 'User', formatted: 'Another User' });
        assert.deepEqual(put.body.emails, [{ value: 'test.user@okta.local', type: 'work', primary: true }]);
        assert.equal(put.body.externalId, '00ujl29u0le5T6Aj10h7', 'an absent externalId stays');
        assert.equal(put.body.active, true);

        const session = await createSession(t.database.db, t.config.session, { userId: Number(id) });
        assert.ok(await loadSession(t.database.db, t.config.session, session));
        // "Update a specific User (PATCH)": deactivation as Okta sends it.
        const deactivated = await scim('PATCH', `/Users/${id}`, {
          schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
          Operations: [{ op: 'replace', value: { active: false } }],
        });
        assert.equal(deactivated.status, 200, JSON.stringify(deactivated.body));
        assert.equal(deactivated.body.active, false);
        assert.equal(await loadSession(t.database.db, t.config.session, session), undefined, 'the session ended');
        assert.equal(await t.database.db.selectFrom('sessions').select('id').where('user_id', '=', Number(id)).executeTakeFirst(), undefined);
        const event = await t.database.db.selectFrom('audit_log').selectAll().where('type', '=', 'provisioning').where('user_id', '=', Number(id)).orderBy('id', 'desc').executeTakeFirstOrThrow();
        assert.match(event.detail, /^deactivated; 1 session\(s\) ended$/);

        // Reactivation and password sync also come as PATCH; the reference shows no body for them, so these
        // are deactivation's shape with active true, and with the password.
        const reactivated = await scim('PATCH', `/Users/${id}`, {
          schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
          Operations: [{ op: 'replace', value: { active: true } }],
        });
        assert.equal(reactivated.body.active, true);
        // Password sync: accepted and discarded.
        const sync = await scim('PATCH', `/Users/${id}`, {
          schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
          Operations: [{ op: 'replace', value: { password: 'New Password' } }],
        });
        assert.equal(sync.status, 200);
        assert.equal((await users())[0]!.password, null);
        // Custom (AIW) apps deactivate with PUT active:false: the user as read, active false.
        const byPut = await scim('PUT', `/Users/${id}`, { ...put.body, active: false });
        assert.equal(byPut.status, 200);
        assert.equal(byPut.body.active, false);
        await scim('PATCH', `/Users/${id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', value: { active: true } }] });
        // "Import users": GET /Users?startIndex=1&count=100.
        const imported = await scim('GET', '/Users?startIndex=1&count=100');
        assert.equal(imported.body.totalResults, 1);
        assert.equal(imported.body.Resources[0].userName, 'test.user@okta.local');
      });

      test('Okta: push groups (create, read, rename, membership update, full push, replace with PUT, delete) and the roles they give', async () => {
        const okta = async (userName: string) => (await scim('POST', '/Users', {
          schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName,
          name: { givenName: 'Push', familyName: 'Er' }, emails: [{ primary: true, value: userName, type: 'work' }], active: true,
        })).body.id as string;
        const userId = await okta('pusher@okta.local');
        const otherId = await okta('other@okta.local');
        const staffOf = async (id: string) => (await users()).find((u) => u.id === Number(id))!.is_staff;
        // "Create Groups", as documented.
        const created = await scim('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Test SCIMv2', members: [] });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const groupId = created.body.id;
        assert.equal((await scim('GET', `/Groups/${groupId}`)).body.displayName, 'Test SCIMv2');
        assert.equal((await scim('GET', '/Groups?startIndex=1&count=100')).body.totalResults, 1);
        // "Update a specific Group name", as documented: no path, the id with the name (sent with every
        // membership update, so the same name too). Then the same request with a new name, which ROLE_RULES maps.
        const rename = (displayName: string) => scim('PATCH', `/Groups/${groupId}`, {
          schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
          Operations: [{ op: 'replace', value: { id: groupId, displayName } }],
        });
        assert.equal((await rename('Test SCIMv2')).status, 204);
        const renamed = await rename('Support');
        assert.equal(renamed.status, 204, JSON.stringify(renamed.body));
        // The add half of the documented membership update, for the member it then removes.
        const added = await scim('PATCH', `/Groups/${groupId}`, {
          schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
          Operations: [{ op: 'add', path: 'members', value: [{ value: otherId, display: 'other@okta.local' }] }],
        });
        assert.equal(added.status, 204);
        assert.equal(await staffOf(otherId), 1);
        // "Update specific Group membership", as documented: one request removes a member by filter and adds another.
        const membership = await scim('PATCH', `/Groups/${groupId}`, {
          schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
          Operations: [
            { op: 'remove', path: `members[value eq "${otherId}"]` },
            { op: 'add', path: 'members', value: [{ value: userId, display: 'pusher@okta.local' }] },
          ],
        });
        assert.equal(membership.status, 204, JSON.stringify(membership.body));
        const group = await scim('GET', `/Groups/${groupId}`);
        assert.deepEqual(group.body.members.map((m: any) => m.value), [userId]);
        assert.deepEqual((await scim('GET', `/Users/${userId}`)).body.groups.map((g: any) => g.display), ['Support']);
        const row = (await users()).find((u) => u.id === Number(userId))!;
        assert.equal(row.is_staff, 1, 'ROLE_RULES: Support gives staff');
        assert.deepEqual(JSON.parse(row.rule_roles), ['staff', 'support']);
        assert.equal(await staffOf(otherId), 0, 'the member removed lost it');

        const session = await createSession(t.database.db, t.config.session, { userId: Number(userId) });
        assert.deepEqual((await loadSession(t.database.db, t.config.session, session))!.user.roles, ['staff', 'support']);
        const removed = await scim('PATCH', `/Groups/${groupId}`, {
          schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
          Operations: [{ op: 'remove', path: `members[value eq "${userId}"]` }],
        });
        assert.equal(removed.status, 204);
        assert.equal(await staffOf(userId), 0, 'staff rights go with the group, at once');
        assert.deepEqual((await loadSession(t.database.db, t.config.session, session))!.user.roles, [], 'the cached session sees it at its next request');

        // The documented full push: replace of members with the whole list.
        const pushed = await scim('PATCH', `/Groups/${groupId}`, {
          schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
          Operations: [{
            op: 'replace',
            path: 'members',
            value: [{ value: userId, display: 'pusher@okta.local' }, { value: otherId, display: 'other@okta.local' }],
          }],
        });
        assert.equal(pushed.status, 204, JSON.stringify(pushed.body));
        assert.deepEqual((await scim('GET', `/Groups/${groupId}`)).body.members.map((m: any) => m.value), [userId, otherId]);
        assert.deepEqual([await staffOf(userId), await staffOf(otherId)], [1, 1]);

        // Custom (AIW) apps update a group with PUT (the reference shows no body): the group, whole.
        const replaced = await scim('PUT', `/Groups/${groupId}`, {
          schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], id: groupId, displayName: 'Support', members: [{ value: userId, display: 'pusher@okta.local' }],
        });
        assert.equal(replaced.status, 200);
        assert.equal(replaced.body.members.length, 1);
        assert.deepEqual([await staffOf(userId), await staffOf(otherId)], [1, 0]);
        assert.equal((await scim('GET', `/Groups?filter=${encodeURIComponent('displayName eq "Support"')}`)).body.Resources[0].id, groupId);
        // "Delete a specific Group", as documented.
        assert.equal((await scim('DELETE', `/Groups/${groupId}`)).status, 204);
        assert.equal(await staffOf(userId), 0, 'deleting the group takes its roles');
        assertScimError(await scim('GET', `/Groups/${groupId}`), 404);
      });

      test('Entra: create, get, query (with zero results), update multi- and single-valued properties, both PATCH dialects, disable, delete', async () => {
        const USER_NAME = 'Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee';
        const patch = (...Operations: object[]) => scim('PATCH', `/Users/${id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations });
        // "Create User", as the tutorial shows it.
        const created = await scim('POST', '/Users', {
          schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
          externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
          userName: USER_NAME,
          active: true,
          emails: [{ primary: true, type: 'work', value: 'Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com' }],
          meta: { resourceType: 'User' },
          name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
          roles: [],
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const id = created.body.id;
        // "Get User", "Get User by query", "Get User by query - Zero results" (also Test Connection's answer).
        assert.equal((await scim('GET', `/Users/${id}`)).body.userName, USER_NAME);
        const query = await scim('GET', `/Users?filter=${encodeURIComponent(`userName eq "${USER_NAME}"`)}`);
        assert.equal(query.body.totalResults, 1);
        const none = await scim('GET', `/Users?filter=${encodeURIComponent('userName eq "non-existent user"')}`);
        assert.equal(none.status, 200);
        assert.deepEqual([none.body.totalResults, none.body.Resources], [0, []]);
        // The matching attributes the tutorial names: externalId, and emails[type eq "work"].value.
        for (const filter of ['externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"', 'emails[type eq "work"].value eq "test_user_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"']) {
          const found = await scim('GET', `/Users?filter=${encodeURIComponent(filter)}`);
          assert.deepEqual(found.body.Resources.map((r: any) => r.id), [id], filter);
        }
        // "Update User [Multi-valued properties]"
        const multi = await patch(
          { op: 'Replace', path: 'emails[type eq "work"].value', value: 'updatedEmail@microsoft.com' },
          { op: 'Replace', path: 'name.familyName', value: 'updatedFamilyName' },
        );
        assert.equal(multi.status, 200, JSON.stringify(multi.body));
        assert.equal(multi.body.emails[0].value, 'updatedEmail@microsoft.com');
        assert.equal(multi.body.name.familyName, 'updatedFamilyName');
        // "Update User [Single-valued properties]"
        const single = await patch({ op: 'Replace', path: 'userName', value: '5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com' });
        assert.equal(single.body.userName, '5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com');

        // The known-issues page, without aadOptscim062020 (the default): each request as shown.
        const nick = await patch({ op: 'Add', path: 'nickName', value: 'Babs' });
        assert.equal(nick.body.nickName, 'Babs', 'Entra\'s nickName is stored');
        const replacedDefault = await patch(
          { op: 'Replace', path: 'displayName', value: 'Pvlo' },
          { op: 'Replace', path: 'emails[type eq "work"].value', value: 'TestBcwqnm@test.microsoft.com' },
          { op: 'Replace', path: 'name.givenName', value: 'Gtfd' },
          { op: 'Replace', path: 'name.familyName', value: 'Pkqf' },
          { op: 'Replace', path: 'externalId', value: 'Eqpj' },
          { op: 'Replace', path: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber', value: 'Eqpj' },
        );
        assert.equal(replacedDefault.status, 200, JSON.stringify(replacedDefault.body));
        assert.deepEqual([replacedDefault.body.displayName, replacedDefault.body.emails[0].value, replacedDefault.body.name.givenName, replacedDefault.body.name.familyName, replacedDefault.body.externalId],
          ['Pvlo', 'TestBcwqnm@test.microsoft.com', 'Gtfd', 'Pkqf', 'Eqpj']);
        const disabled = await patch({ op: 'Replace', path: 'active', value: 'False' });
        assert.equal(disabled.body.active, false);
        // (Entra documents no reactivation body; this is the same request with "True".)
        assert.equal((await patch({ op: 'Replace', path: 'active', value: 'True' })).body.active, true);

        // With aadOptscim062020: each request as shown.
        const flaggedDisable = await patch({ op: 'replace', path: 'active', value: false });
        assert.equal(flaggedDisable.body.active, false);
        assert.equal((await patch({ op: 'replace', path: 'active', value: true })).body.active, true);
        const flaggedNick = await patch({ op: 'add', path: 'nickName', value: 'Babs' });
        assert.equal(flaggedNick.status, 200, JSON.stringify(flaggedNick.body));
        const flagged = await patch(
          { op: 'replace', path: 'emails[type eq "work"].value', value: 'TestMhvaes@test.microsoft.com' },
          {
            op: 'replace',
            value: {
              displayName: 'Bjfe',
              'name.givenName': 'Kkom',
              'name.familyName': 'Unua',
              'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber': 'Aklq',
            },
          },
        );
        assert.equal(flagged.status, 200, JSON.stringify(flagged.body));
        assert.deepEqual([flagged.body.nickName, flagged.body.displayName, flagged.body.emails[0].value, flagged.body.name.givenName, flagged.body.name.familyName],
          ['Babs', 'Bjfe', 'TestMhvaes@test.microsoft.com', 'Kkom', 'Unua']);

        // "Disable User", as the tutorial shows it (Operations first, "Replace" with a real boolean).
        const session = await createSession(t.database.db, t.config.session, { userId: Number(id) });
        const disable = await scim('PATCH', `/Users/${id}`, {
          Operations: [{ op: 'Replace', path: 'active', value: false }],
          schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
        });
        assert.equal(disable.status, 200, JSON.stringify(disable.body));
        assert.equal(disable.body.active, false);
        assert.equal(await loadSession(t.database.db, t.config.session, session), undefined, 'the session ended');
        assert.equal((await scim('GET', `/Users?filter=${encodeURIComponent('externalId eq "Eqpj"')}`)).body.totalResults, 1, 'a disabled user is still found');
        // "Delete User": 204, then 404, and the account stays deactivated and marked deleted.
        assert.equal((await scim('DELETE', `/Users/${id}`)).status, 204);
        assertScimError(await scim('GET', `/Users/${id}`), 404);
        assertScimError(await patch({ op: 'replace', path: 'active', value: true }), 404);
        const row = (await users()).find((u) => u.id === Number(id))!;
        assert.equal(row.is_active, 0);
        assert.ok(row.deleted);
        assert.equal((await scim('GET', `/Users?filter=${encodeURIComponent('externalId eq "Eqpj"')}`)).body.totalResults, 0);
      });

      test('Entra: the tutorial\'s "Provision a user" example (nulls, top-level department and manager, a misspelt extension URN) and its query by externalId', async () => {
        // Example 2 as shown. Its nulls assert nothing (RFC 7643 §2.5: null is unassigned), so the two
        // attributes of no declared schema with a null value are not refused; with a value they would be.
        const created = await scim('POST', '/Users', {
          schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0User'],
          externalId: 'jyoung',
          userName: 'jyoung@testuser.com',
          active: true,
          addresses: null,
          displayName: 'Joy Young',
          emails: [{ type: 'work', value: 'jyoung@Contoso.com', primary: true }],
          meta: { resourceType: 'User' },
          name: { familyName: 'Young', givenName: 'Joy' },
          phoneNumbers: null,
          preferredLanguage: null,
          title: null,
          department: null,
          manager: null,
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        assert.deepEqual([created.body.displayName, created.body.emails[0].value, created.body.externalId], ['Joy Young', 'jyoung@Contoso.com', 'jyoung']);
        // Example 1's query, with its value quoted as RFC 7644 §3.4.2.2 requires and Entra sends it; the
        // tutorial's unquoted `externalId eq jyoung` is not a filter, and is refused as one.
        const found = await scim('GET', `/Users?filter=${encodeURIComponent('externalId eq "jyoung"')}`);
        assert.deepEqual(found.body.Resources.map((r: any) => r.id), [created.body.id]);
        assertScimError(await scim('GET', `/Users?filter=${encodeURIComponent('externalId eq jyoung')}`), 400, 'invalidFilter');
        assertScimError(await scim('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'jdoe@testuser.com', department: 'Sales' }), 400, 'invalidValue');
        assert.equal(await t.database.db.selectFrom('users').select('id').where('username', '=', 'jdoe@testuser.com').executeTakeFirst(), undefined);
      });

      test('Entra: groups (create, get without members, by displayName, rename, add members, remove them in each documented form, 409 on a taken name, delete)', async () => {
        const entra = async (userName: string) =>
          (await scim('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName, externalId: `oid-${userName}`, active: true })).body.id as string;
        const [first, second, third] = [await entra('entra-first'), await entra('entra-second'), await entra('entra-third')];
        const patch = (...Operations: object[]) => scim('PATCH', `/Groups/${id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations });
        const members = async () => (await scim('GET', `/Groups/${id}`)).body.members.map((m: any) => m.value);
        // "Create Group", as the tutorial shows it.
        const created = await scim('POST', '/Groups', {
          schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group', 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group'],
          externalId: '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159',
          displayName: 'displayName',
          meta: { resourceType: 'Group' },
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const id = created.body.id;
        // "Get Group" and "Get Group by displayName", without members.
        const got = await scim('GET', `/Groups/${id}?excludedAttributes=members`);
        assert.equal(got.body.members, undefined);
        assert.equal(got.body.externalId, '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159');
        const byName = await scim('GET', `/Groups?excludedAttributes=members&filter=${encodeURIComponent('displayName eq "displayName"')}`);
        assert.deepEqual(byName.body.Resources.map((g: any) => g.id), [id]);
        assert.equal(byName.body.Resources[0].members, undefined);
        const taken = await scim('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'displayName' });
        assertScimError(taken, 409, 'uniqueness');
        // "Update Group [Non-member attributes]"
        assert.equal((await patch({ op: 'Replace', path: 'displayName', value: '1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName' })).status, 204);
        // "Update Group [Add Members]", once per member.
        for (const member of [first, second, third]) {
          const add = await patch({ op: 'Add', path: 'members', value: [{ $ref: null, value: member }] });
          assert.equal(add.status, 204, JSON.stringify(add.body));
        }
        assert.deepEqual(await members(), [first, second, third]);
        // "Update Group [Remove Members]" (the tutorial).
        assert.equal((await patch({ op: 'Remove', path: 'members', value: [{ $ref: null, value: first }] })).status, 204);
        assert.deepEqual(await members(), [second, third]);
        // Removing a member without aadOptscim062020 (the known-issues page): no $ref.
        assert.equal((await patch({ op: 'Remove', path: 'members', value: [{ value: second }] })).status, 204);
        assert.deepEqual(await members(), [third]);
        // And with aadOptscim062020: a filter path.
        assert.equal((await patch({ op: 'remove', path: `members[value eq "${third}"]` })).status, 204);
        assert.deepEqual(await members(), []);
        // "Delete Group"
        assert.equal((await scim('DELETE', `/Groups/${id}`)).status, 204);
        assertScimError(await scim('GET', `/Groups/${id}`), 404);
      });

      test('filters: the operators with and, or, not and grouping, on each supported attribute', async () => {
        const ids = (answer: Answer) => answer.body.Resources.map((r: any) => r.userName).sort();
        const list = async (filter: string) => {
          const answer = await scim('GET', `/Users?count=200&filter=${encodeURIComponent(filter)}`);
          assert.equal(answer.status, 200, `${filter}: ${JSON.stringify(answer.body)}`);
          return ids(answer);
        };
        for (const [name, email, display] of [['filter.ann', 'ann@filters.example', 'Ann A'], ['filter.bob', 'bob@filters.example', 'Bob B'], ['filter.cy', 'cy@other.example', 'Cy C']] as const) {
          await scim('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: name, displayName: display, emails: [{ value: email, type: 'work', primary: true }], active: name !== 'filter.cy' });
        }
        assert.deepEqual(await list('userName eq "FILTER.ANN"'), ['filter.ann'], 'userName is not case-exact');
        assert.deepEqual(await list('userName sw "filter." and not (userName eq "filter.ann")'), ['filter.bob', 'filter.cy']);
        assert.deepEqual(await list('userName sw "filter." and active eq false'), ['filter.cy']);
        assert.deepEqual(await list('emails.value ew "@filters.example"'), ['filter.ann', 'filter.bob']);
        assert.deepEqual(await list('displayName co "b" and userName pr'), ['filter.bob']);
        assert.deepEqual(await list('(userName eq "filter.ann" or userName eq "filter.cy") and userName ne "filter.cy"'), ['filter.ann']);
        assert.deepEqual(await list('userName gt "filter.b" and userName le "filter.cy"'), ['filter.bob', 'filter.cy']);
        assert.deepEqual(await list('userName ge "filter.bob" and userName lt "filter.cz"'), ['filter.bob', 'filter.cy']);
        assert.deepEqual(await list('userName sw "filter." and meta.lastModified gt "2000-01-01T00:00:00Z"'), ['filter.ann', 'filter.bob', 'filter.cy']);
        assert.deepEqual(await list('userName sw "filter." and meta.lastModified lt "2000-01-01T00:00:00Z"'), []);
        assert.deepEqual(await list('userName co "%"'), [], 'LIKE\'s wildcards are plain characters in a filter');
        assert.deepEqual(await list('userName sw "filter_"'), []);
      });

      test('bad input: each refusal a SCIM error, and nothing written', async () => {
        const before = await snapshot();
        const user = await scim('GET', '/Users?count=1');
        const someone = user.body.Resources[0].id;
        const cases: [string, () => Promise<Answer>, number, string?][] = [
          ['bad JSON', () => scim('POST', '/Users', undefined, { raw: '{"schemas": [' }), 400, 'invalidSyntax'],
          ['not an object', () => scim('POST', '/Users', ['x']), 400, 'invalidSyntax'],
          ['unknown attribute', () => scim('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'x1', favouriteColour: 'red' }), 400, 'invalidValue'],
          ['undeclared extension', () => scim('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'x2', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { department: 'x' } }), 400, 'invalidValue'],
          ['no core schema', () => scim('POST', '/Users', { schemas: [], userName: 'x3' }), 400, 'invalidValue'],
          ['userName of the wrong type', () => scim('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 42 }), 400, 'invalidValue'],
          ['active of the wrong type', () => scim('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'x4', active: 'maybe' }), 400, 'invalidValue'],
          ['emails of the wrong type', () => scim('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'x5', emails: 'x@example.com' }), 400, 'invalidValue'],
          ['name of the wrong type', () => scim('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'x6', name: 'X' }), 400, 'invalidValue'],
          ['a userName taken', () => scim('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'TEST.USER@okta.local' }), 409, 'uniqueness'],
          ['an externalId taken', () => scim('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'x7', externalId: '00ujl29u0le5T6Aj10h7' }), 409, 'uniqueness'],
          ['a huge body', () => scim('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'x8', title: 'x'.repeat(600 * 1024) }), 413],
          ['another media type', () => scim('POST', '/Users', undefined, { raw: 'userName=x9', type: 'application/x-www-form-urlencoded' }), 415],
          ['filter injection', () => scim('GET', `/Users?filter=${encodeURIComponent('userName eq "x" or 1 eq 1; drop table users; --')}`), 400, 'invalidFilter'],
          ['filter on an unknown attribute', () => scim('GET', `/Users?filter=${encodeURIComponent('password eq "x"')}`), 400, 'invalidFilter'],
          ['unparsable filter', () => scim('GET', `/Users?filter=${encodeURIComponent('userName eq')}`), 400, 'invalidFilter'],
          ['a huge filter', () => scim('GET', `/Users?filter=${encodeURIComponent(Array.from({ length: 60 }, (_, i) => `userName eq "u${i}"`).join(' or '))}`), 400, 'invalidFilter'],
          ['paging that is not a number', () => scim('GET', '/Users?count=ten'), 400, 'invalidValue'],
          ['PATCH without PatchOp', () => scim('PATCH', `/Users/${someone}`, { Operations: [{ op: 'replace', path: 'active', value: false }] }), 400, 'invalidValue'],
          ['PATCH with an unknown op', () => scim('PATCH', `/Users/${someone}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'move', path: 'active', value: false }] }), 400, 'invalidSyntax'],
          ['PATCH of an unknown path', () => scim('PATCH', `/Users/${someone}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'isAdmin', value: true }] }), 400, 'invalidPath'],
          ['PATCH that removes an email that is not there', () => scim('PATCH', `/Users/${someone}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }, { op: 'remove', path: 'emails[type eq "home"]' }] }), 400, 'noTarget'],
          ['PATCH that would remove userName', () => scim('PATCH', `/Users/${someone}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'remove', path: 'userName' }] }), 400, 'invalidValue'],
          ['a member that is no user', () => scim('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Ghosts', members: [{ value: '999999' }] }), 400, 'invalidValue'],
          ['an unknown user', () => scim('GET', '/Users/999999'), 404],
          ['an id that is no number', () => scim('PUT', '/Users/abc', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'x10' }), 404],
          ['an unknown resource', () => scim('GET', '/Widgets'), 404],
        ];
        for (const [name, send, status, scimType] of cases) {
          const answer = await send();
          assert.equal(answer.status, status, `${name}: ${JSON.stringify(answer.body)?.slice(0, 300)}`);
          assertScimError(answer, status, scimType);
        }
        assert.equal(await snapshot(), before, 'nothing was written');
        // Paging abuse: a huge count is capped, a start far past the end is an empty page.
        const capped = await scim('GET', '/Users?count=100000000&startIndex=-5');
        assert.equal(capped.status, 200);
        assert.equal(capped.body.startIndex, 1);
        assert.ok(capped.body.itemsPerPage <= 200);
        const far = await scim('GET', '/Users?startIndex=999999999999');
        assert.deepEqual([far.status, far.body.Resources], [200, []]);
      });
    });
  }
});
