import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDevIdp, type DevIdp } from '../src/dev-idp/index.ts';
import { freePort } from './support/app.ts';
import { BIN, cli, cliInTerminal, type CliRun } from './support/cli.ts';
import { HttpClient, hiddenField } from './support/http-client.ts';
import { ENGINES, olderSystemNode } from './support/old-node.ts';
import { startFakeOp, type FakeOp } from './support/fake-op.ts';


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

  test('with ADMIN_REQUIRE_MFA on, createsuperuser says that /admin/ needs a second factor first, and where to set one up', async () => {
    const run = await cli(dir, ['createsuperuser', '--no-input', '--username', 'mfa-admin'], { OIDC_CONNECT_SUPERUSER_PASSWORD: 'correct horse', ADMIN_REQUIRE_MFA: 'true' });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /ADMIN_REQUIRE_MFA is on: \/admin\/ opens once "mfa-admin" has a second factor\. .*\/accounts\/2fa\//);
    const off = await cli(dir, ['createsuperuser', '--no-input', '--username', 'plain-admin'], { OIDC_CONNECT_SUPERUSER_PASSWORD: 'correct horse' });
    assert.doesNotMatch(off.stdout, /ADMIN_REQUIRE_MFA/, 'off by default outside production');
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

  test("--no-input refuses a password Django's validators refuse, in one line (issue 17: OIDC_CONNECT_SUPERUSER_PASSWORD=password was accepted)", async () => {
    const common = await cli(dir, ['createsuperuser', '--no-input', '--username', 'weak'], { OIDC_CONNECT_SUPERUSER_PASSWORD: 'password' });
    assert.equal(common.code, 1, common.stdout);
    assert.equal(common.stderr, 'Error: OIDC_CONNECT_SUPERUSER_PASSWORD was refused: This password is too common.\n');
    const similar = await cli(dir, ['createsuperuser', '--no-input', '--username', 'admin2', '--email', 'admin2@example.com'], { OIDC_CONNECT_SUPERUSER_PASSWORD: '20240815' });
    assert.equal(similar.stderr, 'Error: OIDC_CONNECT_SUPERUSER_PASSWORD was refused: This password is entirely numeric.\n');
    const named = await cli(dir, ['createsuperuser', '--no-input', '--username', 'margaret', '--email', 'mh@example.com'], { OIDC_CONNECT_SUPERUSER_PASSWORD: 'Margaret!' });
    assert.equal(named.stderr, 'Error: OIDC_CONNECT_SUPERUSER_PASSWORD was refused: The password is too similar to the username.\n');
  });

  test('without a terminal and without --no-input: one line, exit 1, no prompts and no stack trace (issue 22)', () => {
    // stdin from /dev/null, as `createsuperuser </dev/null`.
    const run = spawnSync(process.execPath, [BIN, 'createsuperuser'], {
      cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir }, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 20_000,
    });
    assert.equal(run.status, 1);
    assert.equal(run.stdout, '');
    assert.equal(run.stderr, 'Superuser creation skipped: not running in a terminal; use --no-input\n');
  });

  test('in a terminal: a refused, mismatched or blank password is asked for again, as Django does, never echoed', async () => {
    const ok = await cliInTerminal(dir, ['createsuperuser'], {}, [
      [/Username \(leave blank to use '[^']*'\): $/, 'root2'],
      [/Email address: $/, 'root2@example.com'],
      [/Password: $/, 'password'],
      [/Password \(again\): $/, 'password'],
      [/Bypass password validation and create user anyway\? \[y\/N\]: $/, ''],
      [/Password: $/, 'secret password'],
      [/Password \(again\): $/, 'other password'],
      [/Password: $/, '   '],
      [/Password \(again\): $/, '   '],
      [/Password: $/, 'a long and unusual phrase'],
      [/Password \(again\): $/, 'a long and unusual phrase'],
    ]);
    assert.equal(ok.code, 0, ok.transcript);
    const told = ok.transcript.slice(ok.transcript.indexOf('Email address:'));
    assert.match(told, /^Email address: root2@example\.com\nPassword: \nPassword \(again\): \nThis password is too common\.\nBypass password validation and create user anyway\? \[y\/N\]: \nPassword: \nPassword \(again\): \nError: Your passwords didn't match\.\nPassword: \nPassword \(again\): \nError: Blank passwords aren't allowed\.\nPassword: \nPassword \(again\): \nSuperuser "root2" created successfully\.\n$/);
    for (const typed of ['password\n', 'secret password', 'other password', 'unusual phrase']) assert.ok(!told.includes(typed), `${typed} is never echoed`);

    // Answering y keeps the refused password, as Django's createsuperuser does.
    const bypass = await cliInTerminal(dir, ['createsuperuser', '--username', 'root3', '--email', ''], {}, [
      [/Password: $/, '12345678'],
      [/Password \(again\): $/, '12345678'],
      [/anyway\? \[y\/N\]: $/, 'y'],
    ]);
    assert.equal(bypass.code, 0, bypass.transcript);
    assert.match(bypass.transcript, /This password is too common\.\nThis password is entirely numeric\.\nBypass password validation/);
    assert.match(bypass.transcript, /Superuser "root3" created successfully\./);
  });

  test('createsuperuser --help explains every option', async () => {
    const help = await cli(dir, ['createsuperuser', '--help']);
    assert.equal(help.code, 0, help.stderr);
    for (const option of ['--username U', '--email E', '--no-input', '-h, --help']) assert.match(help.stdout, new RegExp(`^  ${option} +\\S`, 'm'), option);
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

describe('npm start in development keeps its session secret in ./data', () => {
  /** `serve` in `cwd` with the development provider; resolves once the banner says it is running. */
  async function serve(cwd: string, env: Record<string, string>) {
    const child = spawn(process.execPath, [BIN, 'serve'], { cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd, ...env } });
    let output = '';
    let stdout = '';
    child.stderr.on('data', (chunk) => (output += chunk));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk) => {
        output += chunk;
        stdout += chunk;
        if (output.includes('oidc-connect is running at')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`serve exited (${code}) before it was running:\n${output}`)));
    });
    return {
      /** SIGTERM; resolves with the exit code, its stdout, and stdout and stderr together. */
      async stop() {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const [code] = await exited;
        return { code: code as number | null, stdout, output };
      },
    };
  }

  test('SIGTERM: after the banner every stdout line is a JSON log line, one of them "SIGTERM received: shutting down", and the exit is 0 (issue 22)', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'oidc-connect-sigterm-'));
    try {
      const port = await freePort();
      const env = { PORT: String(port), HOST: '127.0.0.1', APP_URL: `http://127.0.0.1:${port}`, DEV_IDP_PORT: String(await freePort()) };
      const server = await serve(cwd, env);
      assert.equal((await fetch(`${env.APP_URL}/healthz`)).status, 200);
      const { code, stdout, output } = await server.stop();
      assert.equal(code, 0, output);
      const lines = stdout.split('\n');
      const bannerEnd = lines.findIndex((line) => line.includes('Create an admin account: npx oidc-connect createsuperuser'));
      assert.ok(bannerEnd > 0, stdout);
      const entries = lines.slice(bannerEnd + 1).filter((line) => line.trim() !== '').map((line) => {
        try {
          return JSON.parse(line) as { msg?: string; signal?: string };
        } catch {
          return assert.fail(`not a JSON log line: ${line}`);
        }
      });
      assert.ok(entries.some((entry) => entry.msg === 'request completed'), output);
      assert.equal(entries.filter((entry) => entry.msg === 'SIGTERM received: shutting down' && entry.signal === 'SIGTERM').length, 1, output);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  test('made at the first start, the same after a restart: a login form from before the restart is accepted after it', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'oidc-connect-start-'));
    try {
      const port = await freePort();
      const env = { PORT: String(port), HOST: '127.0.0.1', APP_URL: `http://127.0.0.1:${port}`, DEV_IDP_PORT: String(await freePort()) };
      const made = await cli(cwd, ['createsuperuser', '--no-input', '--username', 'admin', '--email', 'admin@example.com'], { ...env, OIDC_CONNECT_SUPERUSER_PASSWORD: 'correct horse' });
      assert.equal(made.code, 0, made.stderr);
      assert.equal(existsSync(join(cwd, 'data', 'session-secret')), false, 'the CLI made no secret: only the server needs one');

      const browser = new HttpClient();
      const first = await serve(cwd, env);
      const page = await browser.get(`${env.APP_URL}/accounts/login/`);
      await first.stop();
      const secret = readFileSync(join(cwd, 'data', 'session-secret'), 'utf8');

      // The form's token is an HMAC under a key from the secret: only the same secret accepts it.
      const second = await serve(cwd, env);
      try {
        const login = await browser.post(`${env.APP_URL}/accounts/login/`, { _csrf: hiddenField(page.body, '_csrf'), next: '/', username: 'admin', password: 'correct horse' });
        assert.equal(login.status, 302, login.body.slice(0, 300));
        assert.equal(readFileSync(join(cwd, 'data', 'session-secret'), 'utf8'), secret);
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
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
    // One level is created, not a path: Node's recursive mkdir spins forever under /proc.
    [{ DATA_DIR: 'missing/deeper' }, /^oidc-connect: configuration error: DATA_DIR: cannot create \S+\/missing\/deeper for the development session secret \(ENOENT: /m],
    // openid-client skips the issuer comparison for a discovery URL, so check would say "issuer matches" for any issuer.
    [{ OIDC_ISSUER: 'https://id.example/oauth2/default/.well-known/openid-configuration', OIDC_RP_CLIENT_ID: 'x', OIDC_RP_CLIENT_SECRET: 'y' },
      /^oidc-connect: configuration error: OIDC_ISSUER=https:\/\/id\.example\/oauth2\/default\/\.well-known\/openid-configuration: must be the issuer, not its discovery URL: use https:\/\/id\.example\/oauth2\/default$/m],
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

describe('database errors: one line naming DATABASE_URL, no stack trace', () => {
  const oneLine = (run: CliRun, message: RegExp) => {
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    assert.match(run.stderr.trim(), message);
    assert.doesNotMatch(run.stderr, /\n\s+at |EEXIST/, 'no stack trace');
  };

  test('a file that is not a SQLite database', async () => {
    const text = join(dir, 'hostname');
    writeFileSync(text, 'not a database, like /etc/hostname\n');
    oneLine(await cli(dir, ['migrate'], { DATABASE_URL: `sqlite:${text}` }),
      /^oidc-connect: configuration error: DATABASE_URL: \S+\/hostname is not a SQLite database$/);
    oneLine(await cli(dir, ['migrate'], { DATABASE_URL: `sqlite:${text}/x.sqlite` }),
      /^oidc-connect: configuration error: DATABASE_URL: \S+\/hostname is not a directory, so \S+\/hostname\/x\.sqlite cannot be created$/);
  });

  test('a directory that does not exist is reported, not created (only the default ./data is)', async () => {
    const missing = join(dir, 'nonexistent', 'dir');
    oneLine(await cli(dir, ['migrate'], { DATABASE_URL: `sqlite:${missing}/x.sqlite` }),
      /^oidc-connect: configuration error: DATABASE_URL: the directory \S+\/nonexistent\/dir does not exist; create it/);
    assert.equal(existsSync(join(dir, 'nonexistent')), false, 'nothing was created');
  });

  test('a path under /proc is an error, not a hang (Node\'s recursive mkdir spins there)', { skip: !existsSync('/proc/self') && 'no /proc' }, async () => {
    oneLine(await cli(dir, ['migrate'], { DATABASE_URL: 'sqlite:/proc/foo/x.sqlite' }), /DATABASE_URL: the directory \/proc\/foo does not exist/);
  });

  test('PostgreSQL down: cannot reach PostgreSQL at host:port (DATABASE_URL): connection refused', async () => {
    const port = await freePort(); // nobody listens there
    const run = await cli(dir, ['migrate'], { DATABASE_URL: `postgres://app:hunter2@127.0.0.1:${port}/app` });
    oneLine(run, new RegExp(`^Error: cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port} \\(DATABASE_URL\\): connection refused$`));
    assert.doesNotMatch(run.stderr, /hunter2/);
  });
});

describe('check', () => {
  let idp: DevIdp;
  before(async () => {
    idp = await startDevIdp({ port: await freePort(), appUrl: 'http://localhost:8080', dataDir: join(dir, 'idp') });
  });
  after(() => idp.close());

  /** The PROBLEM line and the cause lines under it. */
  const problem = (run: CliRun): string[] => {
    const lines = run.stdout.split('\n');
    const first = lines.findIndex((line) => line.startsWith('PROBLEM '));
    assert.ok(first >= 0, run.stdout + run.stderr);
    const causes = lines.slice(first + 1);
    return [lines[first]!, ...causes.slice(0, causes.findIndex((line) => !line.startsWith('  cause: ')))];
  };

  test('says OK for a reachable provider, the redirect URI to register, and accepted client credentials', async () => {
    const run = await cli(dir, ['check'], { DEV_IDP_PORT: String(idp.port) });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /OK Okta: redirect URI http:\/\/localhost:8080\/authorization-code\/callback/);
    assert.match(run.stdout, /OK Okta: discovery from http:\/\/localhost:\d+\/oauth2\/default \(issuer matches\)/);
    assert.match(run.stdout, /OK Okta: the token endpoint accepts the client credentials/);
    assert.match(run.stdout, /OK configuration is valid/);
  });

  test('an unreachable provider: the setting, the reason, and the cause chain down to TCP', async () => {
    const port = await freePort();
    const run = await cli(dir, ['check'], { DEV_IDP_PORT: String(port) });
    assert.equal(run.code, 1);
    const [line, ...causes] = problem(run);
    assert.match(line!, /^PROBLEM DEV_IDP_PORT \(issuer http:\/\/localhost:\d+\/oauth2\/default\): Okta could not be reached: connection refused\./);
    assert.match(line!, /npx oidc-connect dev-idp/);
    assert.ok(causes.some((c) => /ECONNREFUSED/.test(c)), causes.join('\n'));
  });

  test('an unreachable OIDC_ISSUER without OIDC_PROVIDER_NAME: named by its host, not "Okta", with its one cause', async () => {
    const port = await freePort();
    const run = await cli(dir, ['check'], { OIDC_ISSUER: `http://127.0.0.1:${port}`, OIDC_RP_CLIENT_ID: 'x', OIDC_RP_CLIENT_SECRET: 'y' });
    assert.equal(run.code, 1);
    assert.deepEqual(problem(run), [
      `PROBLEM OIDC_ISSUER (issuer http://127.0.0.1:${port}): 127.0.0.1:${port} could not be reached: connection refused. Please try again in a moment.`,
      `  cause: connect ECONNREFUSED 127.0.0.1:${port}`,
    ]);
    const named = await cli(dir, ['check'], { OIDC_ISSUER: `http://127.0.0.1:${port}`, OIDC_RP_CLIENT_ID: 'x', OIDC_RP_CLIENT_SECRET: 'y', OIDC_PROVIDER_NAME: 'Portal' });
    assert.match(problem(named)[0]!, /^PROBLEM OIDC_ISSUER \(issuer http:\/\/127\.0\.0\.1:\d+\): Portal could not be reached: connection refused\./);
  });

  test('OKTA_DOMAIN set to an unknown host: names OKTA_DOMAIN and the DNS failure', async () => {
    const run = await cli(dir, ['check'], { OKTA_DOMAIN: 'no-such-tenant.invalid', OIDC_RP_CLIENT_ID: 'x', OIDC_RP_CLIENT_SECRET: 'y' });
    assert.equal(run.code, 1);
    const [line, ...causes] = problem(run);
    assert.match(line!, /^PROBLEM OKTA_DOMAIN \(issuer https:\/\/no-such-tenant\.invalid\/oauth2\/default\): Okta could not be reached: DNS lookup of no-such-tenant\.invalid failed \((ENOTFOUND|EAI_AGAIN)\)/);
    assert.doesNotMatch(line!, /OIDC_ISSUER/, 'the user never set OIDC_ISSUER');
    assert.ok(causes.some((c) => /getaddrinfo (ENOTFOUND|EAI_AGAIN) no-such-tenant\.invalid/.test(c)), causes.join('\n'));
  });

  test('an issuer without its path: no discovery document at the URL (HTTP 404), and the Okta hint', async () => {
    const issuer = `http://localhost:${idp.port}`;
    const run = await cli(dir, ['check'], { OIDC_ISSUER: issuer, OIDC_RP_CLIENT_ID: 'x', OIDC_RP_CLIENT_SECRET: 'y' });
    assert.equal(run.code, 1);
    const [line, ...causes] = problem(run);
    assert.equal(line, `PROBLEM OIDC_ISSUER (issuer ${issuer}): No discovery document at ${issuer}/.well-known/openid-configuration (HTTP 404): `
      + 'check OIDC_ISSUER. Okta issuers look like https://{domain}/oauth2/default or https://{domain}.');
    assert.ok(causes.includes(`  cause: HTTP 404 from ${issuer}/.well-known/openid-configuration`), causes.join('\n'));
  });

  test('issuer 127.0.0.1 where the provider says localhost: expected and actual side by side', async () => {
    const run = await cli(dir, ['check'], { OIDC_ISSUER: `http://127.0.0.1:${idp.port}/oauth2/default`, OIDC_RP_CLIENT_ID: 'x', OIDC_RP_CLIENT_SECRET: 'y' });
    assert.equal(run.code, 1);
    assert.match(problem(run)[0]!, new RegExp(`The issuer does not match: OIDC_ISSUER gives http://127\\.0\\.0\\.1:${idp.port}/oauth2/default, `
      + `but 127\\.0\\.0\\.1:${idp.port} says its issuer is http://localhost:${idp.port}/oauth2/default\\.`));
  });

  test('a wrong client secret: the provider refused our client credentials, with the HTTP status', async () => {
    const run = await cli(dir, ['check'], { DEV_IDP_PORT: String(idp.port), OIDC_RP_CLIENT_SECRET: 'not-the-secret' });
    assert.equal(run.code, 1, run.stdout);
    const [line, ...causes] = problem(run);
    assert.equal(line, 'PROBLEM Okta token endpoint: Okta refused our client credentials: check OIDC_RP_CLIENT_ID / OIDC_RP_CLIENT_SECRET.');
    assert.ok(causes.some((c) => /^ {2}cause: HTTP 401 from http:\/\/localhost:\d+\/oauth2\/default\/v1\/token$/.test(c)), causes.join('\n'));
  });

  test('flags a plain-http APP_URL outside localhost', async () => {
    const run = await cli(dir, ['check'], { APP_URL: 'http://app.example', DEV_IDP_PORT: String(await freePort()) });
    assert.equal(run.code, 1);
    assert.match(run.stdout, /PROBLEM APP_URL=http:\/\/app\.example: providers refuse plain-http redirect URIs/);
  });
});

describe('check: warnings, which do not fail it', () => {
  // Like LemonLDAP::NG: lists both client authentication methods, never percent-decodes Basic credentials.
  let op: FakeOp;
  before(async () => { op = await startFakeOp({ clientId: 'my-app', clientSecret: 'interop-secret', basicWithoutUrlDecoding: true }); });
  after(() => op.close());
  const provider = () => ({ OIDC_ISSUER: op.issuer, OIDC_RP_CLIENT_ID: 'my-app', OIDC_RP_CLIENT_SECRET: 'interop-secret', OIDC_PROVIDER_NAME: 'Portal' });

  test('a provider that refuses Basic and accepts post: a WARN naming OIDC_RP_TOKEN_AUTH_METHOD, the credentials OK, exit 0', async () => {
    const run = await cli(dir, ['check'], provider());
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^WARN Portal refused our client credentials sent with client_secret_basic \(invalid_client\) and accepted client_secret_post.*OIDC_RP_TOKEN_AUTH_METHOD=client_secret_post/m);
    assert.match(run.stdout, /^OK Portal: the token endpoint accepts the client credentials$/m);
    assert.doesNotMatch(run.stdout, /^PROBLEM/m);
  });

  test('a scope the provider does not list, and OIDC_REQUIRED_GROUPS with no groups claim listed: WARN lines, exit 0', async () => {
    const run = await cli(dir, ['check'], {
      ...provider(), OIDC_RP_TOKEN_AUTH_METHOD: 'client_secret_post', OIDC_RP_SCOPES: 'openid email profile groups', OIDC_REQUIRED_GROUPS: 'timelords',
    });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^WARN Portal: the provider does not list groups in scopes_supported \(OIDC_RP_SCOPES\)/m);
    assert.match(run.stdout, /^WARN Portal: OIDC_REQUIRED_GROUPS needs a groups claim/m);
    assert.doesNotMatch(run.stdout, /^(PROBLEM|WARN Portal refused)/m, 'post from the start: no Basic request to refuse');
    assert.match(run.stdout, /^OK configuration is valid$/m);
  });
});

describe('the running Node is checked before any .ts is loaded', () => {
  const tooOld = /^oidc-connect cannot start: it needs Node\.js >=\d+\.\d+ \(package\.json "engines"\), and this is Node v\d+/;

  test('a Node without type stripping gets one message saying what to do, not ERR_UNKNOWN_FILE_EXTENSION', async () => {
    const run = await cli(dir, ['serve'], {}, undefined, [process.execPath, '--no-experimental-strip-types']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^oidc-connect cannot start: Node v\S+ \(.+\) does not strip TypeScript types, so it cannot run the sources\.\n/);
    assert.doesNotMatch(run.stderr, /ERR_UNKNOWN_FILE_EXTENSION|\n\s+at /);
  });

  const old = olderSystemNode();

  test('a Node older than "engines" (here the system node) is told the version and how to get the pinned Node', { skip: 'skip' in old && old.skip }, async () => {
    const { path, version } = old as { path: string; version: string };
    const run = await cli(dir, ['serve'], {}, undefined, [path]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, tooOld);
    assert.match(run.stderr, new RegExp(`needs Node\\.js ${ENGINES.replace(/\./g, '\\.')} .*this is Node ${version.replace(/\./g, '\\.')}`));
    assert.match(run.stderr, /npm rebuild node/);
    assert.doesNotMatch(run.stderr, /ERR_UNKNOWN_FILE_EXTENSION|\n\s+at /);
  });

  test('the README states the same minimum as package.json "engines"', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const stated = [...readme.matchAll(/Node(?:\.js)? ≥ (\d+\.\d+)/g)].map((m) => m[1]);
    assert.ok(stated.length > 0, 'the README states a minimum Node version');
    for (const minimum of stated) assert.equal(`>=${minimum}`, ENGINES);
  });
});
