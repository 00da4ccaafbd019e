/**
 * The admin pages in real Chromium against the real CLI (`oidc-connect serve` in a fresh
 * directory): a superuser made with `createsuperuser` logs in, reads the dashboard (over a month of
 * seeded sign-in history with a spike of failures), opens alice's page (she signed in with "Okta"
 * in another browser), and deactivates her; her browser is logged out on its next request.
 * Takes docs/admin-dashboard.png and docs/admin-user.png for the README (written into docs/ with UPDATE_SCREENSHOTS=1).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { createUser } from '../src/accounts/users.ts';
import { migrate, openDatabase } from '../src/db/index.ts';
import { browserRig, browserSkipReason, SCREENSHOT_DIR } from './support/browser.ts';
import { monthOfTraffic, seedEvents } from './support/seed.ts';

const VIEWPORT = { width: 1280, height: 800 };
const SUPERUSER = { username: 'admin', email: 'admin@example.com', password: 'correct-horse-battery' };
const ALICE = { email: 'alice@example.com', password: 'wonderland', username: 'alice' };

// No time limit on the suite: how long it takes is this machine's load; each Playwright step has its own 30 s bound against a hang.
describe('admin pages in the browser (Chromium)', { skip: browserSkipReason() }, () => {
  const rig = browserRig(VIEWPORT);
  const app = () => rig.app();

  async function newPage(): Promise<Page> {
    const context = await rig.newContext();
    return context.newPage();
  }

  /**
   * What the server has not seen yet: a month of sign-in history (with a spike of failures four
   * days ago) and a few more people, written straight into the server's SQLite file, as another
   * instance sharing the database would.
   */
  async function seedHistory(): Promise<void> {
    const handle = openDatabase({ kind: 'sqlite', file: join(app().cwd, 'data', 'oidc-connect.sqlite'), display: '' });
    try {
      await migrate(handle);
      await seedEvents(handle.db, monthOfTraffic({ methods: ['default', 'local'], spikeDaysAgo: 4 }));
      for (const [username, first, last] of [['bob', 'Bob', 'Builder'], ['carol', 'Carol', 'Danvers'], ['dave', 'Dave', 'Lister']] as const) {
        await createUser(handle.db, { username, email: `${username}@example.com`, firstName: first, lastName: last });
      }
    } finally {
      await handle.close();
    }
  }

  test('a superuser manages users and reads sign-in activity', async () => {
    const { url, cli, idpOrigin } = app();
    const created = await cli(
      ['createsuperuser', '--no-input', '--username', SUPERUSER.username, '--email', SUPERUSER.email],
      { OIDC_CONNECT_SUPERUSER_PASSWORD: SUPERUSER.password },
    );
    assert.equal(created.code, 0, `createsuperuser failed:\n${created.stdout}${created.stderr}`);
    await seedHistory();

    // Alice signs in with "Okta" in her own browser.
    const alice = await newPage();
    await alice.goto(`${url}/accounts/login/`);
    await alice.getByRole('link', { name: 'Log In with Okta' }).click();
    await alice.waitForURL((u) => u.href.startsWith(idpOrigin));
    await alice.locator('input[name="email"]').fill(ALICE.email);
    await alice.locator('input[name="password"]').fill(ALICE.password);
    await alice.getByRole('button', { name: 'Sign in' }).click();
    await alice.getByRole('heading', { name: `Hi ${ALICE.username} - ${ALICE.email}!` }).waitFor();

    // The admin opens /admin/ logged out, logs in, and comes back through next.
    const page = await newPage();
    const blocked: string[] = [];
    page.on('console', (message) => { if (/Content Security Policy/i.test(message.text())) blocked.push(message.text()); });
    await page.goto(`${url}/admin/`);
    await page.waitForURL(`${url}/accounts/login/?next=%2Fadmin%2F`);
    await page.locator('input[name="username"]').fill(SUPERUSER.username);
    await page.locator('input[name="password"]').fill(SUPERUSER.password);
    await page.locator('form').getByRole('button', { name: 'Log In' }).click();
    await page.waitForURL(`${url}/admin/`);

    // The dashboard: charts drawn from the audit log, the spike called out.
    await page.getByRole('heading', { name: 'Sign-in activity' }).waitFor();
    await page.getByRole('alert').filter({ hasText: 'Spike of failed sign-ins' }).waitFor();
    const bars = await page.locator('svg.chart g.day rect:not(.hit)').count();
    assert.ok(bars >= 30, `the daily chart has bars (${bars})`);
    assert.equal(await page.locator('svg.chart .failure-line').count(), 1);
    assert.ok(await page.locator('svg.chart text.code-label', { hasText: 'INVALID_CREDENTIALS' }).isVisible());
    const active = await page.locator('.stat', { hasText: 'Active sessions' }).locator('.stat-value').textContent();
    assert.equal(active, '2', 'alice and the admin');
    // Down to the error-code chart; the recent-events table below is the audit log's, shown next.
    const codes = await page.locator('section.panel', { hasText: 'Failed sign-ins by error code' }).boundingBox();
    assert.ok(codes, 'the error-code chart is on the page');
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'admin-dashboard.png'), fullPage: true, clip: { x: 0, y: 0, width: VIEWPORT.width, height: Math.ceil(codes.y + codes.height + 14) } });

    // Users: search, then alice's page.
    await page.locator('.admin-nav').getByRole('link', { name: 'Users' }).click();
    await page.locator('input[name="q"]').fill('ali');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(`${url}/admin/users/?q=ali`);
    await page.getByRole('link', { name: 'alice', exact: true }).click();
    await page.getByRole('heading', { name: 'alice', exact: true }).waitFor();
    const identity = page.locator('section', { hasText: 'Linked identities' });
    assert.ok(await identity.getByText(`${app().issuer}`).isVisible(), 'the identity shows its issuer');
    const sessions = page.locator('section', { hasText: 'Active sessions' });
    assert.equal(await sessions.locator('tbody tr').count(), 1);
    assert.match((await sessions.locator('tbody tr').first().textContent()) ?? '', /Okta/);
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'admin-user.png'), fullPage: true });

    // Deactivate: alice's sessions end at once.
    await page.getByRole('button', { name: 'Deactivate' }).click();
    await page.getByRole('status').filter({ hasText: 'deactivated and all its sessions ended' }).waitFor();
    assert.equal(await page.locator('.badge', { hasText: 'Inactive' }).count(), 1);
    assert.ok(await page.getByText('No active session.').isVisible());

    await alice.reload();
    await alice.getByText('You are not logged in').waitFor();

    // The audit log shows the action, by whom.
    await page.locator('.admin-nav').getByRole('link', { name: 'Audit log' }).click();
    const first = page.locator('table.events tbody tr').first();
    assert.match((await first.textContent()) ?? '', /Admin action[\s\S]*alice[\s\S]*admin deactivated the account/);
    assert.deepEqual(blocked, [], 'the Content-Security-Policy blocks nothing the admin pages use');
  });
});
