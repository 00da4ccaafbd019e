import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { loadConfig } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-limits-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const env = { SESSION_SECRET: 'x'.repeat(16) + 'abcdefghijklmnopqrstuvwxyz012345' };

test('the abuse limits: defaults, set values, and one line naming each bad one', () => {
  const defaults = loadConfig({ cwd: dir, env });
  assert.deepEqual(defaults.passwordChecks, { perIpPerMinute: 30, hashConcurrency: 2 });
  assert.equal(defaults.pendingLoginsPerIp, 1000);

  const set = loadConfig({ cwd: dir, env: { ...env, LOGIN_RATE_LIMIT_PER_MINUTE: '5', PASSWORD_HASH_CONCURRENCY: '4', OIDC_PENDING_LOGINS_PER_IP: '200' } });
  assert.deepEqual(set.passwordChecks, { perIpPerMinute: 5, hashConcurrency: 4 });
  assert.equal(set.pendingLoginsPerIp, 200);

  assert.throws(() => loadConfig({ cwd: dir, env: { ...env, LOGIN_RATE_LIMIT_PER_MINUTE: '0', PASSWORD_HASH_CONCURRENCY: 'many', OIDC_PENDING_LOGINS_PER_IP: '-1' } }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.problems.map((p) => p.split('=')[0]), ['LOGIN_RATE_LIMIT_PER_MINUTE', 'PASSWORD_HASH_CONCURRENCY', 'OIDC_PENDING_LOGINS_PER_IP']);
      return true;
    });
});
