/**
 * Passkeys in real Chromium, with its virtual authenticator (the DevTools protocol's WebAuthn domain:
 * CTAP2, internal transport, resident keys, user verification): a user enrols a passkey, signs out,
 * signs in with the passkey alone from the login page, then uses it as the second step after the
 * password; a signature counter that goes backwards is refused. The app is on http://localhost (a
 * WebAuthn RP ID must be a host name, and localhost is a secure context) in this process, and the
 * page loads @simplewebauthn/browser from it, under its Content-Security-Policy.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { createUser } from '../src/accounts/users.ts';
import { createRelyingParty } from '../src/rp/index.ts';
import { sessionIdFor } from '../src/sessions/index.ts';
import { buildApp } from '../src/web/app.ts';
import { freePort, testAppBase, type TestAppBase } from './support/app.ts';
import { browserSkipReason, launchChromium } from './support/browser.ts';

const PASSWORD = 'a long enough password';

describe('passkeys in Chromium with a virtual authenticator', { skip: browserSkipReason(), timeout: 180_000 }, () => {
  let base: TestAppBase;
  let close: () => Promise<void>;
  let url: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let cdp: CDPSession;
  let authenticatorId: string;
  let userId: number;
  const problems: string[] = [];

  before(async () => {
    const port = await freePort();
    url = `http://localhost:${port}`;
    base = await testAppBase('passkeys', { APP_URL: url, LOGIN_RATE_LIMIT_PER_MINUTE: '10000' });
    const app = await buildApp({ config: base.config, db: base.database.db, rp: createRelyingParty(base.config, base.database.db) });
    await app.listen({ port, host: '127.0.0.1' });
    close = async () => {
      await app.close();
      await base.close();
    };
    userId = (await createUser(base.database.db, { username: 'pat', email: 'pat@example.com', firstName: 'Pat', password: PASSWORD })).id;

    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1000, height: 800 }, locale: 'en-US' });
    context.setDefaultTimeout(15_000);
    page = await context.newPage();
    page.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()); });
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('request', (request) => { if (!request.url().startsWith(url)) problems.push(`request to another origin: ${request.url()}`); });
    cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    }));
  });

  after(async () => {
    await context?.close().catch(() => {});
    await browser?.close();
    await close?.();
  });

  const session = async () => {
    const cookie = (await context.cookies(url)).find((c) => c.name === 'oc_session');
    if (!cookie) return undefined;
    const row = await base.database.db.selectFrom('sessions').select(['amr', 'user_id']).where('id', '=', sessionIdFor(cookie.value)).executeTakeFirst();
    return row && { ...row };
  };

  async function logOut(): Promise<void> {
    await page.goto(`${url}/`);
    await page.getByRole('button', { name: 'Log Out' }).click();
    await page.waitForURL(`${url}/?logged_out=1`);
    await page.goto(`${url}/accounts/login/`);
  }

  test('enrol a passkey: the page asks the authenticator for a discoverable credential, and the first factor brings 10 recovery codes', async () => {
    await page.goto(`${url}/accounts/login/`);
    await page.locator('input[name="username"]').fill('pat');
    await page.locator('input[name="password"]').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log In', exact: true }).click();
    await page.getByRole('heading', { name: 'Hi pat - pat@example.com!' }).waitFor();

    await page.getByRole('link', { name: 'Two-factor authentication' }).click();
    await page.getByText('No passkeys have been added.').waitFor();
    await page.getByRole('link', { name: 'Add' }).click();
    await page.locator('input[name="name"]').last().fill('Laptop');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.getByRole('heading', { name: 'Recovery Codes' }).waitFor();
    assert.equal(await page.locator('#recovery_codes li').count(), 10);

    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1);
    assert.equal(credentials[0]!.isResidentCredential, true);
    const row = await base.database.db.selectFrom('mfa_webauthn').selectAll().where('user_id', '=', userId).executeTakeFirstOrThrow();
    assert.equal(row.name, 'Laptop');
    assert.equal(row.credential_id, credentials[0]!.credentialId.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''));
    assert.equal(Buffer.from(row.user_handle, 'base64url').toString('base64'), credentials[0]!.userHandle);
    await page.goto(`${url}/accounts/2fa/webauthn/`);
    assert.equal(await page.locator('input[name="name"][value="Laptop"]').count(), 1, 'listed, and can be renamed');
  });

  test('sign out, then "Sign in with a passkey" on the login page signs in with the passkey alone', async () => {
    await logOut();
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.waitForURL(`${url}/`);
    await page.getByRole('heading', { name: 'Hi pat - pat@example.com!' }).waitFor();
    assert.deepEqual(await session(), { amr: 'hwk mfa', user_id: userId });
    const event = await base.database.db.selectFrom('audit_log').select(['method', 'detail']).where('type', '=', 'login_success')
      .orderBy('id', 'desc').executeTakeFirstOrThrow();
    assert.deepEqual({ ...event }, { method: 'passkey', detail: 'passkey "Laptop"' });
  });

  test('a passkey as the second step: the password opens no session, "Use a passkey" does', async () => {
    await logOut();
    await page.locator('input[name="username"]').fill('pat');
    await page.locator('input[name="password"]').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log In', exact: true }).click();
    await page.waitForURL(`${url}/accounts/2fa/authenticate/`);
    assert.equal(await session(), undefined, 'no session after the password');
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    await page.waitForURL(`${url}/`);
    assert.deepEqual(await session(), { amr: 'pwd hwk mfa', user_id: userId });
  });

  test('the signature counter is checked: an authenticator whose counter fell behind the stored one (a clone) is refused', async () => {
    const stored = await base.database.db.selectFrom('mfa_webauthn').select('counter').where('user_id', '=', userId).executeTakeFirstOrThrow();
    assert.ok(stored.counter >= 2, `the virtual authenticator counts its signatures (${stored.counter})`);
    await base.database.db.updateTable('mfa_webauthn').set({ counter: stored.counter + 1000 }).where('user_id', '=', userId).execute();
    await logOut();
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.getByText('This passkey was not accepted.').waitFor();
    assert.equal(await session(), undefined);
  });

  test('nothing was blocked: no script error, no request to another origin', () => {
    assert.deepEqual(problems.filter((p) => !/status of 401|status of 400/.test(p)), []);
  });
});
