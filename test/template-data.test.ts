/**
 * What a host's templates are given (issue 17, finding 6). The `views` option lets a host replace any
 * of our pages; here every one is replaced by a template that prints all it receives as JSON, and no
 * page may hand it a secret: no password hash (ours or Django's), no field named like one, no session
 * row or provider tokens. Each dump must also hold what the page needs, so a page that was never
 * rendered through the host's template cannot pass.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { encodeUid, passwordResetTokens } from '../src/accounts/tokens.ts';
import { createUser, findUserByUsername } from '../src/accounts/users.ts';
import { loadConfig, type Config } from '../src/config/index.ts';
import { migrate, openDatabase, type DatabaseHandle } from '../src/db/index.ts';
import { createSession } from '../src/sessions/index.ts';
import { oidcConnect } from '../src/web/plugin.ts';
import { SessionTokens } from '../src/rp/session-tokens.ts';

const PAGES = ['login', 'password_change', 'password_change_done', 'error',
  'admin-dashboard', 'admin-users', 'admin-user', 'admin-sessions', 'admin-audit',
  'password_reset_form', 'password_reset_done', 'password_reset_confirm', 'password_reset_complete', 'account', 'email_verify', 'dev_mailbox'] as const;

/**
 * dave's password hash as an imported account keeps it until its first login: Django's
 * make_password('dave password', salt='Cq8nBq1kU0Ze', hasher='pbkdf2_sha256') from Debian 12's Django 3.2.
 */
const DJANGO_HASH = 'django$pbkdf2_sha256$260000$Cq8nBq1kU0Ze$MX1v3W5go9GpAhVFIjYJSfNnr0fwBqOxUdLmA0F9kYU=';

/** Every key anywhere in a JSON value. */
function keysOf(value: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const item of value) keysOf(item, into);
  else if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      into.add(key);
      keysOf(inner, into);
    }
  }
  return into;
}

describe('templates a host replaces are given no secret', () => {
  let dir: string;
  let database: DatabaseHandle;
  let app: FastifyInstance;
  let cookie: string;
  let samHash: string;
  let daveId: number;
  let config: Config;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oidc-connect-template-data-'));
    for (const page of PAGES) writeFileSync(join(dir, `${page}.eta`), `<%~ JSON.stringify({ page: '${page}', it }) %>`);
    config = loadConfig({ cwd: dir, env: { DATABASE_URL: 'sqlite::memory:', SESSION_SECRET: 'test-secret-test-secret-test-secret-1234', DEV_IDP_PORT: '1' } });
    database = openDatabase(config.database);
    await migrate(database);
    const sam = await createUser(database.db, { username: 'sam', email: 'sam@example.com', password: 'sam password', isStaff: true, isSuperuser: true });
    const dave = await createUser(database.db, { username: 'dave', email: 'dave@example.com' });
    daveId = dave.id;
    await database.db.updateTable('users').set({ password: DJANGO_HASH }).where('id', '=', dave.id).execute();
    samHash = (await database.db.selectFrom('users').select('password').where('id', '=', sam.id).executeTakeFirstOrThrow()).password!;
    const secret = await createSession(database.db, config.session, {
      userId: sam.id,
      tokens: await new SessionTokens(config.sessionSecret).seal({ accessToken: 'provider-access-token', refreshToken: 'provider-refresh-token', idToken: 'provider-id-token' }),
    });
    cookie = `oc_session=${secret}`;
    app = Fastify();
    await app.register(oidcConnect, { config, db: database.db, views: dir });
    await app.ready();
  });
  after(async () => {
    await app?.close();
    await database?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The page at `url`, rendered by the host's template: what that template was given. */
  async function dump(url: string, expectedPage: string, init: { signedIn?: boolean; method?: 'GET' | 'POST'; form?: Record<string, string>; cookie?: string } = {}) {
    const response = await app.inject({
      method: init.method ?? 'GET',
      url,
      headers: { accept: 'text/html', cookie: [init.signedIn === false ? '' : cookie, init.cookie ?? ''].filter(Boolean).join('; ') },
      ...(init.form ? { payload: init.form } : {}),
    });
    const body = response.body;
    const parsed = JSON.parse(body) as { page: string; it: Record<string, unknown> };
    assert.equal(parsed.page, expectedPage, `${url} is rendered by the host's ${expectedPage}.eta`);
    assert.doesNotMatch(body, /scrypt\$|django\$|pbkdf2/, `${url}: no password hash`);
    assert.ok(!body.includes(samHash), `${url}: not sam's hash`);
    assert.doesNotMatch(body, /provider-(access|refresh|id)-token/, `${url}: no provider token`);
    const keys = keysOf(parsed.it);
    for (const secret of ['password', 'refresh_lock', 'refreshLock', 'data', 'tokens', 'email_key']) {
      assert.ok(!keys.has(secret), `${url}: no field named ${secret} (fields: ${[...keys].join(', ')})`);
    }
    return { status: response.statusCode, it: parsed.it };
  }

  test('login, anonymous and signed in', async () => {
    assert.equal((await dump('/accounts/login/', 'login', { signedIn: false })).it.signedInAs, null);
    assert.equal((await dump('/accounts/login/', 'login')).it.signedInAs, 'sam');
  });

  test('password change, its refusal and its done page: the user, with a flag for the password', async () => {
    const form = await dump('/accounts/password_change/', 'password_change');
    assert.deepEqual(form.it.user, {
      id: (form.it.user as { id: number }).id, username: 'sam', email: 'sam@example.com', firstName: '', lastName: '',
      isStaff: true, isSuperuser: true, hasPassword: true,
    });
    const csrf = form.it.csrf as string;
    const refused = await dump('/accounts/password_change/', 'password_change', {
      method: 'POST', form: { _csrf: csrf, old_password: 'not it', new_password1: 'a new password 1', new_password2: 'a new password 1' },
    });
    assert.equal(refused.status, 400);
    assert.equal((refused.it.user as { hasPassword: boolean }).hasPassword, true);
    assert.equal(((await dump('/accounts/password_change/done/', 'password_change_done')).it.user as { username: string }).username, 'sam');
  });

  test('an error page shows who is signed in', async () => {
    const missing = await dump('/accounts/nothing/', 'error');
    assert.equal(missing.status, 404);
    assert.equal((missing.it.user as { username: string }).username, 'sam');
  });

  test('the password reset pages, the account page, the verification page and the development mailbox', async () => {
    const form = await dump('/accounts/password_reset/', 'password_reset_form', { signedIn: false });
    assert.equal(form.it.mailConfigured, true);
    await dump('/accounts/password_reset/done/', 'password_reset_done', { signedIn: false });
    const invalid = await dump('/accounts/reset/MQ/1-abc/', 'password_reset_confirm', { signedIn: false });
    assert.equal(invalid.it.validlink, false);
    const sam = (await findUserByUsername(database.db, 'sam'))!;
    const token = passwordResetTokens(config.sessionSecret, config.mail.passwordResetTimeoutSeconds).make(sam);
    const opened = await app.inject({ url: `/accounts/reset/${encodeUid(sam.id)}/${token}/` });
    const reset = opened.cookies.find((c) => c.name === 'oc_reset')!;
    const valid = await dump(`/accounts/reset/${encodeUid(sam.id)}/set-password/`, 'password_reset_confirm', { signedIn: false, cookie: `oc_reset=${reset.value}` });
    assert.deepEqual([valid.it.validlink, valid.it.username], [true, 'sam']);
    await dump('/accounts/reset/done/', 'password_reset_complete', { signedIn: false });
    const account = await dump('/accounts/', 'account');
    assert.equal((account.it.user as { username: string }).username, 'sam');
    assert.equal((account.it.sessions as unknown[]).length, 1);
    assert.equal((await dump('/accounts/email/verify/MQ/1-abc/', 'email_verify')).it.validlink, false);
    assert.deepEqual((await dump('/dev/mailbox/', 'dev_mailbox')).it.mails, []);
  });

  test('every admin page', async () => {
    for (const [url, page] of [
      ['/admin/', 'admin-dashboard'], ['/admin/users/', 'admin-users'], [`/admin/users/${daveId}/`, 'admin-user'],
      ['/admin/sessions/', 'admin-sessions'], ['/admin/audit/', 'admin-audit'],
    ] as const) {
      const { status, it } = await dump(url, page);
      assert.equal(status, 200, url);
      assert.equal((it.user as { username: string }).username, 'sam', `${url} names the signed-in user`);
    }
    const dave = (await dump(`/admin/users/${daveId}/`, 'admin-user')).it.target as { username: string; localPassword: boolean };
    assert.deepEqual([dave.username, dave.localPassword], ['dave', true], 'dave has a (Django) password, told as a flag');
  });
});
