import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { loadConfig } from './index.ts';

const SECRET = 'k3Jf9vQ2pX7mL4tR8wZ1nB6yH0cD5gA2sE7uJ';
const PRODUCTION = {
  NODE_ENV: 'production', SESSION_SECRET: SECRET, APP_URL: 'https://app.example.com',
  OIDC_ISSUER: 'https://example.okta.com/oauth2/default', OIDC_RP_CLIENT_ID: 'client', OIDC_RP_CLIENT_SECRET: 'secret', EMAIL_URL: 'smtp://mail.example.com:587',
};
const TOKEN = 'pT4dW9kZ2qL7xN3vB8mR1sH6fJ0cY5gAeU';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig({ cwd: '/nonexistent', env });
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return [...error.problems];
  }
  return [];
}

test('metrics are off by default', () => {
  assert.equal(loadConfig({ cwd: '/nonexistent', env: {} }).metrics, null);
});

test('METRICS=on in production with neither METRICS_TOKEN nor METRICS_PORT is a problem naming METRICS and both ways out', () => {
  const found = problems({ ...PRODUCTION, METRICS: 'on' });
  assert.equal(found.length, 1);
  assert.match(found[0]!, /^METRICS=on: .*NODE_ENV=production.*METRICS_TOKEN.*METRICS_PORT/);
  assert.deepEqual(problems({ ...PRODUCTION, METRICS: 'on', METRICS_TOKEN: TOKEN }), []);
  assert.deepEqual(problems({ ...PRODUCTION, METRICS: 'on', METRICS_PORT: '9464' }), []);
});

test('METRICS=on in development may serve them open on the app\'s port', () => {
  assert.deepEqual(loadConfig({ cwd: '/nonexistent', env: { METRICS: 'on' } }).metrics, { tokenHash: null, port: null });
});

test('METRICS_TOKEN is kept only as its SHA-256, and must be long and bearer-safe', () => {
  const config = loadConfig({ cwd: '/nonexistent', env: { METRICS: 'on', METRICS_TOKEN: TOKEN } });
  // Python: base64.urlsafe_b64encode(hashlib.sha256(b'pT4dW9kZ2qL7xN3vB8mR1sH6fJ0cY5gAeU').digest()).rstrip(b'=')
  assert.equal(config.metrics?.tokenHash, 'zngs85xj5xIp5msegg6x2sKHoaOZOPDvgzy_rPAEeQM');
  assert.match(problems({ METRICS: 'on', METRICS_TOKEN: 'short' })[0]!, /^METRICS_TOKEN: is shorter than 32 characters; generate one with: openssl rand -base64 32$/);
  assert.match(problems({ METRICS: 'on', METRICS_TOKEN: `${TOKEN}"x` })[0]!, /^METRICS_TOKEN: has characters a bearer token can't carry/);
});

test('METRICS_TOKEN or METRICS_PORT without METRICS=on, METRICS_PORT equal to PORT, and a bad port are problems naming the variable', () => {
  assert.match(problems({ METRICS_TOKEN: TOKEN })[0]!, /^METRICS_TOKEN: is set but METRICS is off; set METRICS=on/);
  assert.match(problems({ METRICS_PORT: '9464' })[0]!, /^METRICS_PORT=9464: is set but METRICS is off/);
  assert.match(problems({ METRICS: 'on', PORT: '8080', METRICS_PORT: '8080' })[0]!, /^METRICS_PORT=8080: is the app's own PORT/);
  assert.match(problems({ METRICS: 'on', METRICS_PORT: 'x' })[0]!, /^METRICS_PORT=x: must be a whole number from 0 to 65535$/);
  assert.match(problems({ METRICS: 'maybe' })[0]!, /^METRICS=maybe: must be true or false$/);
});
