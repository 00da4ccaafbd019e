/**
 * Universal Logout and groups to roles through a real provider: the app and the development
 * provider (src/dev-idp), whose own signing keys (kept in its data folder) sign the Universal Logout
 * JWTs, as Okta signs them with its keys; sign-ins through its login form carry its groups claim.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { importJWK, SignJWT, type JWK } from 'jose';
import { deriveSub, startDevIdp, type DevIdp } from '../src/dev-idp/index.ts';
import { loadOrCreateKeys } from '../src/dev-idp/keys.ts';
import { providerLogin, startDevStack, type DevStack } from './support/dev-stack.ts';
import { HttpClient } from './support/http-client.ts';

const TOKEN = 'scim-token-for-the-lifecycle-tests-0123456789';
const RULES = { Admins: ['superuser'], Support: ['staff', 'support'] };
const carol = { email: 'carol@example.com', password: 'carol-password', given_name: 'Carol', preferred_username: 'carol', groups: ['Everyone', 'Support'] };
const dave = { email: 'dave@example.com', password: 'dave-password', given_name: 'Dave', preferred_username: 'dave', groups: ['Everyone'] };

describe('enterprise lifecycle with the development provider', () => {
  let stack: DevStack;
  let idp: DevIdp;
  let key: JWK;
  let endpoint: string;

  const me = async (client: HttpClient) => {
    const hop = await client.get(`${stack.app.url}/api/me`, { accept: 'application/json' });
    return { status: hop.status, body: hop.status === 200 ? JSON.parse(hop.body) : undefined };
  };
  const scim = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${stack.app.url}/scim/v2${path}`, {
      method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/scim+json' }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  /** A Universal Logout JWT as Okta makes one: signed with the provider's key, for this endpoint. */
  const jwt = async (claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) => {
    const now = Math.floor(Date.now() / 1000);
    const { alg = 'RS256', ...rest } = header;
    return new SignJWT({ jti: randomUUID(), ...claims })
      .setProtectedHeader({ alg: alg as string, kid: key.kid!, typ: 'global-token-revocation+jwt', ...rest })
      .setIssuer((claims.iss as string | undefined) ?? idp.issuer).setAudience((claims.aud as string | undefined) ?? endpoint)
      .setIssuedAt((claims.iat as number | undefined) ?? now).setExpirationTime((claims.exp as number | undefined) ?? now + 300)
      .sign(await importJWK(key, 'RS256'));
  };
  const revoke = async (token: string | null, body: unknown) => {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, body: await response.text() };
  };

  before(async () => {
    stack = await startDevStack({ SCIM_TOKENS: TOKEN, ROLE_RULES: JSON.stringify(RULES) }, [carol, dave]);
    idp = stack.idp;
    endpoint = `${stack.app.url}/oauth/global-token-revocation`;
    key = (await loadOrCreateKeys(stack.app.dir)).signing.find((k) => k.alg === 'RS256')!;
  });
  after(async () => {
    await stack?.close();
    if (idp !== stack?.idp) await idp?.close(); // the one the staff test started
  });

  test('the same roles through the ID token\'s groups claim as through SCIM Groups', async () => {
    const client = new HttpClient();
    assert.equal((await providerLogin(client, stack.app.url, carol)).status, 302);
    const viaClaims = await me(client);
    assert.deepEqual(viaClaims.body.roles, ['staff', 'support']);
    assert.equal(viaClaims.body.is_staff, true);

    const user = await scim('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'scim.support', active: true });
    const group = await scim('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Support', members: [{ value: user.body.id }] });
    assert.equal(group.status, 409, 'Support exists already: the claim brought it');
    const found = await scim('GET', `/Groups?filter=${encodeURIComponent('displayName eq "Support"')}`);
    const groupId = found.body.Resources[0].id;
    assert.equal((await scim('PATCH', `/Groups/${groupId}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'add', path: 'members', value: [{ value: user.body.id }] }] })).status, 204);
    const row = await stack.app.database.db.selectFrom('users').selectAll().where('id', '=', Number(user.body.id)).executeTakeFirstOrThrow();
    assert.deepEqual(JSON.parse(row.rule_roles), viaClaims.body.roles.filter((r: string) => r !== 'superuser'));
    assert.equal(row.is_staff, 1);
  });

  test('staff rights given by the groups claim go at the next sign-in once the group is gone', async () => {
    const client = new HttpClient();
    assert.equal((await providerLogin(client, stack.app.url, carol)).status, 302);
    assert.equal((await me(client)).body.is_staff, true);
    // The provider drops carol from Support: same keys, same port, new users file.
    await idp.close();
    const file = join(stack.app.dir, 'users-after.json');
    writeFileSync(file, JSON.stringify([{ ...carol, groups: ['Everyone'] }, dave]));
    idp = await startDevIdp({ port: idp.port, appUrl: stack.app.url, dataDir: stack.app.dir, usersFile: file });
    assert.equal((await me(client)).body.is_staff, true, 'the open session keeps them until the next sign-in');
    const again = new HttpClient();
    assert.equal((await providerLogin(again, stack.app.url, carol)).status, 302);
    const after = await me(again);
    assert.deepEqual([after.body.is_staff, after.body.roles], [false, []]);
    assert.deepEqual((await me(client)).body.roles, [], 'the change to the user reaches the older session too');
  });

  test('Universal Logout: every sub_id format ends the user\'s sessions, 204', async () => {
    const client = new HttpClient();
    assert.equal((await providerLogin(client, stack.app.url, dave)).status, 302);
    assert.equal((await me(client)).status, 200);
    const answer = await revoke(await jwt(), { sub_id: { format: 'iss_sub', iss: idp.issuer, sub: deriveSub(dave.email) } });
    assert.equal(answer.status, 204, answer.body);
    assert.equal((await me(client)).status, 401, 'the session ended');
    const event = await stack.app.database.db.selectFrom('audit_log').selectAll().where('type', '=', 'universal_logout').where('user_id', 'is not', null).executeTakeFirstOrThrow();
    assert.match(event.detail, /1 session\(s\) ended/);

    assert.equal((await providerLogin(client, stack.app.url, dave)).status, 302, 'the user may sign in again');
    // Okta's guide names the member `subject`, and its email format.
    assert.equal((await revoke(await jwt(), { subject: { format: 'email', email: dave.email } })).status, 204);
    assert.equal((await me(client)).status, 401);
    const provisioned = await scim('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'opaque.user', externalId: 'ext-opaque-1', active: true });
    assert.equal(provisioned.status, 201);
    assert.equal((await revoke(await jwt(), { sub_id: { format: 'opaque', id: 'ext-opaque-1' } })).status, 204);
  });

  test('Universal Logout refuses wrong aud, wrong iss, expired, replayed jti, alg none and no token (401); unknown users 404; malformed bodies 400', async () => {
    const client = new HttpClient();
    assert.equal((await providerLogin(client, stack.app.url, dave)).status, 302);
    const body = { sub_id: { format: 'iss_sub', iss: idp.issuer, sub: deriveSub(dave.email) } };
    const now = Math.floor(Date.now() / 1000);
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify({ iss: idp.issuer, aud: endpoint, jti: randomUUID(), iat: now, exp: now + 300 })).toString('base64url')}.`;
    const refusals: [string, string | null][] = [
      ['wrong aud', await jwt({ aud: 'https://another.example/oauth/global-token-revocation' })],
      ['wrong iss', await jwt({ iss: 'https://attacker.example' })],
      ['expired', await jwt({ iat: now - 900, exp: now - 600 })],
      ['alg none', none],
      ['no token', null],
      ['not a JWT', 'abc'],
    ];
    for (const [name, token] of refusals) {
      const answer = await revoke(token, body);
      assert.equal(answer.status, 401, `${name}: ${answer.body}`);
    }
    assert.equal((await me(client)).status, 200, 'nothing was logged out');
    const once = await jwt();
    assert.equal((await revoke(once, { sub_id: { format: 'email', email: 'nobody@example.com' } })).status, 404);
    assert.equal((await revoke(once, body)).status, 401, 'a replayed jti is refused');
    assert.equal((await me(client)).status, 200);
    for (const bad of [{}, { sub_id: 'x' }, { sub_id: { format: 'phone_number', phone_number: '+1' } }, { sub_id: { format: 'iss_sub', iss: idp.issuer } }, '{"sub_id":']) {
      assert.equal((await revoke(await jwt(), bad)).status, 400, JSON.stringify(bad));
    }
    assert.equal((await revoke(await jwt(), { sub_id: { format: 'iss_sub', iss: idp.issuer, sub: '00unknown' } })).status, 404);
    assert.equal((await me(client)).status, 200);
  });
});
