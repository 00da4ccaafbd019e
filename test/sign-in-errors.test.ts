/**
 * Set-up mistakes a newcomer makes, as the browser shows them after clicking "Log In with Okta": the
 * error page names the setting to fix and what the provider said, not an internal code. The same
 * mistakes in `npx oidc-connect check` are in test/cli.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ERROR_CODES, type ErrorCode } from '../src/errors.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { startFakeOp, type FakeOp } from './support/fake-op.ts';
import { HttpClient, type Hop } from './support/http-client.ts';

const CLIENT = { OIDC_RP_CLIENT_ID: 'test-client', OIDC_RP_CLIENT_SECRET: 'test-secret' };

async function withApp(env: Record<string, string>, run: (app: TestApp) => Promise<void>): Promise<void> {
  const app = await startTestApp({ ...CLIENT, ...env });
  try {
    await run(app);
  } finally {
    await app.close();
  }
}

async function withOp(run: (op: FakeOp) => Promise<void>): Promise<void> {
  const op = await startFakeOp({ claims: { email: 'pat@example.com', email_verified: true } });
  try {
    await run(op);
  } finally {
    await op.close();
  }
}

const clickLogIn = (app: TestApp, browser: HttpClient): Promise<Hop> => browser.get(`${app.url}/authorization-code/authenticate/`);

/** The error page: the code's status and title, the message the user reads, a way back, no stack. */
function assertPage(hop: Hop, code: ErrorCode): string {
  assert.equal(hop.status, ERROR_CODES[code].status, hop.body.slice(0, 400));
  assert.ok(hop.body.includes(`<h1>${ERROR_CODES[code].title}</h1>`), hop.body.slice(0, 400));
  assert.ok(hop.body.includes(`Error code: ${code} · HTTP ${ERROR_CODES[code].status}`));
  assert.match(hop.body, />Try again<\/a>/);
  assert.doesNotMatch(hop.body, /\bat [\w.<>]+ \(|node:internal|\.ts:\d+|OAUTH_[A-Z_]+/, 'no stack trace, no internal code');
  return (/role="alert">([^<]*)</.exec(hop.body)?.[1] ?? '').replace(/&#39;|&#x27;/g, "'").replace(/&amp;/g, '&');
}

describe('sign-in set-up mistakes on the error page', () => {
  test('a wrong client secret (invalid_client with WWW-Authenticate): CLIENT_AUTH_FAILED names the two settings', async () => {
    await withOp(async (op) => {
      await withApp({ OIDC_ISSUER: op.issuer, OIDC_RP_CLIENT_SECRET: 'not-the-secret' }, async (app) => {
        const browser = new HttpClient();
        const start = await clickLogIn(app, browser);
        const back = await browser.get(start.location!);
        const page = await browser.get(back.location!);
        const token = op.requests.filter((r) => r.path.endsWith('/v1/token'));
        assert.equal(token.length, 1, 'the token endpoint was asked');
        // An OIDC_ISSUER without OIDC_PROVIDER_NAME is named by its host.
        assert.equal(assertPage(page, 'CLIENT_AUTH_FAILED'),
          `${new URL(op.issuer).host} refused our client credentials: check OIDC_RP_CLIENT_ID / OIDC_RP_CLIENT_SECRET.`);
      });
    });
  });

  test('an issuer without /oauth2/default: no discovery document at the URL (HTTP 404), and the Okta hint', async () => {
    await withOp(async (op) => {
      const origin = new URL(op.issuer).origin;
      await withApp({ OIDC_ISSUER: origin }, async (app) => {
        const message = assertPage(await clickLogIn(app, new HttpClient()), 'PROVIDER_BAD_RESPONSE');
        assert.equal(message, `No discovery document at ${origin}/.well-known/openid-configuration (HTTP 404): check OIDC_ISSUER. `
          + 'Okta issuers look like https://{domain}/oauth2/default or https://{domain}.');
      });
    });
  });

  test('an issuer that differs from the one the provider names: expected and actual side by side', async () => {
    await withOp(async (op) => {
      op.setFault('discovery-issuer-mismatch');
      await withApp({ OIDC_ISSUER: op.issuer }, async (app) => {
        const message = assertPage(await clickLogIn(app, new HttpClient()), 'PROVIDER_BAD_RESPONSE');
        assert.equal(message, `The issuer does not match: OIDC_ISSUER gives ${op.issuer}, `
          + `but ${new URL(op.issuer).host} says its issuer is ${new URL(op.issuer).origin}/oauth2/not-default. Use the issuer exactly as the provider names it.`);
      });
    });
  });

  test('OKTA_DOMAIN naming an unknown host: the DNS failure', async () => {
    await withApp({ OKTA_DOMAIN: 'no-such-tenant.invalid' }, async (app) => {
      const message = assertPage(await clickLogIn(app, new HttpClient()), 'PROVIDER_UNREACHABLE');
      assert.match(message, /^Okta could not be reached: DNS lookup of no-such-tenant\.invalid failed \((ENOTFOUND|EAI_AGAIN)\)\./);
    });
  });
});
