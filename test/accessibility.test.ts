/**
 * Every page the app serves, checked with axe-core (WCAG 2.0 and 2.1, levels A and AA, and axe's best
 * practices) in real Chromium, logged out and signed in as a superuser: the sign-in pages, password
 * change and reset (with a real link from the development mailbox), the account page and email
 * confirmation, every second-factor page and the second step of a sign-in, the admin pages, the
 * error pages (404, 403, 429, MFA_REQUIRED, CSRF), the development mailbox, and the embedded
 * development provider's pages (sign in, second step, sign out, an error) with the app signed in
 * through it. A violation fails the test; the message names each rule, its impact and the elements
 * it found.
 *
 * axe runs inside the page as served, under the app's own Content-Security-Policy: its source is
 * evaluated through the DevTools protocol (page.evaluate), which a page's CSP does not govern, so
 * nothing is loaded from elsewhere and the headers need no exception. One app and one browser for
 * the file, on SQLite only: the markup does not depend on the database.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import type axe from 'axe-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createUser, findUserByUsername } from '../src/accounts/users.ts';
import { linkIdentity } from '../src/provisioning/identities.ts';
import { startDevIdp, type DevIdp } from '../src/dev-idp/index.ts';
import { createRelyingParty } from '../src/rp/index.ts';
import { buildApp } from '../src/web/app.ts';
import { devIdpOptions } from '../src/web/runtime.ts';
import { freePort, testAppBase, type TestAppBase } from './support/app.ts';
import { browserSkipReason, launchChromium } from './support/browser.ts';
import { monthOfTraffic, seedEvents } from './support/seed.ts';
import { timeStep, totpCode } from './support/totp.ts';

/**
 * axe-core's minified build: the same code as `axe.source`, at less than half the size, parsed again
 * on every page the sweep opens (this halved the time axe takes per page here).
 */
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
/** The rule sets the issue names: WCAG 2.0 and 2.1 at levels A and AA, and axe's best practices. */
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'];
const ADMIN = { username: 'admin', email: 'admin@example.com', password: 'an admin password' };
const NEW_PASSWORD = 'a remembered passphrase';
/** LOGIN_RATE_LIMIT_PER_MINUTE: low, so that the 429 page costs few requests; above the sweep's own few logins a minute. */
const LOGIN_LIMIT = 20;

interface Finding { page: string; rule: string; impact: string; help: string; targets: string[] }

/** Runs axe over the page as it is now; what it finds, one entry per rule. */
async function violations(page: Page, name: string): Promise<Finding[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate((tags) => (window as unknown as { axe: typeof axe }).axe.run(document, {
    runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'],
  }), TAGS);
  // A sweep that checked nothing would pass too: some rules must have applied, and passed.
  assert.ok(results.passes.length > 0, `axe-core checked nothing on ${name} (${page.url()})`);
  return results.violations.map((v) => ({
    page: name, rule: v.id, impact: v.impact ?? 'unknown', help: v.help,
    targets: v.nodes.map((n) => n.target.map(String).join(' ')),
  }));
}

const report = (findings: Finding[]): string =>
  findings.map((f) => `${f.page}: ${f.rule} (${f.impact}) ${f.help}\n    ${f.targets.join('\n    ')}`).join('\n');

// How long the sweep takes is this machine's load (about 80 s on two busy cores); the limit is only
// against a hang, such as a page evaluate that never returns.
describe('every page passes axe-core (WCAG 2.1 A/AA and best practices) in Chromium', { skip: browserSkipReason(), timeout: 600_000 }, () => {
  let base: TestAppBase;
  let close: () => Promise<void>;
  let url: string;
  let idp: DevIdp;
  let issuer: string;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let adminId: number;
  let carolId: number;

  before(async () => {
    const port = await freePort();
    let idpPort = await freePort();
    while (idpPort === port) idpPort = await freePort();
    url = `http://localhost:${port}`;
    base = await testAppBase('a11y', {
      APP_URL: url, DEV_IDP_PORT: String(idpPort), ADMIN_REQUIRE_MFA: 'on', LOGIN_RATE_LIMIT_PER_MINUTE: String(LOGIN_LIMIT),
    });
    // The development provider ("Okta" on localhost, with its demo users), wired as `npm start` does.
    idp = await startDevIdp({ ...devIdpOptions(base.config), port: idpPort, dataDir: base.dir });
    issuer = `http://localhost:${idpPort}/oauth2/default`;
    const app = await buildApp({ config: base.config, db: base.database.db, rp: createRelyingParty(base.config, base.database.db) });
    await app.listen({ port, host: '127.0.0.1' });
    close = async () => {
      await app.close();
      await idp.close();
      await base.close();
    };
    const db = base.database.db;
    adminId = (await createUser(db, { ...ADMIN, firstName: 'Ada', lastName: 'Admin', isStaff: true, isSuperuser: true })).id;
    // carol signs in through another provider only; dave is a local user who is not staff.
    carolId = (await createUser(db, { username: 'carol', email: 'carol@example.com', firstName: 'Carol', lastName: 'Danvers' })).id;
    await linkIdentity(db, 'https://example.okta.com/oauth2/default', '00u-carol-at-okta', carolId);
    await createUser(db, { username: 'dave', email: 'dave@example.com', password: 'dave password' });
    // A month of sign-ins, so that the dashboard draws its charts and the audit pages have rows.
    await seedEvents(db, monthOfTraffic({ methods: ['default', 'local'], spikeDaysAgo: 4, scale: 0.2 }));
    browser = await launchChromium();
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close();
    await close?.();
  });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
    context.setDefaultTimeout(15_000);
    contexts.push(context);
    return context.newPage();
  }

  /** Audits each page as `visit` leaves it, once its heading is shown; fails with every finding at the end. */
  async function sweep(page: Page, visits: Array<[name: string, heading: string | RegExp, visit: () => Promise<unknown>]>): Promise<void> {
    const findings: Finding[] = [];
    for (const [name, heading, visit] of visits) {
      await visit();
      await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
      findings.push(...await violations(page, name));
    }
    // The list itself is the message: a deepEqual diff of it would print every finding twice.
    if (findings.length > 0) assert.fail(`axe-core found ${findings.length} violation(s):\n${report(findings)}`);
  }

  const go = (page: Page, path: string) => () => page.goto(`${url}${path}`);

  async function logIn(page: Page, username: string, password: string): Promise<void> {
    await page.goto(`${url}/accounts/login/`);
    await page.locator('input[name="username"]').fill(username);
    await page.locator('input[name="password"]').fill(password);
    await page.getByRole('button', { name: 'Log In', exact: true }).click();
  }

  /** The newest mail's link that contains `path`, from the development mailbox page (the sender puts it there a moment after the request). */
  async function mailedLink(page: Page, to: string, path: string): Promise<string> {
    await page.goto(`${url}/dev/mailbox/`);
    const link = page.locator('table.data tbody tr').filter({ hasText: to }).locator(`a[href*="${path}"]`).first();
    while ((await link.count()) === 0) await page.reload();
    return (await link.getAttribute('href'))!;
  }

  /**
   * The HTML part of the mail shown in the mailbox, in a page of its own. The mailbox serves it under
   * `sandbox`, which turns scripts off, axe's too; so its markup is loaded as it is into a blank page.
   */
  async function openMailHtml(page: Page): Promise<void> {
    const href = await page.getByRole('link', { name: 'The HTML version' }).getAttribute('href');
    const html = await (await page.request.get(`${url}${href}`)).text();
    await page.goto('about:blank');
    await page.setContent(html);
  }

  /** The superuser's page, signed in by the second test and used by the ones after it. */
  let adminPage: Page | undefined;

  test('logged out: home, login (and its error), password reset from the form to the mailed link to done, the mailbox, 404', async () => {
    const p = await newPage();
    await sweep(p, [
      ['home, logged out', 'Welcome', go(p, '/')],
      ['login', 'Log In', go(p, '/accounts/login/')],
      ['login with a wrong password', 'Log In', async () => {
        await p.locator('input[name="username"]').fill(ADMIN.username);
        await p.locator('input[name="password"]').fill('not the password');
        await p.getByRole('button', { name: 'Log In', exact: true }).click();
        await p.getByRole('alert').waitFor();
      }],
      ['password reset form', 'Password reset', go(p, '/accounts/password_reset/')],
      ['password reset done', 'Password reset sent', async () => {
        await p.locator('input[name="email"]').fill(ADMIN.email);
        await p.getByRole('button', { name: 'Reset my password' }).click();
      }],
      ['development mailbox', 'Development mailbox', async () => {
        await mailedLink(p, ADMIN.email, '/accounts/reset/');
      }],
      ['a mail in the development mailbox', 'Development mailbox', async () => {
        await p.locator('table.data tbody tr').filter({ hasText: ADMIN.email }).first().getByRole('link', { name: /Password reset/i }).click();
        await p.waitForURL(/\/dev\/mailbox\/[\w-]+\/$/);
      }],
      ['the password reset mail, its HTML part', 'Reset your password', () => openMailHtml(p)],
      ['set a new password (a mailed link)', 'Enter new password', async () => {
        await p.goto(await mailedLink(p, ADMIN.email, '/accounts/reset/'));
      }],
      ['password reset complete', 'Password reset complete', async () => {
        await p.locator('input[name="new_password1"]').fill(NEW_PASSWORD);
        await p.locator('input[name="new_password2"]').fill(NEW_PASSWORD);
        await p.getByRole('button', { name: 'Change my password' }).click();
      }],
      ['a reset link used twice', 'Password reset unsuccessful', async () => {
        await p.goto(await mailedLink(p, ADMIN.email, '/accounts/reset/'));
      }],
      ['404', 'Page not found', go(p, '/no/such/page/')],
    ]);
  });

  test('signed in as a superuser: home, account, email confirmation, password change, every second-factor page, MFA_REQUIRED, CSRF 403', async () => {
    const p = await newPage();
    adminPage = p;
    // Chromium's virtual authenticator (as in test/mfa-browser.test.ts), so that a passkey can be added.
    const cdp = await p.context().newCDPSession(p);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    await sweep(p, [
      // Staff without a factor are sent to set one up first (ADMIN_REQUIRE_MFA), then on to `next`.
      ['second factors, required after signing in', 'Two-Factor Authentication', async () => {
        await logIn(p, ADMIN.username, NEW_PASSWORD);
        await p.waitForURL(`${url}/accounts/2fa/?next=%2F`);
      }],
      ['home, signed in', /^Hi admin/, go(p, '/')],
      ['account', 'Your account', go(p, '/accounts/')],
      ['account, a new email pending', 'Your account', async () => {
        await p.locator('input[name="email"]').fill('ada@example.com');
        await p.locator('input[name="password"]').fill(NEW_PASSWORD);
        await p.getByRole('button', { name: 'Send a confirmation link' }).click();
        await p.waitForURL(/\/accounts\//);
      }],
      ['confirm an email address (a mailed link)', 'Confirm your email address', async () => {
        await p.goto(await mailedLink(p, 'ada@example.com', '/accounts/email/verify/'));
      }],
      ['the email confirmation mail, its HTML part', 'Confirm your email address', async () => {
        await p.goto(`${url}/dev/mailbox/`);
        await p.locator('table.data tbody tr').filter({ hasText: 'ada@example.com' }).first().locator('a[href^="/dev/mailbox/"]').first().click();
        await openMailHtml(p);
      }],
      ['confirm an email address, a link not valid', 'Link not valid', go(p, '/accounts/email/verify/MQ/not-a-token/')],
      ['password change', 'Change password', go(p, '/accounts/password_change/')],
      ['password change, refused', 'Change password', async () => {
        await p.locator('input[name="old_password"]').fill('not the password');
        await p.locator('input[name="new_password1"]').fill('short');
        await p.locator('input[name="new_password2"]').fill('other');
        // The browser's own checks (minlength) would stop the form before the server sees it.
        await p.locator('form').first().evaluate((form) => form.setAttribute('novalidate', ''));
        await p.getByRole('button', { name: 'Change my password' }).click();
        await p.getByRole('alert').first().waitFor();
      }],
      ['password change done', 'Password changed', async () => {
        await p.goto(`${url}/accounts/password_change/`);
        await p.locator('input[name="old_password"]').fill(NEW_PASSWORD);
        await p.locator('input[name="new_password1"]').fill(ADMIN.password);
        await p.locator('input[name="new_password2"]').fill(ADMIN.password);
        await p.getByRole('button', { name: 'Change my password' }).click();
      }],
      ['admin asks for a second factor (ADMIN_REQUIRE_MFA)', 'Two-Factor Authentication', async () => {
        await p.goto(`${url}/admin/`);
        await p.waitForURL(/\/accounts\/2fa\/\?next=/);
      }],
      ['403 MFA_REQUIRED (a form post to the admin without a factor)', 'Second factor required', async () => {
        await p.evaluate((action) => {
          const form = document.createElement('form');
          form.method = 'post';
          form.action = action;
          document.body.append(form);
          form.submit();
        }, `/admin/users/${carolId}/active`);
        await p.waitForURL(/\/active$/);
      }],
      ['authenticator app, activate', 'Activate Authenticator App', go(p, '/accounts/2fa/totp/activate/')],
      ['authenticator app, a wrong code', 'Activate Authenticator App', async () => {
        await p.locator('input[name="code"]').fill('000000');
        await p.getByRole('button', { name: 'Activate' }).click();
        await p.getByRole('alert').waitFor();
      }],
      ['recovery codes, after activation', 'Recovery Codes', async () => {
        const secret = await p.locator('#authenticator_secret').inputValue();
        await p.locator('input[name="code"]').fill(totpCode(secret, timeStep(Date.now())));
        await p.getByRole('button', { name: 'Activate' }).click();
      }],
      ['second factors, overview', 'Two-Factor Authentication', go(p, '/accounts/2fa/')],
      ['passkeys, none yet', 'Passkeys', go(p, '/accounts/2fa/webauthn/')],
      ['passkeys, one added', 'Passkeys', async () => {
        await p.locator('input[name="name"]').last().fill('Laptop');
        await p.getByRole('button', { name: 'Add a passkey' }).click();
        await p.waitForURL(/done=passkey_added/);
      }],
      ['recovery codes, generate', 'Recovery Codes', go(p, '/accounts/2fa/recovery-codes/generate/')],
      ['authenticator app, deactivate', 'Deactivate Authenticator App', go(p, '/accounts/2fa/totp/deactivate/')],
      ['403 CSRF_INVALID (a form without its token)', 'Form expired', async () => {
        await p.evaluate(() => {
          const form = document.createElement('form');
          form.method = 'post';
          form.action = '/accounts/password_change/';
          document.body.append(form);
          form.submit();
        });
        await p.waitForURL(`${url}/accounts/password_change/`);
      }],
    ]);
  });

  test('the admin pages: dashboard, users, a user page (a superuser, a provider user), sessions, audit log', async () => {
    const p = adminPage;
    assert.ok(p, 'the superuser signed in');
    await sweep(p, [
      ['admin dashboard', 'Sign-in activity', go(p, '/admin/')],
      ['admin users', 'Users', go(p, '/admin/users/')],
      ['admin users, a search with no result', 'Users', go(p, '/admin/users/?q=nobody-by-this-name')],
      ['admin user page, a superuser', 'admin', go(p, `/admin/users/${adminId}/`)],
      ['admin user page, a provider user', 'carol', go(p, `/admin/users/${carolId}/`)],
      ['admin user page, an action done', 'carol', async () => {
        await p.getByRole('button', { name: /Deactivate/ }).first().click();
        await p.waitForURL(/\?done=/);
      }],
      ['admin sessions', 'Active sessions', go(p, '/admin/sessions/')],
      ['admin audit log', 'Audit log', go(p, '/admin/audit/')],
    ]);
  });

  test('the development provider\'s pages, and the app signed in through it: home, account, second factors, a step-up for the admin', async () => {
    const p = await newPage();
    await sweep(p, [
      ['development provider, sign in', 'Sign in', async () => {
        await p.goto(`${url}/accounts/login/`);
        await p.getByRole('link', { name: 'Log In with Okta' }).click();
        await p.waitForURL((u) => u.origin === new URL(issuer).origin);
      }],
      ['development provider, a wrong password', 'Sign in', async () => {
        await p.locator('input[name="email"]').fill('alice@example.com');
        await p.locator('input[name="password"]').fill('not the password');
        await p.getByRole('button', { name: 'Sign in' }).click();
        await p.getByRole('alert').waitFor();
      }],
      ['home, signed in through the provider', /^Hi alice/, async () => {
        await p.locator('input[name="password"]').fill('wonderland');
        await p.getByRole('button', { name: 'Sign in' }).click();
        await p.waitForURL(`${url}/`);
      }],
      ['account, a provider user', 'Your account', go(p, '/accounts/')],
      ['second factors, a provider user', 'Two-Factor Authentication', go(p, '/accounts/2fa/')],
      ['development provider, sign in again (the admin pages ask for a step-up)', 'Sign in', async () => {
        // The superuser makes her staff, on her page in the admin.
        const admin = adminPage;
        assert.ok(admin, 'the superuser signed in');
        const alice = await findUserByUsername(base.database.db, 'alice');
        await admin.goto(`${url}/admin/users/${alice!.id}/`);
        await admin.getByRole('button', { name: 'Make staff' }).click();
        await admin.waitForURL(/\?done=/);
        await p.goto(`${url}/admin/`);
        await p.waitForURL((u) => u.origin === new URL(issuer).origin);
      }],
      ['development provider, second step', 'Second step', async () => {
        await p.locator('input[name="email"]').fill('alice@example.com');
        await p.locator('input[name="password"]').fill('wonderland');
        await p.getByRole('button', { name: 'Sign in' }).click();
      }],
      ['admin dashboard, after the step-up', 'Sign-in activity', async () => {
        await p.getByRole('button', { name: 'Approve sign-in' }).click();
        await p.waitForURL(`${url}/admin/`);
      }],
      ['development provider, sign out', 'Sign out', () => p.goto(`${issuer}/v1/logout`)],
      ['development provider, signed out', 'You are signed out', () => p.getByRole('button', { name: 'Sign out' }).click()],
      ['development provider, a refused request', 'Request refused', () => p.goto(`${issuer}/v1/authorize?client_id=nobody`)],
    ]);
  });

  test('logout, the second step of a sign-in, a non-staff 403, and the 429 page', async () => {
    const p = adminPage;
    assert.ok(p, 'the superuser signed in');
    const dave = await newPage();
    await sweep(p, [
      ['home, just logged out', 'Welcome', async () => {
        await p.goto(`${url}/`);
        await p.getByRole('button', { name: 'Log Out' }).click();
        await p.waitForURL(/logged_out=1/);
      }],
      ['login, just logged out', 'Log In', go(p, '/accounts/login/?logged_out=1')],
      ['second step of a sign-in', 'Two-Factor Authentication', async () => {
        await logIn(p, ADMIN.username, ADMIN.password);
        await p.waitForURL(`${url}/accounts/2fa/authenticate/`);
      }],
      ['second step, a wrong code', 'Two-Factor Authentication', async () => {
        await p.locator('input[name="code"]').fill('000000');
        await p.getByRole('button', { name: 'Sign In', exact: true }).click();
        await p.getByRole('alert').waitFor();
      }],
    ]);
    await sweep(dave, [
      ['403, not staff', 'Access denied', async () => {
        await logIn(dave, 'dave', 'dave password');
        await dave.waitForURL(`${url}/`);
        await dave.goto(`${url}/admin/`);
      }],
      ['429, too many logins from one address', 'Too many requests', async () => {
        // Spend the address's login budget, then post the form once more from the browser. The window
        // is fixed (one minute): if it turned between the two, spend the new one and post again.
        for (;;) {
          await dave.goto(`${url}/accounts/login/`);
          let status = 0;
          while (status !== 429) {
            const answer = await fetch(`${url}/accounts/login/`, { method: 'POST' });
            await answer.body?.cancel();
            status = answer.status;
          }
          await dave.locator('input[name="username"]').fill('dave');
          await dave.locator('input[name="password"]').fill('dave password');
          const [answer] = await Promise.all([dave.waitForResponse(`${url}/accounts/login/`), dave.getByRole('button', { name: 'Log In', exact: true }).click()]);
          if (answer.status() === 429) break;
        }
      }],
    ]);
  });
});
