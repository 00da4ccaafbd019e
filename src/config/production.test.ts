import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { loadConfig } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const STRONG = 'nH3kQ9vX2bLm7pR4tW8yZ1cF6gJ0sD5e-Aq_uE';
const production = {
  NODE_ENV: 'production', SESSION_SECRET: STRONG, APP_URL: 'https://app.example.com',
  OIDC_ISSUER: 'https://id.example.com', OIDC_RP_CLIENT_ID: 'c', OIDC_RP_CLIENT_SECRET: 's',
};

/** The problems loadConfig reports for this environment; [] when it loads. */
function problems(env: Record<string, string>): string[] {
  try {
    loadConfig({ cwd: dir, env });
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
}

test('a production configuration with https and a random secret loads', () => {
  assert.deepEqual(problems(production), []);
  for (const local of ['http://localhost:8080', 'http://127.0.0.1:8080', 'http://[::1]:8080']) {
    assert.deepEqual(problems({ ...production, APP_URL: local }), [], local);
  }
});

test('production refuses a plain http APP_URL on a public host, unless ALLOW_INSECURE_APP_URL says so', () => {
  const found = problems({ ...production, APP_URL: 'http://app.example.com' });
  assert.equal(found.length, 1, found.join('\n'));
  assert.match(found[0]!, /^APP_URL=http:\/\/app\.example\.com: must use https:\/\/ when NODE_ENV=production.*ALLOW_INSECURE_APP_URL=true/);
  assert.deepEqual(problems({ ...production, APP_URL: 'http://app.example.com', ALLOW_INSECURE_APP_URL: 'true' }), []);
  assert.deepEqual(problems({ ...production, NODE_ENV: 'development', APP_URL: 'http://app.example.com' }), [], 'development may use http');
  assert.match(problems({ ...production, ALLOW_INSECURE_APP_URL: 'maybe' })[0]!, /^ALLOW_INSECURE_APP_URL=maybe: must be true or false/);
});

test('production refuses an obviously weak SESSION_SECRET, and says why without printing it', () => {
  for (const weak of ['x'.repeat(64), 'ab'.repeat(24), 'password'.repeat(5), '0123456789'.repeat(4)]) {
    const found = problems({ ...production, SESSION_SECRET: weak });
    assert.equal(found.length, 1, `${weak}: ${found.join('\n')}`);
    assert.match(found[0]!, /^SESSION_SECRET: is too guessable \(about \d+ bits; at least 128 are needed, counted as its length without repeats/, weak);
    assert.ok(!found[0]!.includes(weak), 'the secret is not printed');
  }
  // What the README tells people to run: openssl rand -base64 48 and -hex 32.
  for (const generated of ['v1Hc0vJ3T4g0YfD3cQm3rEo0p6nqk9k0o8xw6m5uJ1c2Z9sV7a4bXy3Lw2Kq8RtU', 'c4f1e0a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1']) {
    assert.deepEqual(problems({ ...production, SESSION_SECRET: generated }), [], generated);
  }
});

test('TRUST_PROXY takes true, a hop count or the proxies\' addresses; anything else is a configuration problem', () => {
  const trust = (value: string) => loadConfig({ cwd: dir, env: { ...production, TRUST_PROXY: value } }).trustProxy;
  assert.equal(trust('true'), true);
  assert.equal(trust('false'), false);
  assert.equal(trust('2'), 2);
  assert.equal(trust('10.0.0.7, 10.1.0.0/16,fd00::1,loopback'), '10.0.0.7, 10.1.0.0/16,fd00::1,loopback');
  for (const bad of ['yes', '10.0.0.300', '10.0.0.0/33', 'lb.internal', '10.0.0.1,,']) {
    const found = problems({ ...production, TRUST_PROXY: bad });
    assert.equal(found.length, 1, `${bad}: ${found.join('\n')}`);
    assert.match(found[0]!, /^TRUST_PROXY=.*: must be true, the number of proxies in front of the app, or their addresses/, bad);
  }
});
