/**
 * Issue 17, finding 3: on PostgreSQL, an instance whose listening connection goes silent (no FIN, no
 * RST: a NAT or load balancer that forgot it, a failover, a paused VM) must stop serving from its
 * cache within the bound docs/sessions.md gives (3 s: a heartbeat every second, answered within 2 s), not
 * after TCP's two hours. Two apps on one database: A connects directly; B's connections go through a
 * relay (test/support/pg-relay.ts) that black-holes only B's listening connection, while B's pool
 * keeps working. Sessions are ended on A; B must refuse them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { createUser } from '../src/accounts/users.ts';
import { openDatabase, type DatabaseHandle } from '../src/db/index.ts';
import { createSession } from '../src/sessions/index.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { HttpClient, hiddenField } from './support/http-client.ts';
import { PgRelay } from './support/pg-relay.ts';
import { postgresTarget, type TestDatabase } from './support/postgres.ts';

/** The bound in docs/sessions.md (3 s), and 2 s for a loaded test machine's timers. */
const REFUSED_WITHIN_MS = 5000;
const policy = { maxAgeSeconds: 3600, idleTimeoutSeconds: 600 };

describe('an instance whose listening connection goes silent (PostgreSQL)', { skip: postgresTarget.skip }, () => {
  let database: TestDatabase | undefined;
  let relay: PgRelay | undefined;
  let handle: DatabaseHandle | undefined;
  let a: TestApp | undefined;
  let b: TestApp | undefined;
  let admin: string;
  let serial = 0;

  before(async () => {
    database = await postgresTarget.create();
    relay = await PgRelay.start(database.url);
    handle = openDatabase({ kind: 'postgres', url: database.url, poolSize: 2, display: 'test' });
    a = await startTestApp({ DATABASE_URL: database.url });
    b = await startTestApp({ DATABASE_URL: relay.url(database.url) });
    const root = await createUser(handle.db, { username: 'root', email: 'root@example.com', isStaff: true, isSuperuser: true });
    admin = await createSession(handle.db, policy, { userId: root.id });
  });

  after(async () => {
    await a?.close();
    await b?.close();
    await relay?.close();
    await handle?.close();
    await database?.drop();
  });

  /** The session's user as `app` sees it (/api/me); null when it refuses the cookie. */
  async function me(app: TestApp, secret: string): Promise<Record<string, unknown> | null> {
    const response = await fetch(`${app.url}/api/me`, { headers: { cookie: `oc_session=${secret}`, accept: 'application/json' } });
    if (response.status === 401) return null;
    assert.equal(response.status, 200);
    return await response.json() as Record<string, unknown>;
  }

  /**
   * A user with a session that B serves from its cache: a rename made behind the owners' backs
   * (announced to no one) stays unseen on B. Waits for B's listener to be up (it may be reconnecting).
   */
  async function cachedOnB(): Promise<{ userId: number; secret: string }> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const user = await createUser(handle!.db, { username: `silent${++serial}`, firstName: 'Original' });
      const secret = await createSession(handle!.db, policy, { userId: user.id });
      assert.equal((await me(b!, secret))?.['first_name'], 'Original');
      await sql`update users set first_name = 'Renamed' where id = ${user.id}`.execute(handle!.db);
      if ((await me(b!, secret))?.['first_name'] === 'Original') return { userId: user.id, secret };
      assert.ok(Date.now() < deadline, 'B never served a session from its cache');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** How long after `since` B first refuses `secret`; fails past REFUSED_WITHIN_MS. */
  async function refusedByB(secret: string, since: number, what: string): Promise<number> {
    for (;;) {
      if ((await me(b!, secret)) === null) return Date.now() - since;
      assert.ok(Date.now() - since < REFUSED_WITHIN_MS, `B still accepts the session ${REFUSED_WITHIN_MS} ms after ${what}, with its listener black-holed`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Posts one of a page's forms on A as the holder of `secret`, with that page's CSRF token. */
  async function postOnA(secret: string, page: string, action: string, form: Record<string, string>): Promise<void> {
    const client = new HttpClient();
    client.setCookie(a!.url, 'oc_session', secret);
    const shown = await client.get(`${a!.url}${page}`);
    assert.equal(shown.status, 200, `${page} answered ${shown.status}`);
    const hop = await client.post(`${a!.url}${action}`, { _csrf: hiddenField(shown.body, '_csrf'), ...form });
    assert.ok(hop.status === 302 || hop.status === 303, `${action} answered ${hop.status}: ${hop.body.slice(0, 300)}`);
  }

  test(`a logout on A is refused by B within ${REFUSED_WITHIN_MS} ms of its listener going silent`, async (t) => {
    const f = await cachedOnB();
    relay!.blackHoleListeners();
    const silentSince = Date.now();
    await postOnA(f.secret, '/', '/accounts/logout/', {});
    assert.equal(await me(a!, f.secret), null, 'A refuses it at once');
    t.diagnostic(`B refused it ${await refusedByB(f.secret, silentSince, 'the logout')} ms after its listener went silent`);
  });

  test(`a user deactivated by an admin on A is refused by B within ${REFUSED_WITHIN_MS} ms of its listener going silent`, async (t) => {
    relay!.heal();
    const f = await cachedOnB();
    relay!.blackHoleListeners();
    const silentSince = Date.now();
    await postOnA(admin, `/admin/users/${f.userId}/`, `/admin/users/${f.userId}/active`, { active: '0' });
    t.diagnostic(`B refused it ${await refusedByB(f.secret, silentSince, 'the deactivation')} ms after its listener went silent`);
  });
});
