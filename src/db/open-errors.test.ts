import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadConfig } from '../config/index.ts';
import { migrate, openDatabase } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'oidc-connect-open-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Opens and migrates DATABASE_URL as the app does; returns the error. */
async function failure(url: string): Promise<Error & { code?: string }> {
  try {
    const handle = openDatabase(loadConfig({ cwd: dir, env: { DATABASE_URL: url } }).database);
    await migrate(handle).finally(() => handle.close());
  } catch (error) {
    return error as Error;
  }
  assert.fail(`${url} opened`);
}

// The timeout stands for "no hang": Node's recursive mkdir spins forever on a path under /proc.
test('an unopenable SQLite path is a CONFIG_INVALID naming DATABASE_URL, not a hang', { timeout: 60_000 }, async () => {
  writeFileSync(join(dir, 'text'), 'hello\n');
  const cases: Array<[string, RegExp]> = [
    [`sqlite:${dir}/text`, /^DATABASE_URL: \S+\/text is not a SQLite database$/],
    [`sqlite:${dir}/text/x.sqlite`, /^DATABASE_URL: \S+\/text is not a directory/],
    [`sqlite:${dir}/missing/dir/x.sqlite`, /^DATABASE_URL: the directory \S+\/missing\/dir does not exist/],
    ...(existsSync('/proc/self') ? [['sqlite:/proc/foo/x.sqlite', /^DATABASE_URL: the directory \/proc\/foo does not exist/] as [string, RegExp]] : []),
  ];
  for (const [url, message] of cases) {
    const error = await failure(url);
    assert.equal(error.code, 'CONFIG_INVALID', url);
    assert.match(error.message, message);
  }
  assert.equal(existsSync(join(dir, 'missing')), false, 'a missing directory is not created');
});

test('the default ./data directory is created by opening the database (loading the configuration writes nothing)', async () => {
  const cwd = mkdtempSync(join(dir, 'cwd-'));
  const config = loadConfig({ cwd, env: {} });
  assert.equal(existsSync(join(cwd, 'data')), false);
  const handle = openDatabase(config.database);
  try {
    assert.deepEqual((await migrate(handle)).slice(0, 1), ['0001_init']);
    assert.ok(existsSync(join(cwd, 'data', 'oidc-connect.sqlite')));
  } finally {
    await handle.close();
  }
});

test('a new SQLite file, and its -wal and -shm files, are readable by their owner only (0600) under the usual umask (022)', async () => {
  const before = process.umask(0o022); // the usual umask, under which SQLite alone makes them 0644
  try {
    const file = join(dir, 'private.sqlite');
    const handle = openDatabase(loadConfig({ cwd: dir, env: { DATABASE_URL: `sqlite:${file}` } }).database);
    try {
      await migrate(handle); // writes, so the WAL and its index exist while the database is open
      for (const path of [file, `${file}-wal`, `${file}-shm`]) {
        assert.equal(statSync(path).mode & 0o777, 0o600, path);
      }
    } finally {
      await handle.close();
    }
  } finally {
    process.umask(before);
  }
});

test('an existing SQLite file keeps the mode its owner gave it', async () => {
  const file = join(dir, 'shared.sqlite');
  await openDatabase(loadConfig({ cwd: dir, env: { DATABASE_URL: `sqlite:${file}` } }).database).close();
  chmodSync(file, 0o640);
  const handle = openDatabase(loadConfig({ cwd: dir, env: { DATABASE_URL: `sqlite:${file}` } }).database);
  await migrate(handle).finally(() => handle.close());
  assert.equal(statSync(file).mode & 0o777, 0o640);
});
