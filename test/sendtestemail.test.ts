/**
 * `npx oidc-connect sendtestemail` and the mail lines of `check`, run as an operator runs them,
 * against a real SMTP server (test/support/smtp.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDevIdp, type DevIdp } from '../src/dev-idp/index.ts';
import { freePort } from './support/app.ts';
import { cli } from './support/cli.ts';
import { makeCertificates, smtpSkip, startSmtpServer, type Certificates, type SmtpServer } from './support/smtp.ts';

const PRODUCTION = {
  NODE_ENV: 'production', SESSION_SECRET: 'nH3kQ9vX2bLm7pR4tW8yZ1cF6gJ0sD5e-Aq_uE', APP_URL: 'https://app.example.com',
  OIDC_RP_CLIENT_ID: 'c', OIDC_RP_CLIENT_SECRET: 's',
};

describe('sendtestemail and check, against a real SMTP server', { skip: smtpSkip }, () => {
  let dir: string;
  let smtp: SmtpServer;
  let tls: SmtpServer;
  let certs: Certificates;
  let idp: DevIdp;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oidc-connect-sendtestemail-'));
    certs = makeCertificates(dir);
    [smtp, tls, idp] = await Promise.all([
      startSmtpServer({ auth: undefined }),
      startSmtpServer({ tls: certs, requireStarttls: true }),
      startDevIdp({ port: await freePort(), appUrl: 'http://localhost:8080', dataDir: join(dir, 'idp') }),
    ]);
  });
  after(async () => {
    await Promise.all([smtp?.stop(), tls?.stop(), idp?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('sends Django\'s test mail and prints what the server said', async () => {
    const run = await cli(dir, ['sendtestemail', 'you@example.com'], { EMAIL_URL: `smtp://127.0.0.1:${smtp.port}`, DEFAULT_FROM_EMAIL: 'Ops <ops@example.com>' });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const [mail] = await smtp.waitFor(1);
    assert.equal(run.stdout, `Sent to you@example.com through smtp://127.0.0.1:${smtp.port}: 250 2.0.0 Ok: queued as ${mail!.queued}\n`);
    assert.deepEqual(mail!.rcpt_tos, ['you@example.com']);
    assert.equal(mail!.mail_from, 'ops@example.com');
    assert.match(mail!.headers.subject!, /^Test email from \S+ on \d{4}-\d\d-\d\dT/);
    assert.equal(mail!.text, "If you're reading this, it was successful.\n");
  });

  test('a server that is down: exit 1, and the cause chain down to the refused connection', async () => {
    const port = await freePort();
    const run = await cli(dir, ['sendtestemail', 'you@example.com'], { EMAIL_URL: `smtp://127.0.0.1:${port}` });
    assert.equal(run.code, 1);
    const lines = run.stdout.trim().split('\n');
    assert.match(lines[0]!, new RegExp(`^Error: not sent to you@example\\.com through smtp://127\\.0\\.0\\.1:${port}: `));
    assert.ok(lines.join('\n').includes('ECONNREFUSED'), run.stdout);
    assert.doesNotMatch(run.stdout + run.stderr, /\.ts:\d+/, 'no stack trace');
  });

  test('a certificate from a CA the app does not trust: the TLS failure is named; with ?ca= it goes', async () => {
    const refused = await cli(dir, ['sendtestemail', 'you@example.com'], { EMAIL_URL: `smtp://127.0.0.1:${tls.port}` });
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /self[- ]signed certificate in certificate chain|unable to verify|unable to get local issuer/i);
    const sent = await cli(dir, ['sendtestemail', 'you@example.com', 'them@example.com'], { EMAIL_URL: `smtp://127.0.0.1:${tls.port}?ca=${certs.ca}` });
    assert.equal(sent.code, 0, sent.stdout);
    assert.equal(sent.stdout.trim().split('\n').length, 2, 'one line per address');
    const mails = await tls.waitFor(2);
    assert.ok(mails.every((m) => m.tls));
  });

  test('without EMAIL_URL: production says mail is not set up; development stores the mail in the development mailbox', async () => {
    const production = await cli(dir, ['sendtestemail', 'you@example.com'], { ...PRODUCTION, OIDC_ISSUER: idp.issuer.replace('localhost', '127.0.0.1') });
    assert.equal(production.code, 1);
    assert.match(production.stderr, /^Error: EMAIL_URL is not set, so no mail can be sent/);
    const development = await cli(dir, ['sendtestemail', 'you@example.com'], {});
    assert.equal(development.code, 0, development.stderr);
    assert.match(development.stdout, /^Sent to you@example\.com through the development mailbox \(.*mailbox, shown at \/dev\/mailbox\/\): stored in the development mailbox as \d{13}-/);
    assert.equal(readdirSync(join(dir, 'data', 'mailbox')).length, 1);
    const nothing = await cli(dir, ['sendtestemail'], {});
    assert.equal(nothing.code, 1);
    assert.match(nothing.stderr, /needs at least one address/);
  });

  test('check connects to EMAIL_URL\'s server and says so; a server that is down is a PROBLEM with its causes; production without EMAIL_URL is a WARN', async () => {
    const env = { DEV_IDP_PORT: String(idp.port) };
    const ok = await cli(dir, ['check'], { ...env, EMAIL_URL: `smtp://127.0.0.1:${tls.port}?ca=${certs.ca}` });
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(ok.stdout, new RegExp(`^OK EMAIL_URL smtp://127\\.0\\.0\\.1:${tls.port}: the server takes the connection$`, 'm'));
    const port = await freePort();
    const down = await cli(dir, ['check'], { ...env, EMAIL_URL: `smtp://127.0.0.1:${port}` });
    assert.equal(down.code, 1);
    assert.match(down.stdout, new RegExp(`^PROBLEM EMAIL_URL smtp://127\\.0\\.0\\.1:${port}: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}$`, 'm'));
    const mailbox = await cli(dir, ['check'], env);
    assert.equal(mailbox.code, 0, mailbox.stdout);
    assert.match(mailbox.stdout, /^OK mail: no EMAIL_URL, so mail goes to the development mailbox, http:\/\/localhost:8080\/dev\/mailbox\/$/m);
    const production = await cli(dir, ['check'], { ...PRODUCTION, OIDC_ISSUER: idp.issuer });
    assert.match(production.stdout, /^WARN EMAIL_URL is not set: password reset by email and email verification are off$/m);
    assert.doesNotMatch(production.stdout, /PROBLEM EMAIL_URL/);
  });
});
