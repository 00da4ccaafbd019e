/**
 * Anonymous requests must not grow the database without bound (issue 10, item 5): login starts
 * leave a bounded number of pending flows per browser and per address, and bogus callbacks or
 * back-channel POSTs leave a handful of audit rows that still count every failure for the dashboard.
 * Client addresses come from X-Forwarded-For (TRUST_PROXY=true).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createUser } from '../src/accounts/users.ts';
import { failuresByCode } from '../src/audit/stats.ts';
import { signIn } from './support/dev-idp-login.ts';
import { startDevStack, type DevStack } from './support/dev-stack.ts';
import { HttpClient, hiddenField, type Hop } from './support/http-client.ts';

const alice = { email: 'alice@example.com', password: 'wonderland' };
const PER_IP = 50;

/** Runs `count` requests, `width` at a time. */
async function inBatches(count: number, width: number, send: (i: number) => Promise<Hop>): Promise<Hop[]> {
  const hops: Hop[] = [];
  for (let i = 0; i < count; i += width) {
    hops.push(...await Promise.all(Array.from({ length: Math.min(width, count - i) }, (_, j) => send(i + j))));
  }
  return hops;
}

describe('anonymous requests keep the database small', () => {
  let s: DevStack;
  before(async () => {
    s = await startDevStack({ TRUST_PROXY: 'true', OIDC_PENDING_LOGINS_PER_IP: String(PER_IP) });
  });
  after(() => s?.close());

  const flows = async () => (await s.app.database.db.selectFrom('oidc_flows').select('id').execute()).length;
  const start = (client: HttpClient, ip: string) => client.get(`${s.app.url}/authorization-code/authenticate/?next=/api/me`, { 'x-forwarded-for': ip });
  /** Signs in at the provider for a started flow and brings its answer back to our callback. */
  const finish = async (client: HttpClient, started: Hop, ip: string) => {
    const callback = await signIn(client, started.location!, `${s.app.url}/authorization-code/callback`, alice);
    return client.get(callback.href, { 'x-forwarded-for': ip });
  };

  test('300 login starts in one browser, one after another, leave exactly 20 pending flows; the newest finishes, the oldest is gone', async () => {
    await s.app.database.db.deleteFrom('oidc_flows').execute();
    const browser = new HttpClient();
    const starts = await inBatches(300, 1, () => start(browser, '192.0.2.10'));
    assert.ok(starts.every((h) => h.status === 302));
    assert.equal(await flows(), 20, 'pending flows for one browser');
    assert.equal((await finish(browser, starts.at(-1)!, '192.0.2.10')).location, `${s.app.url}/api/me`);
    const oldest = await finish(new HttpClient(), starts[0]!, '192.0.2.10');
    assert.equal(oldest.status, 400);
    assert.match(oldest.body, /STATE_INVALID/);
  });

  // Starts in flight at once may each count the address's flows before the others' inserts (on
  // PostgreSQL), so during the flood the bound holds within the 20 in flight; the next start counts them all.
  test(`300 starts from one address with fresh browsers, 20 at a time, then one more: the address keeps exactly ${PER_IP} pending flows, the last among them; another address's login is untouched`, async () => {
    await s.app.database.db.deleteFrom('oidc_flows').execute();
    const neighbour = new HttpClient();
    const theirs = await start(neighbour, '192.0.2.21');
    await inBatches(300, 20, () => start(new HttpClient(), '192.0.2.20'));
    const lastBrowser = new HttpClient();
    const last = await start(lastBrowser, '192.0.2.20');
    assert.equal(await flows(), PER_IP + 1, `${PER_IP} pending flows from the address, and the neighbour's one`);
    assert.equal((await finish(lastBrowser, last, '192.0.2.20')).location, `${s.app.url}/api/me`);
    assert.equal((await finish(neighbour, theirs, '192.0.2.21')).location, `${s.app.url}/api/me`);
  });

  test('600 bogus callbacks and 600 bogus back-channel POSTs from one address: one audit row per minute each, whose counts add up to 600; the dashboard still counts 600', async () => {
    const db = s.app.database.db;
    const minute = () => Math.floor(Date.now() / 60_000);
    /** The address's audit rows: one per minute the requests spanned, their counts adding up to `total`. */
    const assertGrouped = async (ip: string, minutes: number, total: number) => {
      const rows = await db.selectFrom('audit_log').select(['time', 'count']).where('ip', '=', ip).execute();
      assert.ok(rows.length >= 1 && rows.length <= minutes, `${rows.length} audit rows over ${minutes} minute(s)`);
      assert.equal(new Set(rows.map((r) => r.time)).size, rows.length, 'one row per minute');
      assert.equal(rows.reduce((sum, r) => sum + Number(r.count), 0), total);
    };
    const before = (await failuresByCode(db, 0)).find((c) => c.code === 'STATE_INVALID')?.count ?? 0;

    let first = minute();
    const callbacks = await inBatches(600, 50, (i) =>
      new HttpClient().get(`${s.app.url}/authorization-code/callback?code=x&state=bogus${i}`, { 'x-forwarded-for': '192.0.2.30' }));
    assert.ok(callbacks.every((h) => h.status === 400));
    await assertGrouped('192.0.2.30', minute() - first + 1, 600);

    first = minute();
    const posts = await inBatches(600, 50, () =>
      new HttpClient().post(`${s.app.url}/oidc/backchannel-logout`, { logout_token: 'not.a.token' }, { 'x-forwarded-for': '192.0.2.31' }));
    assert.ok(posts.every((h) => h.status === 400));
    await assertGrouped('192.0.2.31', minute() - first + 1, 600);

    const after = (await failuresByCode(db, 0)).find((c) => c.code === 'STATE_INVALID')?.count ?? 0;
    assert.equal(after - before, 600, 'every bogus callback is counted');

    // The dashboard shows them: today's failures and the spike banner.
    await createUser(db, { username: 'staff', email: 'staff@example.com', password: 'staff password', isStaff: true });
    const staff = new HttpClient();
    const page = await staff.get(`${s.app.url}/accounts/login/`);
    const login = await staff.post(`${s.app.url}/accounts/login/`, { _csrf: hiddenField(page.body, '_csrf'), next: '/admin/', username: 'staff', password: 'staff password' });
    assert.equal(login.status, 302);
    const dashboard = await staff.get(`${s.app.url}/admin/`);
    const today = Number(/<span class="stat-value">(\d+)<\/span><span class="stat-label">Failed today/.exec(dashboard.body)?.[1]);
    assert.ok(today >= 600, `failed today on the dashboard: ${today}`);
    assert.match(dashboard.body, /Spike of failed sign-ins:<\/strong> \d{3,}/);
  });

  test('every real sign-in attempt keeps a row of its own', async () => {
    const db = s.app.database.db;
    const client = new HttpClient();
    const headers = { 'x-forwarded-for': '192.0.2.40' };
    const page = await client.get(`${s.app.url}/accounts/login/`, headers);
    for (const username of ['mallory', 'mallory', 'trent']) {
      const hop = await client.post(`${s.app.url}/accounts/login/`, { _csrf: hiddenField(page.body, '_csrf'), next: '/', username, password: 'wrong password' }, headers);
      assert.equal(hop.status, 401);
    }
    const rows = await db.selectFrom('audit_log').select(['username', 'error_code']).where('ip', '=', '192.0.2.40').orderBy('id').execute();
    assert.deepEqual(rows.map((r) => ({ ...r })), ['mallory', 'mallory', 'trent'].map((username) => ({ username, error_code: 'INVALID_CREDENTIALS' })));
  });
});
