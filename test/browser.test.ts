/**
 * Browser tests in real Chromium against the real CLI (`oidc-connect serve` in a fresh directory,
 * with the embedded development provider): the tutorial's local login (issue 2), "Log In with Okta"
 * with RP-initiated logout through the provider (issue 3), and two tabs logging in at once.
 * They also take the README screenshots (written under docs/ with UPDATE_SCREENSHOTS=1).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { browserRig, browserSkipReason, SCREENSHOT_DIR } from './support/browser.ts';

const VIEWPORT = { width: 1000, height: 700 };
const SUPERUSER = { username: 'admin', email: 'admin@example.com', password: 'correct-horse-battery' };
const ALICE = { email: 'alice@example.com', password: 'wonderland', username: 'alice' };

// No time limit on the suite: how long it takes is this machine's load; each Playwright step has its own 30 s bound against a hang.
describe('browser (Chromium)', { skip: browserSkipReason() }, () => {
  const rig = browserRig(VIEWPORT);
  const app = () => rig.app();

  async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await rig.newContext();
    const page = await context.newPage();
    return { context, page };
  }

  const heading = (page: Page) => page.locator('main h1');

  async function expectLoggedOut(page: Page): Promise<void> {
    await page.getByText('You are not logged in').waitFor();
    assert.equal(new URL(page.url()).pathname, '/');
  }

  async function expectHi(page: Page, username: string, email: string): Promise<void> {
    const expected = `Hi ${username} - ${email}!`;
    await page.getByRole('heading', { name: expected }).waitFor();
    assert.equal((await heading(page).textContent())?.trim(), expected);
    assert.equal(new URL(page.url()).pathname, '/');
  }

  /** From the home page: Log In, then "Log In with Okta"; resolves on the provider's sign-in form. */
  async function startOktaLogin(page: Page): Promise<void> {
    const { url, issuer } = app();
    await page.bringToFront();
    await page.goto(`${url}/`);
    await page.locator('main').getByRole('link', { name: 'Log In', exact: true }).click();
    await page.waitForURL(`${url}/accounts/login/**`);
    await page.getByRole('link', { name: 'Log In with Okta' }).click();
    await page.waitForURL((u) => u.href.startsWith(app().idpOrigin));
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.ok(page.url().startsWith(app().idpOrigin), `on the provider: ${page.url()} (issuer ${issuer})`);
  }

  async function signInAtProvider(page: Page, email: string, password: string): Promise<void> {
    // Switch to the tab as a user would; a background tab throttles the frames Playwright waits on.
    await page.bringToFront();
    await page.locator('input[name="email"]').fill(email);
    await page.locator('input[name="password"]').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const appOrigin = new URL(app().url).origin;
    await page.waitForURL((u) => u.origin === appOrigin);
    const landed = new URL(page.url());
    if (landed.pathname !== '/') {
      const text = (await page.locator('body').innerText()).replace(/\s+/g, ' ').trim();
      assert.fail(`expected the home page after signing in, got ${landed.pathname}: ${text}`);
    }
  }

  test('issue 2: superuser from the CLI logs in through the form and out again', async () => {
    const { url, cli } = app();
    const created = await cli(
      ['createsuperuser', '--no-input', '--username', SUPERUSER.username, '--email', SUPERUSER.email],
      { OIDC_CONNECT_SUPERUSER_PASSWORD: SUPERUSER.password },
    );
    assert.equal(created.code, 0, `createsuperuser failed:\n${created.stdout}${created.stderr}`);

    const { page } = await newPage();
    await page.goto(`${url}/`);
    await expectLoggedOut(page);

    await page.locator('main').getByRole('link', { name: 'Log In', exact: true }).click();
    await page.waitForURL(`${url}/accounts/login/**`);
    const username = page.locator('input[name="username"]');
    await username.waitFor();
    await page.getByRole('link', { name: 'Log In with Okta' }).waitFor();
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'login-page.png') });

    await username.fill(SUPERUSER.username);
    await page.locator('input[name="password"]').fill(SUPERUSER.password);
    await page.locator('form').getByRole('button', { name: 'Log In' }).click();
    await page.waitForURL(`${url}/`);
    await expectHi(page, SUPERUSER.username, SUPERUSER.email);
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'home-page.png') });

    await page.getByRole('button', { name: 'Log Out' }).click();
    await page.waitForURL(`${url}/?logged_out=1`);
    await expectLoggedOut(page);
    await page.getByRole('status').getByText('You have been logged out.').waitFor();

    // The session is gone on the server too, not just in this page.
    await page.reload();
    await expectLoggedOut(page);
  });

  test('issue 3: Log In with Okta as alice, then log out through the provider', async () => {
    const { url, idpOrigin, issuer } = app();
    const { page } = await newPage();
    const navigations: string[] = [];
    page.on('request', (request) => {
      if (request.isNavigationRequest() && request.frame() === page.mainFrame()) navigations.push(request.url());
    });

    await page.goto(`${url}/`);
    await expectLoggedOut(page);
    await startOktaLogin(page);
    const authorize = navigations.find((u) => u.startsWith(`${issuer}/v1/authorize`));
    assert.ok(authorize, `went through ${issuer}/v1/authorize: ${navigations.join('\n')}`);
    // The development provider offers PAR, so the request was pushed: the browser carries only its
    // request_uri, none of the parameters (state, nonce, redirect_uri… went to the provider directly).
    const params = new URL(authorize).searchParams;
    assert.deepEqual([...params.keys()].sort(), ['client_id', 'request_uri']);
    await page.getByText('Development provider').first().waitFor();
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'dev-idp-login.png') });

    await signInAtProvider(page, ALICE.email, ALICE.password);
    await expectHi(page, ALICE.username, ALICE.email);
    assert.ok(
      navigations.some((u) => u.startsWith(`${url}/authorization-code/callback`)),
      'the provider returned to the callback',
    );
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'home-alice.png') });

    navigations.length = 0;
    await page.getByRole('button', { name: 'Log Out' }).click();
    // The provider's confirmation submits itself; wait for the end of the chain, not for the form.
    await page.waitForURL(`${url}/?logged_out=1`);
    await expectLoggedOut(page);
    await page.getByRole('status').getByText('You have been logged out.').waitFor();

    const logout = navigations.find((u) => u.startsWith(`${issuer}/v1/logout`));
    assert.ok(logout, `logout went through the provider's /v1/logout:\n${navigations.join('\n')}`);
    const logoutParams = new URL(logout).searchParams;
    assert.ok(logoutParams.get('id_token_hint'), 'id_token_hint is sent');
    assert.equal(logoutParams.get('post_logout_redirect_uri'), `${url}/signout/callback`);
    assert.ok(
      navigations.some((u) => u.startsWith(`${url}/signout/callback`)),
      `returned through /signout/callback:\n${navigations.join('\n')}`,
    );
    assert.ok(navigations.some((u) => u.startsWith(idpOrigin)), 'visited the provider');

    // The provider's session ended as well: logging in again asks for the password.
    await startOktaLogin(page);
  });

  test('two tabs start "Log In with Okta" before either finishes; both end logged in', async () => {
    const { url } = app();
    const { context } = await newPage();
    const tab1 = context.pages()[0]!;
    const tab2 = await context.newPage();

    await startOktaLogin(tab1);
    await startOktaLogin(tab2);

    await signInAtProvider(tab2, ALICE.email, ALICE.password);
    await expectHi(tab2, ALICE.username, ALICE.email);

    await signInAtProvider(tab1, ALICE.email, ALICE.password);
    await expectHi(tab1, ALICE.username, ALICE.email);

    // Both tabs share the cookie jar, so both show the signed-in home page.
    await tab2.goto(`${url}/`);
    await expectHi(tab2, ALICE.username, ALICE.email);
  });

  test('issue 19: a forgotten password, reset right after npm start through the development mailbox', async () => {
    const { url, cli } = app();
    const created = await cli(['createsuperuser', '--no-input', '--username', 'newcomer', '--email', 'newcomer@example.com'],
      { OIDC_CONNECT_SUPERUSER_PASSWORD: 'a forgotten password' });
    assert.equal(created.code, 0, created.stderr);
    const { page } = await newPage();
    await page.goto(`${url}/accounts/login/`);
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.waitForURL(`${url}/accounts/password_reset/`);
    await page.locator('input[name="email"]').fill('newcomer@example.com');
    await page.getByRole('button', { name: 'Reset my password' }).click();
    await page.waitForURL(`${url}/accounts/password_reset/done/`);
    await page.getByRole('heading', { name: 'Password reset sent' }).waitFor();

    // The startup banner links to the mailbox; the sender puts the mail there a moment later.
    assert.match(app().output(), new RegExp(`Development mailbox .*: ${url}/dev/mailbox/`));
    await page.goto(`${url}/dev/mailbox/`);
    const mail = page.locator('table.data tbody tr').filter({ hasText: 'newcomer@example.com' });
    while ((await mail.count()) === 0) await page.reload();
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'dev-mailbox.png') });
    const link = mail.locator('a[href*="/accounts/reset/"]');
    const href = (await link.getAttribute('href'))!;
    assert.ok(href.startsWith(`${url}/accounts/reset/`), href);
    assert.ok(app().output().includes(href), 'the link is printed in the log too');

    await link.click();
    await page.waitForURL(/\/accounts\/reset\/[\w-]+\/set-password\/$/);
    await page.getByRole('heading', { name: 'Enter new password' }).waitFor();
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'password-reset.png') });
    await page.locator('input[name="new_password1"]').fill('a remembered passphrase');
    await page.locator('input[name="new_password2"]').fill('a remembered passphrase');
    await page.getByRole('button', { name: 'Change my password' }).click();
    await page.waitForURL(`${url}/accounts/reset/done/`);
    await page.getByText('Your password has been set. You may go ahead and log in now.').waitFor();

    await page.getByRole('link', { name: 'Log in', exact: true }).click();
    await page.locator('input[name="username"]').fill('newcomer');
    await page.locator('input[name="password"]').fill('a remembered passphrase');
    await page.locator('form').getByRole('button', { name: 'Log In' }).click();
    await page.waitForURL(`${url}/`);
    await expectHi(page, 'newcomer', 'newcomer@example.com');

    // The link worked once.
    await page.goto(href);
    await page.getByRole('heading', { name: 'Password reset unsuccessful' }).waitFor();
  });
});
