/**
 * `npm test`'s runner (scripts/test.ts), run on a fixture (test/support/runner-fixture.ts: a
 * PostgreSQL suite, a test that skips itself, a todo): nothing skipped in silence, and PostgreSQL's
 * suites run on a throwaway cluster when PostgreSQL is installed, which goes away with the run.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { describe, test } from 'node:test';

const RUNNER = new URL('../scripts/test.ts', import.meta.url).pathname;
const FIXTURE = 'test/support/runner-fixture.ts';
const ROOT = new URL('..', import.meta.url).pathname;
const inCi = !['', '0', 'false', undefined].includes(process.env['CI']?.toLowerCase());

interface Run { code: number | null; stdout: string }

/** The runner on the fixture, with `env` over this process's environment minus TEST_DATABASE_URL and CI. */
function run(env: Record<string, string>, onOutput?: (stdout: string, pid: number) => void): Promise<Run> {
  const { TEST_DATABASE_URL: _url, CI: _ci, ...inherited } = process.env;
  // Its own process group, so a Ctrl-C can be sent to the runner and the tests under it, as a terminal does.
  const child = spawn(process.execPath, [RUNNER, FIXTURE], { cwd: ROOT, env: { ...inherited, ...env }, detached: true });
  let stdout = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
    onOutput?.(stdout, child.pid!);
  });
  child.stderr.on('data', (chunk) => (stdout += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout }));
  });
}

const lastLine = (stdout: string) => stdout.trim().split('\n').at(-1);
const clusters = () => readdirSync(tmpdir()).filter((name) => name.startsWith('oidc-connect-pg-'));

describe('npm test\'s runner on a fixture', () => {
  test('without PostgreSQL, its last line counts and names every suite and test not run, with the reason; the run passes', async () => {
    const { code, stdout } = await run({ TEST_POSTGRES_BIN: '/nonexistent' });
    assert.equal(code, 0, stdout);
    const missing = 'TEST_DATABASE_URL is not set and PostgreSQL\'s initdb and pg_ctl are not in TEST_POSTGRES_BIN=/nonexistent (apt-get install postgresql, or set TEST_DATABASE_URL)';
    assert.equal(lastLine(stdout), `npm test: 2 SKIPPED (1 suite, 1 test) and 1 TODO. 1 × no PostgreSQL: ${missing}: a PostgreSQL suite | `
      + '1 × the fixture says so: a test that skips itself | 1 × todo, one day: a test for later');
    assert.match(stdout, /^npm test: {3}SKIPPED suite test\/support\/runner-fixture\.ts: a PostgreSQL suite \(no PostgreSQL: /m);
  });

  test('with CI set and no PostgreSQL, the PostgreSQL suite fails instead of being skipped', async () => {
    const { code, stdout } = await run({ TEST_POSTGRES_BIN: '/nonexistent', CI: 'true' });
    assert.equal(code, 1, stdout);
    assert.match(stdout, /^npm test: PostgreSQL: none \(.*\); CI is set, so its tests fail instead of being skipped$/m);
    assert.match(stdout, /TEST_DATABASE_URL is not set, but CI is: the PostgreSQL tests must run in CI/);
    assert.equal(lastLine(stdout), 'npm test: 1 SKIPPED (0 suites, 1 test) and 1 TODO. 1 × the fixture says so: a test that skips itself | 1 × todo, one day: a test for later');
  });

  const installed = ['/usr/lib/postgresql', ...(process.env['PATH'] ?? '').split(':')].some((dir) => existsSync(dir) && (
    existsSync(`${dir}/initdb`) || (dir === '/usr/lib/postgresql' && readdirSync(dir).some((version) => existsSync(`${dir}/${version}/bin/initdb`)))));
  // In CI PostgreSQL is installed (.ci/run): there this test must run, never skip.
  test('with PostgreSQL installed, its suite runs on a throwaway cluster, which Ctrl-C stops and removes', { skip: !installed && !inCi && 'PostgreSQL is not installed (initdb)' }, async () => {
    const before = new Set(clusters());
    let port = 0;
    let interrupted = false;
    const { code, stdout } = await run({ FIXTURE_HOLD: '1' }, (output, pid) => {
      port ||= Number(/cluster at 127\.0\.0\.1:(\d+)/.exec(output)?.[1] ?? 0);
      // The PostgreSQL test has reached the cluster and waits: Ctrl-C, to the runner's process group.
      if (!interrupted && output.includes('fixture: holding')) {
        interrupted = true;
        process.kill(-pid, 'SIGINT');
      }
    });
    assert.ok(interrupted, stdout);
    assert.equal(code, 130, stdout);
    assert.match(stdout, /^npm test: PostgreSQL: a throwaway PostgreSQL \S+.* cluster at 127\.0\.0\.1:\d+/m);
    assert.deepEqual(clusters().filter((name) => !before.has(name)), [], 'its directory is removed');
    const socket = connect(port, '127.0.0.1');
    const [error] = await once(socket, 'error').catch((e: unknown) => [e]) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'ECONNREFUSED', 'nothing listens on its port any more');
  });
});
