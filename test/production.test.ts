import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createUser } from '../src/accounts/users.ts';
import { openDatabase } from '../src/db/index.ts';
import { freePort, startTestApp } from './support/app.ts';
import { startFakeOp, type FakeOp } from './support/fake-op.ts';
import { HttpClient, hiddenField } from './support/http-client.ts';
import { openRowTokens } from './support/session-tokens.ts';

const BIN = new URL('../bin/oidc-connect.js', import.meta.url).pathname;
const SESSION_SECRET = 'prod-session-secret-0123456789-abcdefghij';
const PASSWORD = 'Pr0duction-Passw0rd!';

describe('production mode: structured logs that never carry secrets', () => {
  let dir: string;
  let op: FakeOp;
  let server: ChildProcess;
  let output = '';
  let url: string;
  const secrets: string[] = [PASSWORD, SESSION_SECRET, 'test-secret'];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oidc-connect-prod-'));
    op = await startFakeOp({ issueRefreshToken: true, claims: { email: 'pat@example.com', email_verified: true, preferred_username: 'pat' } });
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const env = {
      PATH: process.env.PATH ?? '', HOME: dir, NODE_ENV: 'production', PORT: String(port), HOST: '127.0.0.1', APP_URL: url,
      SESSION_SECRET, OIDC_ISSUER: op.issuer, OIDC_RP_CLIENT_ID: 'test-client', OIDC_RP_CLIENT_SECRET: 'test-secret',
      OIDC_RP_SCOPES: 'openid email profile offline_access', LOG_LEVEL: 'info',
    };
    const database = openDatabase({ kind: 'sqlite', file: join(dir, 'data', 'oidc-connect.sqlite'), display: '', createDirectory: true });
    server = spawn(process.execPath, [BIN, 'serve'], { cwd: dir, env });
    // Listening once it logs that it started (a JSON line in production).
    await new Promise<void>((resolve, reject) => {
      server.stdout!.on('data', (chunk) => {
        output += chunk;
        if (output.includes('"msg":"oidc-connect started"')) resolve();
      });
      server.stderr!.on('data', (chunk) => (output += chunk));
      server.once('exit', (code) => reject(new Error(`serve exited (${code}) before it started:\n${output}`)));
    });
    await createUser(database.db, { username: 'opsadmin', email: 'ops@example.com', password: PASSWORD });
    await database.close();
  });
  after(async () => {
    if (server.exitCode === null) server.kill('SIGTERM');
    await op.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a day of traffic, then every log line is JSON with a request id and no secret', async () => {
    // A local login, a failed one, a provider login with tokens, a bearer call, a logout.
    const local = new HttpClient();
    let page = await local.get(`${url}/accounts/login/`);
    await local.post(`${url}/accounts/login/`, { _csrf: hiddenField(page.body, '_csrf'), username: 'opsadmin', password: `${PASSWORD}x` });
    page = await local.get(`${url}/accounts/login/`);
    const ok = await local.post(`${url}/accounts/login/`, { _csrf: hiddenField(page.body, '_csrf'), username: 'opsadmin', password: PASSWORD });
    assert.equal(ok.status, 302);
    secrets.push(local.cookie(url, 'oc_session')!, local.cookie(url, 'oc_csrf')!);

    const oidc = new HttpClient();
    const start = await oidc.get(`${url}/authorization-code/authenticate/`);
    const back = await oidc.get(start.location!);
    const callback = new URL(back.location!);
    secrets.push(callback.searchParams.get('code')!, callback.searchParams.get('state')!);
    assert.equal((await oidc.get(callback.href)).status, 302);
    secrets.push(oidc.cookie(url, 'oc_session')!);
    const database = openDatabase({ kind: 'sqlite', file: join(dir, 'data', 'oidc-connect.sqlite'), display: '' });
    const rows = await database.db.selectFrom('sessions').select('data').execute();
    await database.close();
    const opened = await Promise.all(rows.map((row) => openRowTokens(SESSION_SECRET, row.data)));
    for (const tokens of opened) {
      for (const token of [tokens.idToken, tokens.accessToken, tokens.refreshToken]) if (token) secrets.push(token);
    }
    const accessToken = opened.map((tokens) => tokens.accessToken).find(Boolean);
    await fetch(`${url}/api/me`, { headers: { authorization: `Bearer ${accessToken}` } });
    await fetch(`${url}/api/me`, { headers: { authorization: 'Bearer not-a-real-token-123' } });
    const home = await oidc.get(`${url}/`);
    await oidc.post(`${url}/accounts/logout/`, { _csrf: hiddenField(home.body, '_csrf') });

    server.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => server.on('exit', resolve));
    assert.equal(code, 0, 'graceful shutdown');

    const lines = output.split('\n').filter((line) => line.trim() !== '');
    assert.ok(lines.length > 10, output);
    const entries = lines.map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        assert.fail(`not a JSON log line: ${line}`);
      }
    });
    assert.ok(entries.some((e) => e.msg === 'oidc-connect started'));
    assert.ok(entries.some((e) => e.msg === 'SIGTERM received: shutting down'), 'the shutdown is a JSON line too');
    // One access line for each of the app's 10 requests above: 4 local login, 2 code flow, 2 API, home and logout.
    const requestLines = entries.filter((e) => e.req !== undefined || e.res !== undefined);
    assert.equal(requestLines.length, 10, JSON.stringify(requestLines.map((e) => (e.req as { url?: string } | undefined)?.url)));
    for (const entry of requestLines) assert.match(String(entry.reqId), /^[0-9a-f-]{36}$/);
    assert.ok(entries.some((e) => e.code === 'INVALID_CREDENTIALS'), 'a refused login is logged with its code');
    for (const secret of secrets) {
      assert.ok(secret && secret.length >= 8, 'each secret is real');
      assert.ok(!output.includes(secret), `a secret leaked into the logs: ${secret.slice(0, 6)}…`);
    }
    assert.ok(!output.includes('not-a-real-token-123'));
  });
});

describe('production refusals and proxies', () => {
  test('the development provider is refused in production', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-prod-'));
    try {
      const run = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, 'serve'], { cwd: dir, env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', SESSION_SECRET } });
        let stderr = '';
        child.stderr.on('data', (chunk) => (stderr += chunk));
        child.on('exit', (code) => resolve({ code, stderr }));
      });
      assert.equal(run.code, 1);
      assert.match(run.stderr, /OIDC_ISSUER: is required when NODE_ENV=production \(the built-in development provider is for development only\)/);
      const alone = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, 'dev-idp'], { cwd: dir, env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', SESSION_SECRET, OIDC_ISSUER: 'https://id.example', OIDC_RP_CLIENT_ID: 'x', OIDC_RP_CLIENT_SECRET: 'y' } });
        let stderr = '';
        child.stderr.on('data', (chunk) => (stderr += chunk));
        child.on('exit', (code) => resolve({ code, stderr }));
      });
      assert.equal(alone.code, 1);
      assert.match(alone.stderr, /refuses to start when NODE_ENV=production/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const trust of [false, true]) {
    test(`X-Forwarded-* is ${trust ? 'honoured with TRUST_PROXY' : 'ignored without TRUST_PROXY'}; redirect_uri never follows Host`, async () => {
      const op = await startFakeOp();
      const t = await startTestApp({
        OIDC_ISSUER: op.issuer, OIDC_RP_CLIENT_ID: 'test-client', OIDC_RP_CLIENT_SECRET: 'test-secret',
        ...(trust ? { TRUST_PROXY: 'true' } : {}),
      });
      try {
        await createUser(t.database.db, { username: 'proxied', email: 'p@example.com', password: 'proxied password' });
        const client = new HttpClient();
        const headers = { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' };
        const page = await client.get(`${t.url}/accounts/login/`, headers);
        await client.request('POST', `${t.url}/accounts/login/`, { form: { _csrf: hiddenField(page.body, '_csrf'), username: 'proxied', password: 'proxied password' }, headers });
        const row = await t.database.db.selectFrom('sessions').select('ip').executeTakeFirstOrThrow();
        assert.equal(row.ip, trust ? '203.0.113.9' : '127.0.0.1');
        const start = await client.get(`${t.url}/authorization-code/authenticate/`, { ...headers, host: 'evil.example' });
        assert.equal(start.status, 302);
        assert.equal(new URL(start.location!).searchParams.get('redirect_uri'), `${t.url}/authorization-code/callback`);
      } finally {
        await t.close();
        await op.close();
      }
    });
  }

  test('with a hop count or the proxy\'s address, a forged X-Forwarded-For does not become the audit-log IP', async () => {
    // The client forged 198.51.100.7; the one proxy in front appended the address it saw, 203.0.113.9.
    const throughProxy = '198.51.100.7, 203.0.113.9';
    const cases: Array<[string, string]> = [
      ['true', '198.51.100.7'], // every hop trusted: the forgery wins, which is why the README recommends the others
      ['1', '203.0.113.9'],
      ['127.0.0.1', '203.0.113.9'], // the test client is the proxy here
      ['10.9.8.7', '127.0.0.1'], // a direct client, not the proxy: its header is ignored
    ];
    for (const [trust, expected] of cases) {
      const t = await startTestApp({ TRUST_PROXY: trust });
      try {
        const client = new HttpClient();
        const page = await client.get(`${t.url}/accounts/login/`);
        await client.request('POST', `${t.url}/accounts/login/`, {
          form: { _csrf: hiddenField(page.body, '_csrf'), username: 'nobody', password: 'wrong password' },
          headers: { 'x-forwarded-for': throughProxy },
        });
        const row = await t.database.db.selectFrom('audit_log').select('ip').where('type', '=', 'login_failure').executeTakeFirstOrThrow();
        assert.equal(row.ip, expected, `TRUST_PROXY=${trust}`);
      } finally {
        await t.close();
      }
    }
  });
});
