import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDevIdp } from '../src/dev-idp/index.ts';
import { freePort } from './support/app.ts';

const BIN = new URL('../bin/oidc-connect.js', import.meta.url).pathname;

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs the CLI as a user would, in `cwd`, with only the given environment (plus PATH). */
function cli(cwd: string, args: string[], env: Record<string, string> = {}, input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'oidc-connect-cli-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('migrate and createsuperuser', () => {
  test('migrate creates ./data and the SQLite file, then has nothing left to do', async () => {
    const first = await cli(dir, ['migrate']);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /Applied: 0001_init/);
    const second = await cli(dir, ['migrate']);
    assert.match(second.stdout, /No migrations to apply/);
  });

  test('--no-input takes the password from OIDC_CONNECT_SUPERUSER_PASSWORD', async () => {
    const run = await cli(dir, ['createsuperuser', '--no-input', '--username', 'admin', '--email', 'admin@example.com'], { OIDC_CONNECT_SUPERUSER_PASSWORD: 'correct horse' });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Superuser "admin" created successfully/);
  });

  test('a duplicate username, an empty or a short password exit 1 with a clear message', async () => {
    const duplicate = await cli(dir, ['createsuperuser', '--no-input', '--username', 'admin'], { OIDC_CONNECT_SUPERUSER_PASSWORD: 'another password' });
    assert.equal(duplicate.code, 1);
    assert.match(duplicate.stderr, /username "admin" is already taken/);
    const empty = await cli(dir, ['createsuperuser', '--no-input', '--username', 'empty']);
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /OIDC_CONNECT_SUPERUSER_PASSWORD/);
    const short = await cli(dir, ['createsuperuser', '--no-input', '--username', 'short'], { OIDC_CONNECT_SUPERUSER_PASSWORD: 'seven77' });
    assert.equal(short.code, 1);
    assert.match(short.stderr, /at least 8 characters/);
    assert.doesNotMatch(short.stderr, /at .*\.ts:\d+/, 'no stack trace');
  });

  test('interactive: prompts for username, email and the password twice', async () => {
    const ok = await cli(dir, ['createsuperuser'], {}, 'root2\nroot2@example.com\nsecret password\nsecret password\n');
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /Username.*Email address: Password: \nPassword \(again\): \n/s);
    assert.doesNotMatch(ok.stdout, /secret password/, 'the password is never echoed');
    const mismatch = await cli(dir, ['createsuperuser'], {}, 'root3\n\nsecret password\nother password\n');
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /didn't match/);
  });

  test('unknown commands and options print the usage and exit 1', async () => {
    const unknown = await cli(dir, ['frobnicate']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /Unknown command "frobnicate"/);
    const option = await cli(dir, ['migrate', '--bogus']);
    assert.equal(option.code, 1);
    assert.match(option.stderr, /Usage: oidc-connect/);
  });
});

describe('configuration errors', () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'abc' }, /^oidc-connect: configuration error: PORT=abc: must be a whole number from 0 to 65535$/m],
    [{ DATABASE_URL: 'mysql://user:hunter2@db.example/app' }, /DATABASE_URL=mysql:\/\/user:\*\*\*@db\.example\/app: unsupported database; use sqlite:/],
    [{ NODE_ENV: 'production', OIDC_ISSUER: 'https://id.example', OIDC_RP_CLIENT_ID: 'x', OIDC_RP_CLIENT_SECRET: 'y' }, /SESSION_SECRET: is required when NODE_ENV=production/],
    [{ OIDC_ISSUER: 'http://id.example/oauth2/default', OIDC_RP_CLIENT_ID: 'x', OIDC_RP_CLIENT_SECRET: 'y' }, /OIDC_ISSUER=http:\/\/id\.example\/oauth2\/default: must use https:\/\//],
    [{ OKTA_DOMAIN: 'dev-1.okta.com' }, /OIDC_RP_CLIENT_ID: is required with OIDC_ISSUER or OKTA_DOMAIN/],
    [{ OIDC_RP_SIGN_ALGO: 'none' }, /OIDC_RP_SIGN_ALGO=none: unsigned ID tokens \(none\) are never accepted/],
    [{ OIDC_CREATE_USER: 'maybe' }, /OIDC_CREATE_USER=maybe: must be true or false/],
    [{ APP_URL: 'https://app.example/sub' }, /APP_URL=https:\/\/app\.example\/sub: must be an origin only/],
  ];
  for (const [env, message] of cases) {
    test(`${Object.keys(env).join(', ')} → exit 1 naming the variable`, async () => {
      const run = await cli(dir, ['serve'], env);
      assert.equal(run.code, 1);
      assert.match(run.stderr, message);
      assert.doesNotMatch(run.stderr, /hunter2/);
      assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
    });
  }

  test('every problem is listed at once, one line each; .env is read', async () => {
    const envDir = mkdtempSync(join(tmpdir(), 'oidc-connect-env-'));
    try {
      writeFileSync(join(envDir, '.env'), 'PORT=abc\nOIDC_USERNAME_ALGO=md5\n');
      const run = await cli(envDir, ['migrate'], { SESSION_IDLE_TIMEOUT_SECONDS: '-1' });
      assert.equal(run.code, 1);
      const lines = run.stderr.trim().split('\n');
      assert.equal(lines.length, 3, run.stderr);
      assert.match(run.stderr, /PORT=abc/);
      assert.match(run.stderr, /OIDC_USERNAME_ALGO=md5: must be one of claims, sha224, mozilla-django-oidc/);
      assert.match(run.stderr, /SESSION_IDLE_TIMEOUT_SECONDS=-1/);
    } finally {
      rmSync(envDir, { recursive: true, force: true });
    }
  });
});

describe('check', () => {
  test('reports an unreachable provider in one line and exits 1', async () => {
    const port = await freePort();
    const run = await cli(dir, ['check'], { DEV_IDP_PORT: String(port) });
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^PROBLEM DEV_IDP_PORT=http:\/\/localhost:\d+\/oauth2\/default: discovery failed: .*could not be reached/m);
  });

  test('says OK for a reachable provider and the redirect URI to register', async () => {
    const port = await freePort();
    const idp = await startDevIdp({ port, appUrl: 'http://localhost:8080', dataDir: join(dir, 'idp') });
    try {
      const run = await cli(dir, ['check'], { DEV_IDP_PORT: String(port) });
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, /OK Okta: redirect URI http:\/\/localhost:8080\/authorization-code\/callback/);
      assert.match(run.stdout, /OK Okta: discovery from http:\/\/localhost:\d+\/oauth2\/default \(issuer matches\)/);
      assert.match(run.stdout, /OK configuration is valid/);
    } finally {
      await idp.close();
    }
  });

  test('flags a plain-http APP_URL outside localhost', async () => {
    const run = await cli(dir, ['check'], { APP_URL: 'http://app.example', DEV_IDP_PORT: String(await freePort()) });
    assert.equal(run.code, 1);
    assert.match(run.stdout, /PROBLEM APP_URL=http:\/\/app\.example: providers refuse plain-http redirect URIs/);
  });
});
