import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { groupsOfUsers } from '../src/accounts/groups.ts';
import { openDjangoSource } from '../src/cli/django-source.ts';
import { isOidcConnectError } from '../src/errors.ts';
import { cli } from './support/cli.ts';
import { providerLogin, startDevStack, type DevStack } from './support/dev-stack.ts';
import { HttpClient, hiddenField } from './support/http-client.ts';
import { createPostgresDatabase, databaseTargets, type TestDatabase } from './support/postgres.ts';

// A real Django project (Debian's python3-django, with python3-argon2, python3-bcrypt and
// python3-psycopg2; .ci/run installs them) made by test/support/django/make_project.py, imported
// with the CLI as a user runs it, then signed in to through the app's own forms.
const PYTHON = '/usr/bin/python3';
const MAKE_PROJECT = new URL('./support/django/make_project.py', import.meta.url).pathname;
const inCi = !['', '0', 'false', undefined].includes(process.env['CI']?.toLowerCase());
const djangoMissing = spawnSync(PYTHON, ['-c', 'import django, argon2, bcrypt, psycopg2']).status === 0
  ? undefined
  : 'Debian python3-django, python3-argon2, python3-bcrypt and python3-psycopg2 are not installed (.ci/run installs them)';
// In CI a missing Django fails the tests (make_project.py can't run) instead of skipping them.
const skipDjango = inCi ? undefined : djangoMissing;

interface DjangoFixtureUser { username: string; email: string; password: string | null; hasher: string; is_active?: boolean }

async function makeDjangoProject(dir: string, databaseUrl?: string): Promise<DjangoFixtureUser[]> {
  const { stdout } = await promisify(execFile)(PYTHON, [MAKE_PROJECT, dir, ...(databaseUrl ? [databaseUrl] : [])], { maxBuffer: 1 << 20 });
  return (JSON.parse(stdout) as { users: DjangoFixtureUser[] }).users;
}

/** A section of the report: the lines under "Title (n):". */
function section(report: string, title: string): string[] {
  const match = new RegExp(`^${title} \\((\\d+)\\):\\n((?:  .*\\n?)*)`, 'm').exec(report);
  return match ? match[2]!.trimEnd().split('\n').map((l) => l.trim()) : [];
}

const MDO_USERNAME = '_COYpz3VTWI3xP21j9fXU0fPWvM'; // mozilla-django-oidc's username of alice@example.com (Python)
const BOB_MDO_USERNAME = 'pGDje_TY6JP4_TlTaZfV2o0h7r4'; // the same for bob@example.com

for (const target of databaseTargets) {
  describe(`import-django from a real Django project, both databases on ${target.name}`, { skip: target.skip ?? skipDjango }, () => {
    let dir: string;
    let djangoUrl: string;
    let djangoDb: TestDatabase | undefined;
    let ours: TestDatabase;
    let users: DjangoFixtureUser[];
    let s: DevStack;
    let env: Record<string, string>;
    const djangoFingerprint = () => (target.name === 'sqlite'
      ? createHash('sha256').update(readFileSync(djangoUrl.slice('sqlite:'.length))).digest('hex') + readdirSync(join(dir, 'django')).sort().join(',')
      : '');

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'oidc-connect-django-'));
      if (target.name === 'postgres') {
        djangoDb = await createPostgresDatabase();
        djangoUrl = djangoDb.url;
      } else {
        djangoUrl = `sqlite:${join(dir, 'django', 'db.sqlite3')}`;
      }
      users = await makeDjangoProject(join(dir, 'django'), djangoUrl);
      ours = await target.create();
      env = { DATABASE_URL: ours.url, SESSION_SECRET: 'test-secret-test-secret-test-secret-1234' };
      s = await startDevStack({ DATABASE_URL: ours.url, OIDC_USERNAME_ALGO: 'mozilla-django-oidc' });
    });
    after(async () => {
      await s?.close();
      await ours?.drop();
      await djangoDb?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    const db = () => s.app.database.db;
    const login = async (client: HttpClient, username: string, password: string) => {
      const page = await client.get(`${s.app.url}/accounts/login/?next=/api/me`);
      return client.post(`${s.app.url}/accounts/login/`, { _csrf: hiddenField(page.body, '_csrf'), next: '/api/me', username, password });
    };

    test('--dry-run prints the report and writes nothing, here or in Django; the counts and conflicts, or everyone with --verbose', async () => {
      const before = djangoFingerprint();
      const run = await cli(dir, ['import-django', djangoUrl, '--dry-run'], env);
      assert.equal(run.code, 0, run.stderr);
      // Issue 22: one line per user hid the summary; by default only conflicts are listed.
      assert.deepEqual(section(run.stdout, 'Would create'), []);
      assert.equal(section(run.stdout, 'Skipped, never merged').length, 1);
      assert.match(run.stdout, /^--verbose lists every user created, updated, or without a local password\.$/m);
      assert.match(run.stdout.trimEnd().split('\n').at(-1)!, new RegExp(`^Dry run, nothing written: ${users.length - 1} created, 0 updated, 0 unchanged, 1 skipped`));
      const verbose = await cli(dir, ['import-django', djangoUrl, '--dry-run', '--verbose'], env);
      assert.equal(section(verbose.stdout, 'Would create').length, users.length - 1);
      assert.doesNotMatch(verbose.stdout, /--verbose lists/);
      assert.match(verbose.stdout, new RegExp(`Dry run, nothing written: ${users.length - 1} created, 0 updated, 0 unchanged, 1 skipped`));
      const counts = await Promise.all(['users', 'groups', 'django_users'].map((t) =>
        db().selectFrom(t as 'users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()));
      assert.deepEqual(counts.map((c) => Number(c.n)), [0, 0, 0]);
      assert.equal(djangoFingerprint(), before);
    });

    test('--dry-run --only-active against a database that does not exist yet leaves it uncreated', async () => {
      const file = join(dir, 'not-yet.sqlite');
      const run = await cli(dir, ['import-django', djangoUrl, '--dry-run', '--only-active', '--verbose'], { ...env, DATABASE_URL: `sqlite:${file}` });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(section(run.stdout, 'Would create').length, users.filter((u) => u.is_active !== false).length - 1);
      assert.doesNotMatch(run.stdout, /inactive \(Django/);
      assert.equal(existsSync(file), false);
    });

    test('the import creates every user with their profile, flags, groups and hash, and reports the rest', async () => {
      const before = djangoFingerprint();
      const run = await cli(dir, ['import-django', djangoUrl, '--verbose'], env);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(section(run.stdout, 'Created').length, users.length - 1);
      assert.deepEqual(section(run.stdout, 'Skipped, never merged'), [
        'dupsecond (Django #12): the email DUP@example.com is also on Django user #11, imported first',
      ]);
      assert.deepEqual(section(run.stdout, 'Must reset their password \\(imported without one\\)'), [
        'md5user (Django #8): md5 hash, too weak to keep',
        'corrupt (Django #10): unreadable hash (malformed pbkdf2_sha256 hash)',
        // Issue 17, finding 2: imported as usable before, so every sign-in attempt cost minutes.
        'costlypbkdf2 (Django #13): pbkdf2_sha256 hash asking for more work than this app checks (100000000 iterations; at most 4000000)',
        'costlybcrypt (Django #14): bcrypt_sha256 hash asking for more work than this app checks (cost 31; at most 13)',
        'costlyargon2 (Django #15): argon2 hash asking for more work than this app checks (m=102400, t=100000, p=8; at most m=262144 KiB, t × m = 409600, p=16)',
        'costlyscrypt (Django #16): scrypt hash asking for more work than this app checks (N=16384, r=8, p=1000; at most N × r × p = 524288 and 128 × N × r = 134217728 bytes)',
      ]);
      assert.deepEqual(section(run.stdout, 'No local password: they sign in through the provider'), [
        `${MDO_USERNAME} (Django #18): created by mozilla-django-oidc (mozilla-django-oidc username of alice@example.com)`,
      ]);
      // Issue 17, finding 5: imported, and reported, since no one can type it into the login form.
      assert.deepEqual(section(run.stdout, 'The login form cannot reach these usernames \\(rename them in Django, then import again\\)'), [
        '" spaced " (Django #17): spaces around it, which the login form trims',
      ]);
      assert.match(run.stdout, /Emails were imported as verified/);
      assert.match(run.stdout, /set OIDC_USERNAME_ALGO=mozilla-django-oidc so that new provider users get usernames of the same form/);
      assert.equal(djangoFingerprint(), before, 'the Django database is never written');

      const rows = await db().selectFrom('users').selectAll().orderBy('id').execute();
      const byName = new Map(rows.map((r) => [r.username, r]));
      assert.equal(byName.get('admin')?.is_superuser, 1);
      assert.equal(byName.get('admin')?.is_staff, 1);
      assert.match(byName.get('admin')!.password!, /^django\$pbkdf2_sha256\$260000\$/);
      assert.equal(byName.get('pbkdf2')?.first_name, 'Pat');
      assert.equal(byName.get('argon')?.is_staff, 1);
      assert.equal(byName.get('inactive')?.is_active, 0);
      assert.equal(byName.get('md5user')?.password, null);
      assert.equal(byName.get('corrupt')?.password, null);
      for (const costly of ['costlypbkdf2', 'costlybcrypt', 'costlyargon2', 'costlyscrypt']) assert.equal(byName.get(costly)?.password, null, costly);
      assert.equal(byName.get(MDO_USERNAME)?.password, null);
      assert.equal(byName.has('dupsecond'), false);
      assert.ok(rows.every((r) => r.email_verified === 1), 'imported emails count as verified');
      assert.ok(rows.every((r) => r.date_joined > Date.now() - 3600_000 && r.date_joined <= Date.now()));
      assert.ok(byName.get('pbkdf2')!.last_login! < Date.now() - 2 * 24 * 3600_000, 'last_login kept from Django');
      const groups = await groupsOfUsers(db(), [byName.get('argon')!.id, byName.get('bcryptsha')!.id]);
      assert.deepEqual([...groups.values()], [['editors'], ['editors', 'readers']]);
      const allGroups = await db().selectFrom('groups').select('name').orderBy('name').execute();
      assert.deepEqual(allGroups.map((g) => g.name), ['editors', 'readers']);
    });

    test('a second import changes nothing, and --strict makes the skipped user an exit code 1', async () => {
      const snapshot = async () => JSON.stringify([
        await db().selectFrom('users').selectAll().orderBy('id').execute(),
        await db().selectFrom('user_groups').selectAll().orderBy('user_id').orderBy('group_id').execute(),
        await db().selectFrom('django_users').select(['django_id', 'user_id']).orderBy('django_id').execute(),
      ]);
      const before = await snapshot();
      const run = await cli(dir, ['import-django', djangoUrl, '--strict'], env);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stdout, new RegExp(`0 created, 0 updated, ${users.length - 1} unchanged, 1 skipped`));
      assert.equal(await snapshot(), before);
    });

    test('every user signs in with their Django password through the login form; the hash is rehashed', async () => {
      const withPassword = users.filter((u) => u.password !== null && u.is_active !== false && !['md5', 'corrupt'].includes(u.hasher)
        && !['dupsecond', ' spaced '].includes(u.username));
      assert.equal(withPassword.length, 8);
      for (const user of withPassword) {
        const client = new HttpClient();
        if (['admin', 'argon', 'bcryptsha'].includes(user.username)) {
          const wrong = await login(client, user.username, `${user.password}x`);
          assert.equal(wrong.status, 401, `${user.username}: a wrong password is refused`);
        }
        const result = await login(client, user.username, user.password!);
        assert.equal(result.status, 302, `${user.username} (${user.hasher}) signs in`);
        const me = JSON.parse((await client.get(`${s.app.url}/api/me`)).body);
        assert.equal(me.username, user.username);
        const row = await db().selectFrom('users').select('password').where('username', '=', user.username).executeTakeFirstOrThrow();
        assert.match(row.password!, /^scrypt\$/, `${user.username}: rehashed to our own scheme`);
      }
      // The rehashed password keeps working.
      const again = await login(new HttpClient(), 'argon', 'argon2 password');
      assert.equal(again.status, 302);
      for (const [username, password] of [['inactive', 'inactive password'], ['md5user', 'md5 password'], [' spaced ', 'spaced password']] as const) {
        assert.equal((await login(new HttpClient(), username, password)).status, 401, `${username} is refused`);
      }
    });

    test('a re-import after the rehash keeps the password set here', async () => {
      const run = await cli(dir, ['import-django', djangoUrl], env);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, new RegExp(`0 created, 0 updated, ${users.length - 1} unchanged, 1 skipped`));
      const admin = await db().selectFrom('users').select('password').where('username', '=', 'admin').executeTakeFirstOrThrow();
      assert.match(admin.password!, /^scrypt\$/);
    });

    test('the user mozilla-django-oidc created signs in through the provider and lands on the imported account', async () => {
      const imported = await db().selectFrom('users').selectAll().where('username', '=', MDO_USERNAME).executeTakeFirstOrThrow();
      const client = new HttpClient();
      const done = await providerLogin(client, s.app.url, { email: 'alice@example.com', password: 'wonderland' }, '/api/me');
      assert.equal(done.status, 302);
      const me = JSON.parse((await client.get(`${s.app.url}/api/me`)).body);
      assert.equal(me.id, imported.id);
      assert.equal(me.username, MDO_USERNAME);
      // A provider user new here gets the same form of username, as mozilla-django-oidc gave it.
      const bob = new HttpClient();
      assert.equal((await providerLogin(bob, s.app.url, { email: 'bob@example.com', password: 'builder' }, '/api/me')).status, 302);
      assert.equal(JSON.parse((await bob.get(`${s.app.url}/api/me`)).body).username, BOB_MDO_USERNAME);
    });

    test('an account here with an unverified email or a provider identity is never merged into without --merge-into', async () => {
      // Issue 17, finding 1: someone signs in through the provider with an unverified admin@example.com
      // (Django's superuser's email) before the operator imports the Django users.
      const theirs = await target.create();
      const stack = await startDevStack({ DATABASE_URL: theirs.url }, [
        { email: 'admin@example.com', email_verified: false, password: 'mallory password', preferred_username: 'mallory' },
        { email: 'pbkdf2@example.com', password: 'pat password', preferred_username: 'pat' },
      ]);
      try {
        const stackEnv = { ...env, DATABASE_URL: theirs.url };
        const mallory = { email: 'admin@example.com', password: 'mallory password' };
        assert.equal((await providerLogin(new HttpClient(), stack.app.url, mallory)).status, 302);
        assert.equal((await providerLogin(new HttpClient(), stack.app.url, { email: 'pbkdf2@example.com', password: 'pat password' })).status, 302);
        const dry = await cli(dir, ['import-django', djangoUrl, '--dry-run'], stackEnv);
        const run = await cli(dir, ['import-django', djangoUrl], stackEnv);
        assert.equal(run.code, 0, run.stderr);

        // The attacker's next "Log In with …" still lands on their own account, with none of Django's rights.
        const attacker = new HttpClient();
        assert.equal((await providerLogin(attacker, stack.app.url, mallory, '/api/me')).status, 302);
        const me = JSON.parse((await attacker.get(`${stack.app.url}/api/me`)).body);
        assert.deepEqual([me.username, me.is_staff, me.is_superuser], ['mallory', false, false]);
        assert.equal((await attacker.get(`${stack.app.url}/admin/`)).status, 403);

        const byName = new Map((await stack.app.database.db.selectFrom('users').selectAll().execute()).map((u) => [u.username, u]));
        assert.deepEqual(['mallory', 'pat'].map((name) => [byName.get(name)?.password, byName.get(name)?.is_superuser]), [[null, 0], [null, 0]]);
        assert.ok(!byName.has('admin') && !byName.has('pbkdf2'), 'neither Django user was created beside them either');
        const [malloryId, patId] = [byName.get('mallory')!.id, byName.get('pat')!.id];
        const conflicts = [
          `admin (Django #1): matches user #${malloryId} "mallory" here, but its email admin@example.com is not verified and it signs in through a provider: merged only with --merge-into=mallory, once you know they are the same person`,
          `pbkdf2 (Django #2): matches user #${patId} "pat" here, but it signs in through a provider: merged only with --merge-into=pat, once you know they are the same person`,
        ];
        for (const report of [dry.stdout, run.stdout]) {
          const skipped = section(report, 'Skipped, never merged');
          assert.deepEqual(skipped.filter((line) => !line.startsWith('dupsecond')), conflicts);
          assert.match(report, /To merge them anyway, once you know each is the same person, run again with --merge-into=mallory,pat/);
          assert.match(report, /0 updated, 0 unchanged, 3 skipped/);
        }

        // The operator confirms one of them by its username here: that one is merged, the other still not.
        const confirmed = await cli(dir, ['import-django', djangoUrl, '--merge-into=pat', '--verbose'], stackEnv);
        assert.equal(confirmed.code, 0, confirmed.stderr);
        assert.deepEqual(section(confirmed.stdout, 'Updated'), [`pbkdf2 (Django #2), was "pat" here: username, first_name, last_name, password, date_joined`]);
        assert.deepEqual(section(confirmed.stdout, 'Skipped, never merged').filter((line) => !line.startsWith('dupsecond')), [conflicts[0]]);
        const pat = await stack.app.database.db.selectFrom('users').selectAll().where('id', '=', patId).executeTakeFirstOrThrow();
        assert.deepEqual([pat.username, pat.email_verified], ['pbkdf2', 1]);
        assert.match(pat.password!, /^django\$pbkdf2_sha256\$/);
      } finally {
        await stack.close();
        await theirs.drop();
      }
    });
  });
}

describe('import-django refuses bad input with one clear line and exit code 1', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'oidc-connect-django-bad-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const sqliteFile = (name: string, sql: string) => {
    const file = join(dir, name);
    const db = new DatabaseSync(file);
    db.exec(sql);
    db.close();
    return `sqlite:${file}`;
  };
  /** Every refusal is an OidcConnectError, which the CLI prints as one line (checked below as a user runs it). */
  const refused = (url: string, message: RegExp) => assert.rejects(openDjangoSource(url, dir), (error: Error) => {
    assert.ok(isOidcConnectError(error), String(error));
    assert.match(error.message, message);
    assert.doesNotMatch(error.message, /\n/);
    return true;
  });

  test('import-django --help explains every option', async () => {
    for (const args of [['import-django', '--help'], ['help', 'import-django']]) {
      const help = await cli(dir, args);
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, /^Usage: oidc-connect import-django <django-database-url> \[options\]/);
      for (const option of ['--dry-run', '--only-active', '--strict', '--emails-unverified', '--merge-into=U1,U2', '--verbose', '-h, --help']) {
        assert.match(help.stdout, new RegExp(`^  ${option} +\\S`, 'm'), `${option} is explained`);
      }
    }
  });

  test('from the command line: a missing file, and no URL at all', async () => {
    const env = { DATABASE_URL: `sqlite:${join(dir, 'ours.sqlite')}` };
    const missing = await cli(dir, ['import-django', `sqlite:${join(dir, 'missing.sqlite3')}`], env);
    assert.equal(missing.code, 1, missing.stdout);
    assert.match(missing.stderr, /^Error: No Django database at sqlite:.*: the file .*missing\.sqlite3 does not exist\.\n$/);
    assert.equal(existsSync(join(dir, 'ours.sqlite')), false, 'nothing is created for a refused import');
    const none = await cli(dir, ['import-django'], env);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /import-django needs the Django database URL/);
  });

  test('a file that is not SQLite at all', () => {
    writeFileSync(join(dir, 'notes.txt'), 'hello, this is not a database\n'.repeat(100));
    return refused(`sqlite:${join(dir, 'notes.txt')}`, /notes\.txt is not an SQLite database/);
  });

  test('an SQLite file that is not a Django database', () =>
    refused(sqliteFile('other.sqlite3', 'CREATE TABLE things (id integer primary key, name text)'), /is not a Django database: it has no django_migrations table/));

  test('a Django database with a custom user model', () =>
    refused(sqliteFile('custom.sqlite3', 'CREATE TABLE django_migrations (id integer primary key, app text, name text, applied text); CREATE TABLE accounts_user (id integer primary key)'),
      /has no auth_user table: only django\.contrib\.auth's User model can be imported/));

  test('a Django older than 1.10', () =>
    refused(sqliteFile('old.sqlite3', "CREATE TABLE django_migrations (id integer primary key, app text, name text, applied text); INSERT INTO django_migrations (app, name) VALUES ('auth', '0001_initial'); CREATE TABLE auth_user (id integer primary key, username varchar(30))"),
      /the users table of a Django older than 1\.10 .* not supported/));

  test('a URL that is neither SQLite nor PostgreSQL, and a PostgreSQL that does not answer', async () => {
    await refused('mysql://root@localhost/django', /^Unsupported Django database URL "mysql:\/\/root@localhost\/django"/);
    await refused('postgres://django:secret@127.0.0.1:1/django', /^Cannot connect to the Django database \(PostgreSQL postgres:\/\/django:\*\*\*@127\.0\.0\.1:1\/django\)/);
  });
});
