import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { loadConfig, withSessionSecret } from './index.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'oidc-connect-secret-'));
});
afterEach(() => {
  chmodSync(dir, 0o700);
  rmSync(dir, { recursive: true, force: true });
});

/** Every path under `root`, so a test sees anything written anywhere below it. */
function tree(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' }).sort();
}

test('loadConfig on a read-only directory writes nothing: no data/, no session secret, and the config is frozen', () => {
  // Read-only for everyone but root, who may write anyway: the listing afterwards is what shows nothing was written.
  chmodSync(dir, 0o555);
  const config = loadConfig({ cwd: dir, env: {} });
  assert.deepEqual(tree(dir), []);
  assert.equal(config.sessionSecret, '');
  assert.equal(config.dataDir, join(dir, 'data'));
  assert.ok(Object.isFrozen(config));
});

test('withSessionSecret makes the development secret once, in DATA_DIR/session-secret readable by its owner only, and reads it back', () => {
  const first = withSessionSecret(loadConfig({ cwd: dir, env: {} }));
  assert.deepEqual(tree(dir), ['data', join('data', 'session-secret')]);
  const file = join(dir, 'data', 'session-secret');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.match(first.sessionSecret, /^[A-Za-z0-9_-]{64}$/, '48 random bytes, base64url');
  assert.equal(readFileSync(file, 'utf8'), `${first.sessionSecret}\n`);
  assert.ok(Object.isFrozen(first) && Object.isFrozen(first.session));

  const again = withSessionSecret(loadConfig({ cwd: dir, env: {} }));
  assert.equal(again.sessionSecret, first.sessionSecret);
});

test('with SESSION_SECRET set, withSessionSecret returns the configuration as it is and writes nothing', () => {
  const config = loadConfig({ cwd: dir, env: { SESSION_SECRET: 'x'.repeat(40) } });
  assert.equal(withSessionSecret(config), config);
  assert.deepEqual(tree(dir), []);
});

test('a production configuration without a secret (built by hand: loadConfig refuses one) is refused, not given a file', () => {
  const development = loadConfig({ cwd: dir, env: {} });
  assert.throws(() => withSessionSecret({ ...development, production: true }), (error: unknown) =>
    error instanceof ConfigError && /SESSION_SECRET: is required when NODE_ENV=production/.test(error.message));
  assert.deepEqual(tree(dir), []);
});
