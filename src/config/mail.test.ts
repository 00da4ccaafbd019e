import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { loadConfig, type Config } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-mail-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const CA = join(dir, 'ca.pem');
writeFileSync(CA, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
writeFileSync(join(dir, 'not-a-cert.txt'), 'hello');

const production = {
  NODE_ENV: 'production', SESSION_SECRET: 'nH3kQ9vX2bLm7pR4tW8yZ1cF6gJ0sD5e-Aq_uE', APP_URL: 'https://app.example.com',
  OIDC_ISSUER: 'https://id.example.com', OIDC_RP_CLIENT_ID: 'c', OIDC_RP_CLIENT_SECRET: 's',
};

function load(env: Record<string, string>): Config['mail'] {
  return loadConfig({ cwd: dir, env: { DEV_IDP_PORT: '1', ...env } }).mail;
}

function problems(env: Record<string, string>): string[] {
  try {
    load(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
}

test('without EMAIL_URL, development on a loopback APP_URL uses the development mailbox in DATA_DIR', () => {
  const mail = load({});
  assert.deepEqual(mail.transport, { kind: 'mailbox', dir: join(dir, 'data', 'mailbox') });
  assert.equal(mail.from, 'noreply@localhost');
  assert.equal(mail.passwordResetTimeoutSeconds, 3600);
});

test('an APP_URL on an IP address gives the default sender noreply@localhost, not the address (noreply@[::1] is no address)', () => {
  for (const appUrl of ['http://[::1]:8080', 'http://127.0.0.1:8080']) assert.equal(load({ APP_URL: appUrl }).from, 'noreply@localhost', appUrl);
});

test('without EMAIL_URL, production and public development addresses have no mail at all', () => {
  assert.equal(load(production).transport, null);
  assert.equal(load({ APP_URL: 'http://dev.example.com:8080' }).transport, null);
  assert.equal(load(production).from, 'noreply@app.example.com');
});

test('smtp:// is STARTTLS (required only in production) on 587; smtps:// is TLS on 465; user and password are percent-decoded', () => {
  const dev = load({ EMAIL_URL: 'smtp://mailer%40example.com:p%2Fss%3Aword@smtp.example.com' });
  assert.deepEqual(dev.transport, {
    kind: 'smtp', display: 'smtp://mailer%40example.com:***@smtp.example.com:587', host: 'smtp.example.com', port: 587,
    secure: false, requireTls: false, auth: { user: 'mailer@example.com', pass: 'p/ss:word' },
  });
  const prod = load({ ...production, EMAIL_URL: 'smtp://smtp.example.com:2525' });
  assert.deepEqual(prod.transport, { kind: 'smtp', display: 'smtp://smtp.example.com:2525', host: 'smtp.example.com', port: 2525, secure: false, requireTls: true });
  const tls = load({ ...production, EMAIL_URL: 'smtps://u:p@[::1]' });
  assert.equal(tls.transport?.kind === 'smtp' && `${tls.transport.host} ${tls.transport.port} ${tls.transport.secure} ${tls.transport.requireTls}`, '::1 465 true false');
});

test('?ca= reads the PEM file, relative to the working directory', () => {
  const mail = load({ EMAIL_URL: 'smtp://127.0.0.1:2525?ca=ca.pem' });
  assert.equal(mail.transport?.kind === 'smtp' && mail.transport.ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
});

test('a bad EMAIL_URL, CA file, sender or timeout is one line each, naming the variable', () => {
  const found = problems({
    EMAIL_URL: 'smtp://127.0.0.1?ca=missing.pem',
    DEFAULT_FROM_EMAIL: 'Example <noreply@example.com>\r\nBcc: victim@example.com',
    PASSWORD_RESET_TIMEOUT: '10',
  });
  assert.equal(found.length, 3, found.join('\n'));
  assert.match(found[0]!, /^EMAIL_URL=smtp:\/\/127\.0\.0\.1\?ca=missing\.pem: \?ca= names .*missing\.pem, which cannot be read \(ENOENT\)/);
  assert.equal(found[1]!, 'DEFAULT_FROM_EMAIL="Example <noreply@example.com>\\r\\nBcc: victim@example.com": must be an address such as noreply@example.com, or "Example <noreply@example.com>"');
  assert.match(found[2]!, /^PASSWORD_RESET_TIMEOUT=10: must be a whole number from 60 to 2592000$/);
  for (const [url, message] of [
    ['http://smtp.example.com', /must be smtp:\/\/user:password@host:587/],
    ['smtp://', /must be smtp:\/\//],
    ['smtp://smtp.example.com/inbox', /has a path or fragment/],
    ['smtp://smtp.example.com?tls=off', /unknown parameter tls; the only one is \?ca=/],
    ['smtp://smtp.example.com?ca=not-a-cert.txt', /holds no PEM certificate/],
    ['smtp://%E0%A4%A:x@smtp.example.com', /not valid percent-encoding/],
  ] as const) {
    const lines = problems({ EMAIL_URL: url });
    assert.equal(lines.length, 1, `${url}: ${lines.join('\n')}`);
    assert.match(lines[0]!, message, url);
  }
  assert.match(problems({ EMAIL_URL: 'smtp://u:secret@smtp.example.com/x' })[0]!, /^EMAIL_URL=smtp:\/\/u:\*\*\*@/, 'the password is not printed');
});

test('DEFAULT_FROM_EMAIL takes a plain address or one with a display name', () => {
  assert.equal(load({ DEFAULT_FROM_EMAIL: 'Example Team <team@example.com>' }).from, 'Example Team <team@example.com>');
  assert.equal(load({ DEFAULT_FROM_EMAIL: 'team@example.com' }).from, 'team@example.com');
  assert.match(problems({ DEFAULT_FROM_EMAIL: 'not an address' })[0]!, /^DEFAULT_FROM_EMAIL=not an address: must be/);
});
