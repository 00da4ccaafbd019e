/**
 * Second factors with two app processes (`oidc-connect serve`) on one PostgreSQL database, each with
 * its session cache: a factor removed on A ends the user's sessions on B within the cache contract
 * (B drops them when A's change reaches it through LISTEN/NOTIFY; the test allows 1 s, as
 * test/session-cache.test.ts does). Each session is first shown to be served from B's cache: a rename
 * made behind the owners' backs stays unseen there.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { createUser } from '../src/accounts/users.ts';
import { openDatabase, type DatabaseHandle } from '../src/db/index.ts';
import { DEV_CLIENT_ID, DEV_CLIENT_SECRET, startDevIdp, type DevIdp } from '../src/dev-idp/index.ts';
import { sealer } from '../src/sealed.ts';
import { activateTotp } from '../src/mfa/totp.ts';
import { createSession } from '../src/sessions/index.ts';
import { freePort } from './support/app.ts';
import { HttpClient, hiddenField } from './support/http-client.ts';
import { startInstance, type Instance } from './support/instances.ts';
import { postgresTarget, type TestDatabase } from './support/postgres.ts';
import { timeStep } from './support/totp.ts';

const SECRET = 'shared-secret-of-both-instances-0123456789';
const policy = { maxAgeSeconds: 3600, idleTimeoutSeconds: 3600 };

/** The session's user as an instance sees it, through /api/me; null when it refuses the cookie. */
async function me(instance: Instance, secret: string): Promise<Record<string, unknown> | null> {
  const response = await fetch(`${instance.url}/api/me`, { headers: { cookie: `oc_session=${secret}`, accept: 'application/json' } });
  if (response.status === 401) return null;
  assert.equal(response.status, 200, `${instance.name} answered ${response.status}`);
  return await response.json() as Record<string, unknown>;
}

async function refusedWithin1s(instance: Instance, secret: string, what: string): Promise<void> {
  const start = Date.now();
  while ((await me(instance, secret)) !== null) {
    if (Date.now() - start > 1000) assert.fail(`${instance.name} still accepts the session 1 s after ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('second factors on two app processes sharing PostgreSQL', { skip: postgresTarget.skip }, () => {
  let database: TestDatabase | undefined;
  let handle: DatabaseHandle;
  let idp: DevIdp | undefined;
  let a: Instance | undefined;
  let b: Instance | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-mfa-instances-'));
  let serial = 0;

  before(async () => {
    database = await postgresTarget.create();
    const [portA, portB] = [await freePort(), await freePort()];
    idp = await startDevIdp({ port: await freePort(), appUrl: `http://127.0.0.1:${portA}`, dataDir: dir });
    const env = {
      APP_URL: `http://127.0.0.1:${portA}`, SESSION_SECRET: SECRET, DATABASE_URL: database.url, DATABASE_POOL_SIZE: '4',
      OIDC_ISSUER: idp.issuer, OIDC_RP_CLIENT_ID: DEV_CLIENT_ID, OIDC_RP_CLIENT_SECRET: DEV_CLIENT_SECRET, LOG_LEVEL: 'info',
    };
    b = await startInstance('B', portB, env, dir);
    a = await startInstance('A', portA, env, dir);
    handle = openDatabase({ kind: 'postgres', url: database.url, poolSize: 2, display: 'test' });
    for (const instance of [a, b]) {
      const start = Date.now();
      while (!instance.output().includes('session cache on')) {
        assert.ok(Date.now() - start < 15_000, `${instance.name}'s session cache did not start:\n${instance.output()}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await idp?.close();
    await handle?.close();
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A user with an authenticator app and a session that B serves from its cache. */
  async function enrolledAndCachedOnB(password?: string) {
    const user = await createUser(handle.db, { username: `two${++serial}`, firstName: 'Original', ...(password ? { password } : {}) });
    await activateTotp(handle.db, sealer(SECRET, 'totp secret'), user.id, 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', timeStep(Date.now()));
    const secret = await createSession(handle.db, policy, { userId: user.id, amr: ['pwd', 'otp', 'mfa'] });
    assert.equal((await me(b!, secret))?.['first_name'], 'Original');
    await sql`update users set first_name = 'Renamed' where id = ${user.id}`.execute(handle.db);
    assert.equal((await me(b!, secret))?.['first_name'], 'Original', 'B serves the session from its cache');
    return { user, secret };
  }

  test('a superuser removes a user\'s factors on A: the user\'s session cached on B ends within 1 s', async () => {
    const victim = await enrolledAndCachedOnB();
    const root = await createUser(handle.db, { username: `root${++serial}`, isStaff: true, isSuperuser: true });
    const client = new HttpClient();
    client.setCookie(a!.url, 'oc_session', await createSession(handle.db, policy, { userId: root.id, amr: ['pwd', 'otp', 'mfa'] }));
    const page = await client.get(`${a!.url}/admin/users/${victim.user.id}/`);
    assert.match(page.body, /Active since/);
    const removed = await client.post(`${a!.url}/admin/users/${victim.user.id}/mfa/remove`, { _csrf: hiddenField(page.body, '_csrf') });
    assert.equal(removed.status, 303);
    await refusedWithin1s(b!, victim.secret, 'the factors were removed on A');
  });

  test('a user deactivates their authenticator app on A: their other session, cached on B, ends within 1 s', async () => {
    const password = 'a long enough password';
    const user = await enrolledAndCachedOnB(password);
    const client = new HttpClient();
    client.setCookie(a!.url, 'oc_session', await createSession(handle.db, policy, { userId: user.user.id, amr: ['pwd', 'otp', 'mfa'] }));
    const page = await client.get(`${a!.url}/accounts/2fa/totp/deactivate/`);
    const done = await client.post(`${a!.url}/accounts/2fa/totp/deactivate/`, { _csrf: hiddenField(page.body, '_csrf'), password });
    assert.equal(done.status, 303, done.body.slice(0, 300));
    await refusedWithin1s(b!, user.secret, 'the app was deactivated on A');
    assert.ok(await me(a!, client.cookie(a!.url, 'oc_session')!), 'the session that did it lives on');
  });
});
