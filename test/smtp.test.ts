/**
 * Mail over a real SMTP server (Debian's aiosmtpd, test/support/smtp.ts), configured as an operator
 * would, through EMAIL_URL: plain delivery, STARTTLS under a private CA given with ?ca=, smtps://, a
 * login, production's refusal of a server without STARTTLS, and what a refused recipient looks like.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config/index.ts';
import { causeMessages } from '../src/errors.ts';
import { createMailTransport, isPermanentRefusal, type MailTransport, type OutgoingMail } from '../src/mail/transport.ts';
import { freePort } from './support/app.ts';
import { makeCertificates, smtpSkip, startSmtpServer, type Certificates, type SmtpServer } from './support/smtp.ts';

const PRODUCTION = {
  NODE_ENV: 'production', SESSION_SECRET: 'nH3kQ9vX2bLm7pR4tW8yZ1cF6gJ0sD5e-Aq_uE', APP_URL: 'https://app.example.com',
  OIDC_ISSUER: 'https://id.example.com', OIDC_RP_CLIENT_ID: 'c', OIDC_RP_CLIENT_SECRET: 's',
};

describe('mail through a real SMTP server', { skip: smtpSkip }, () => {
  let dir: string;
  let certs: Certificates;
  /** Three servers, shared by the tests: plain, STARTTLS required with a login, and smtps. */
  let plain: SmtpServer;
  let starttls: SmtpServer;
  let smtps: SmtpServer;
  const transports: MailTransport[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oidc-connect-smtp-'));
    certs = makeCertificates(dir);
    [plain, starttls, smtps] = await Promise.all([
      startSmtpServer({ reject: ['nobody@example.com'] }),
      startSmtpServer({ tls: certs, requireStarttls: true, auth: 'mailer@example.com:s3cret/pass' }),
      startSmtpServer({ tls: certs, smtps: true }),
    ]);
  });
  after(async () => {
    for (const transport of transports) transport.close();
    await Promise.all([plain?.stop(), starttls?.stop(), smtps?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * The messages a server received because of `run`, once `expected` have come (the server prints a
   * message before it answers 250, but its line may reach us after the answer does).
   */
  const receivedDuring = async (smtp: SmtpServer, run: () => Promise<unknown>, expected = 1) => {
    const before = smtp.received.length;
    await run();
    await smtp.waitFor(before + expected);
    return smtp.received.slice(before);
  };
  const transport = (env: Record<string, string>): MailTransport => {
    const config = loadConfig({ cwd: dir, env: { DEV_IDP_PORT: '1', ...env } });
    const made = createMailTransport(config.mail)!;
    transports.push(made);
    return made;
  };
  const mail = (overrides: Partial<OutgoingMail> = {}): OutgoingMail => ({
    from: 'oidc-connect <noreply@app.example.com>', to: 'carol@example.com', subject: 'Password reset on app.example.com',
    text: 'Go to https://app.example.com/accounts/reset/MQ/abc-123/\n', html: '<p><a href="https://app.example.com/accounts/reset/MQ/abc-123/">Reset</a></p>',
    messageId: '<k3j2h1@app.example.com>', date: new Date('2026-03-05T14:03:09Z'), ...overrides,
  });

  test('plain smtp:// delivers one message with its text and HTML parts, Message-ID and Date, and returns the server\'s answer', async () => {
    let answer = '';
    const [received, ...more] = await receivedDuring(plain, async () => {
      answer = await transport({ EMAIL_URL: `smtp://127.0.0.1:${plain.port}` }).send(mail());
    });
    assert.equal(more.length, 0);
    assert.equal(answer, `250 2.0.0 Ok: queued as ${received!.queued}`);
    assert.equal(received!.mail_from, 'noreply@app.example.com');
    assert.deepEqual(received!.rcpt_tos, ['carol@example.com']);
    assert.equal(received!.tls, false);
    assert.equal(received!.content_type, 'multipart/alternative');
    assert.equal(received!.headers['message-id'], '<k3j2h1@app.example.com>');
    assert.equal(received!.headers.date, 'Thu, 05 Mar 2026 14:03:09 +0000');
    assert.equal(received!.headers.from, 'oidc-connect <noreply@app.example.com>');
    assert.equal(received!.headers.subject, 'Password reset on app.example.com');
    assert.equal(received!.text, 'Go to https://app.example.com/accounts/reset/MQ/abc-123/\n');
    assert.match(received!.html!, /<a href="https:\/\/app\.example\.com\/accounts\/reset\/MQ\/abc-123\/">Reset<\/a>/);
  });

  test('smtp:// upgrades with STARTTLS to a server whose certificate a private CA signed, trusted through ?ca=, and logs in', async () => {
    const url = `smtp://mailer%40example.com:s3cret%2Fpass@127.0.0.1:${starttls.port}?ca=${certs.ca}`;
    const [received] = await receivedDuring(starttls, () => transport({ ...PRODUCTION, EMAIL_URL: url }).send(mail()));
    assert.equal(received!.tls, true);
    assert.equal(received!.auth, 'mailer@example.com');
  });

  test('without ?ca= the same server\'s certificate is refused, and nothing is sent', async () => {
    let error: unknown;
    const received = await receivedDuring(starttls, async () => {
      error = await transport({ EMAIL_URL: `smtp://mailer%40example.com:s3cret%2Fpass@127.0.0.1:${starttls.port}` }).send(mail()).then(() => undefined, (e: unknown) => e);
    }, 0);
    assert.ok(error, 'the send failed');
    assert.match(causeMessages(error).join(' <- '), /self[- ]signed certificate in certificate chain|unable to verify|unable to get local issuer/i);
    assert.equal(received.length, 0);
  });

  test('smtps:// speaks TLS from the first byte', async () => {
    const [received] = await receivedDuring(smtps, () => transport({ EMAIL_URL: `smtps://127.0.0.1:${smtps.port}?ca=${certs.ca}` }).send(mail()));
    assert.equal(received!.tls, true);
  });

  test('in production smtp:// refuses a server that offers no STARTTLS; in development it sends in clear', async () => {
    let error: unknown;
    const refused = await receivedDuring(plain, async () => {
      error = await transport({ ...PRODUCTION, EMAIL_URL: `smtp://127.0.0.1:${plain.port}` }).send(mail()).then(() => undefined, (e: unknown) => e);
    }, 0);
    assert.match(causeMessages(error).join(' <- '), /STARTTLS/i);
    assert.equal(refused.length, 0);
    const sent = await receivedDuring(plain, () => transport({ EMAIL_URL: `smtp://127.0.0.1:${plain.port}` }).send(mail()));
    assert.equal(sent.length, 1);
  });

  test('a recipient the server refuses with 550 is a permanent refusal; a server that is down is not', async () => {
    const refused = await transport({ EMAIL_URL: `smtp://127.0.0.1:${plain.port}` }).send(mail({ to: 'nobody@example.com' })).then(() => undefined, (e: unknown) => e);
    assert.match(causeMessages(refused).join(' '), /550 5\.1\.1 <nobody@example\.com>: Recipient address rejected/);
    assert.equal(isPermanentRefusal(refused), true);
    const unreachable = await transport({ EMAIL_URL: `smtp://127.0.0.1:${await freePort()}` }).send(mail()).then(() => undefined, (e: unknown) => e);
    assert.match(causeMessages(unreachable).join(' '), /ECONNREFUSED/);
    assert.equal(isPermanentRefusal(unreachable), false);
  });
});
