/**
 * examples/express.ts in real Chromium, on Express 5, as `node examples/express.ts` runs it in a
 * fresh directory: its development provider, "Log In with Okta" from the protected page, and a
 * local account from `oidc-connect createsuperuser` through the login form.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { browserRig, browserSkipReason, PROJECT_ROOT } from './support/browser.ts';

// The example imports 'oidc-connect/express', as an app does: the package's own name, here resolved to its sources.
const EXAMPLE = [`--import=${join(PROJECT_ROOT, 'test/support/express5.ts')}`, '--conditions=oidc-connect-source', join(PROJECT_ROOT, 'examples/express.ts')];

// No time limit on the suite: how long it takes is this machine's load; each Playwright step has its own 30 s bound against a hang.
describe('the Express example in Chromium', { skip: browserSkipReason() }, () => {
  const rig = browserRig({ width: 1000, height: 700 }, { command: EXAMPLE });

  async function expectPrivatePage(page: Page, username: string): Promise<void> {
    await page.getByRole('heading', { name: `Private page for ${username}` }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/private');
  }

  test('it runs on Express 5', () => {
    assert.match(rig.app().output(), /Express example on http:\/\/localhost:\d+\/private/);
    // What `import express from 'express'` gets under the same hook: Express 5's app.router (Express 4's throws).
    const probe = execFileSync(process.execPath, [EXAMPLE[0]!, '--input-type=module', '-e',
      "import express from 'express'; console.log(typeof express().router)"], { cwd: PROJECT_ROOT, encoding: 'utf8' });
    assert.equal(probe.trim(), 'function');
  });

  test('/private sends a visitor to the login page; "Log In with Okta" brings alice back to it', async () => {
    const { url, idpOrigin } = rig.app();
    const page = await (await rig.newContext()).newPage();
    await page.goto(`${url}/private`);
    await page.waitForURL(`${url}/accounts/login/?next=%2Fprivate`);
    await page.getByRole('link', { name: 'Log In with Okta' }).click();
    await page.waitForURL((u) => u.origin === idpOrigin);
    await page.locator('input[name="email"]').fill('alice@example.com');
    await page.locator('input[name="password"]').fill('wonderland');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expectPrivatePage(page, 'alice');
    await page.getByText('Signed in as alice (alice@example.com).').waitFor();

    // Through the provider's logout, whose confirmation submits itself, back to the example's home page.
    await page.getByRole('button', { name: 'Log Out' }).click();
    await page.waitForURL(`${url}/?logged_out=1`);
    await page.getByText('You are not logged in.').waitFor();
    await page.goto(`${url}/private`);
    await page.waitForURL(`${url}/accounts/login/?next=%2Fprivate`);
  });

  test('a local account signs in through the form and lands on /private', async () => {
    const { url, cli } = rig.app();
    const created = await cli(['createsuperuser', '--no-input', '--username', 'admin', '--email', 'admin@example.com'],
      { OIDC_CONNECT_SUPERUSER_PASSWORD: 'correct-horse-battery' });
    assert.equal(created.code, 0, `createsuperuser failed:\n${created.stdout}${created.stderr}`);
    const page = await (await rig.newContext()).newPage();
    await page.goto(`${url}/private`);
    await page.waitForURL(`${url}/accounts/login/?next=%2Fprivate`);
    await page.locator('input[name="username"]').fill('admin');
    await page.locator('input[name="password"]').fill('correct-horse-battery');
    await page.locator('form').getByRole('button', { name: 'Log In' }).click();
    await expectPrivatePage(page, 'admin');
    await page.getByRole('button', { name: 'Log Out' }).click();
    await page.waitForURL(`${url}/?logged_out=1`);
    await page.getByText('You are not logged in.').waitFor();
  });
});
