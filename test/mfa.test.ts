/**
 * Second factors over HTTP, on SQLite and on PostgreSQL: enrolling an authenticator app from the
 * secret its page shows, signing in with a password and then a code (each code computed here by the
 * tests' own RFC 6238 generator, test/support/totp.ts), recovery codes, the lockout and the per-address
 * limit on codes, the pending step that holds no rights, and ADMIN_REQUIRE_MFA for local staff.
 *
 * The clock the app reads (Date) is set by the tests (node:test's mock timers, the app runs in this
 * process), in the middle of a 30-second step, so that "the previous step" and "the next step" mean
 * exactly those, whatever the machine's speed.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, mock, test } from 'node:test';
import { hashPassword } from '../src/accounts/passwords.ts';
import { createUser, setStaff } from '../src/accounts/users.ts';
import type { User } from '../src/db/schema.ts';
import { createSession, sessionIdFor } from '../src/sessions/index.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { HttpClient, hiddenField, type Hop } from './support/http-client.ts';
import { databaseTargets, type TestDatabase } from './support/postgres.ts';
import { timeStep, totpCode } from './support/totp.ts';

let t: TestApp;
let serial = 0;
const PASSWORD = 'a long enough password';
/** PASSWORD's hash, made once: scrypt is slow on purpose, and each sign-in the tests make checks it once anyway. */
let passwordHash: Promise<string> | undefined;

/** A local user with PASSWORD, made without hashing it again. */
async function localUser(name: string, options: { staff?: boolean; superuser?: boolean } = {}): Promise<User> {
  const user = await createUser(t.database.db, {
    username: `${name}${++serial}`, email: `${name}${serial}@example.com`, isStaff: options.staff ?? false, isSuperuser: options.superuser ?? false,
  });
  const password = await (passwordHash ??= hashPassword(PASSWORD));
  await t.database.db.updateTable('users').set({ password }).where('id', '=', user.id).execute();
  return { ...user, password };
}

/** A browser signed in as `user` (the session made directly: what is tested is what follows). */
async function signedIn(user: User): Promise<HttpClient> {
  const client = new HttpClient();
  client.setCookie(t.url, 'oc_session', await createSession(t.database.db, t.config.session, { userId: user.id, amr: ['pwd'] }));
  return client;
}
/** The app's clock: the middle of a step, moved only by the tests. */
let now = 0;
const setClock = (ms: number) => {
  now = ms;
  mock.timers.setTime(ms);
};
const nextStep = () => setClock(now + 30_000);

async function passwordLogin(client: HttpClient, username: string, password: string, next = '/'): Promise<Hop> {
  const page = await client.get(`${t.url}/accounts/login/?next=${encodeURIComponent(next)}`);
  return client.post(`${t.url}/accounts/login/`, { _csrf: hiddenField(page.body, '_csrf'), next: hiddenField(page.body, 'next'), username, password });
}

/** Sends `code` on the second step's page (its form's CSRF token from the page as shown to this browser). */
async function sendCode(client: HttpClient, code: string): Promise<Hop> {
  const page = await client.get(`${t.url}/accounts/2fa/authenticate/`);
  assert.equal(page.status, 200, `the second step's page: ${page.status} ${page.body.slice(0, 300)}`);
  return client.post(`${t.url}/accounts/2fa/authenticate/`, { _csrf: hiddenField(page.body, '_csrf'), code });
}

const sessionOf = (client: HttpClient) => client.cookie(t.url, 'oc_session');
const pendingOf = (client: HttpClient) => client.cookie(t.url, 'oc_mfa');
const sessionCount = async (userId: number) =>
  (await t.database.db.selectFrom('sessions').select('id').where('user_id', '=', userId).execute()).length;
const alertOf = (body: string) => /role="alert">([^<]*)</.exec(body)?.[1];

interface Enrolled {
  user: User;
  password: string;
  secret: string;
  recoveryCodes: string[];
  /** A browser signed in as the user, the one that enrolled. */
  client: HttpClient;
}

/** A new local user, signed in, who activates an authenticator app with a code made from the page's secret. */
async function enrolledUser(options: { staff?: boolean; superuser?: boolean } = {}): Promise<Enrolled> {
  const password = PASSWORD;
  const user = await localUser('mfa', options);
  const client = await signedIn(user);
  const page = await client.get(`${t.url}/accounts/2fa/totp/activate/`);
  assert.equal(page.status, 200);
  const secret = /id="authenticator_secret" value="([A-Z2-7]+)"/.exec(page.body)![1]!;
  const done = await client.post(`${t.url}/accounts/2fa/totp/activate/`, {
    _csrf: hiddenField(page.body, '_csrf'), setup: hiddenField(page.body, 'setup'), code: totpCode(secret, timeStep(now)),
  });
  assert.equal(done.status, 200, done.body.slice(0, 500));
  const recoveryCodes = [...done.body.matchAll(/<li>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})<\/li>/g)].map((m) => m[1]!);
  nextStep(); // the activating code's step is spent
  return { user, password, secret, recoveryCodes, client };
}

for (const target of databaseTargets) {
  describe(`second factors on ${target.name}`, { skip: target.skip }, () => {
    let database: TestDatabase;
    before(async () => {
      database = await target.create();
      t = await startTestApp({ DATABASE_URL: database.url, LOGIN_RATE_LIMIT_PER_MINUTE: '10000', ADMIN_REQUIRE_MFA: 'true' });
    });
    beforeEach(() => {
      mock.timers.reset();
      mock.timers.enable({ apis: ['Date'], now: (timeStep(Date.now()) * 30 + 15) * 1000 });
      now = Date.now();
    });
    after(async () => {
      mock.timers.reset();
      await t?.close();
      await database?.drop();
    });

    describe('enrolling an authenticator app', () => {
      test('the page shows the secret as text and as a QR code (an SVG image); one right code activates it and shows 10 recovery codes once', async () => {
        const user = await localUser('enrol');
        const client = await signedIn(user);
        const page = await client.get(`${t.url}/accounts/2fa/totp/activate/`);
        const secret = /id="authenticator_secret" value="([A-Z2-7]{32})"/.exec(page.body)![1]!;
        const qr = /<img class="qr" src="data:image\/svg\+xml;base64,([^"]+)"/.exec(page.body)![1]!;
        assert.match(Buffer.from(qr, 'base64').toString(), /^<svg[^>]+xmlns="http:\/\/www.w3.org\/2000\/svg"/);
        const form = { _csrf: hiddenField(page.body, '_csrf'), setup: hiddenField(page.body, 'setup') };

        const wrong = await client.post(`${t.url}/accounts/2fa/totp/activate/`, { ...form, code: totpCode(secret, timeStep(now) + 5) });
        assert.equal(wrong.status, 400);
        assert.equal(alertOf(wrong.body), 'Incorrect code.');
        assert.match(wrong.body, new RegExp(`value="${secret}"`), 'the same secret, to try again');

        const done = await client.post(`${t.url}/accounts/2fa/totp/activate/`, { ...form, code: totpCode(secret, timeStep(now)) });
        assert.equal(done.status, 200);
        const codes = [...done.body.matchAll(/<li>([a-z2-7-]{19})<\/li>/g)].map((m) => m[1]);
        assert.equal(new Set(codes).size, 10);
        assert.equal(done.headers.get('cache-control'), 'no-store');
        const overview = await client.get(`${t.url}/accounts/2fa/`);
        assert.match(overview.body, /Authentication using an authenticator app is active/);
        assert.match(overview.body, /There are 10 out of 10 recovery codes available/);
        assert.doesNotMatch(overview.body, new RegExp(codes[0]!), 'shown once');
        const stored = await t.database.db.selectFrom('mfa_totp').select('secret').where('user_id', '=', user.id).executeTakeFirstOrThrow();
        assert.ok(!stored.secret.includes(secret), 'the secret is sealed at rest');
        const hashes = await t.database.db.selectFrom('mfa_recovery_codes').select('code_hash').where('user_id', '=', user.id).execute();
        assert.ok(hashes.every((h) => !codes.includes(h.code_hash) && /^[\w-]{43}$/.test(h.code_hash)), 'codes are stored as hashes');
      });

      test('a form from another user, or a secret made up by the browser, activates nothing', async () => {
        const a = await enrolledUser();
        const mallory = await localUser('mallory');
        const client = await signedIn(mallory);
        const page = await client.get(`${t.url}/accounts/2fa/totp/activate/`);
        const forged = await client.post(`${t.url}/accounts/2fa/totp/activate/`, {
          _csrf: hiddenField(page.body, '_csrf'), setup: 'not-a-sealed-value', code: totpCode(a.secret, timeStep(now)),
        });
        assert.equal(forged.status, 400);
        assert.match(forged.body, /This form has expired/);
        assert.equal(await t.database.db.selectFrom('mfa_totp').select('user_id').where('user_id', '=', mallory.id).executeTakeFirst(), undefined);
      });
    });

    describe('signing in with a second factor', () => {
      test('a right password opens no session: the pending step gives nothing at /, /admin/ or /api/me', async () => {
        const { user, password } = await enrolledUser({ staff: true });
        const client = new HttpClient();
        const before = await sessionCount(user.id);
        const hop = await passwordLogin(client, user.username, password, '/admin/');
        assert.equal(hop.status, 302);
        assert.equal(hop.location, `${t.url}/accounts/2fa/authenticate/`);
        assert.equal(sessionOf(client), undefined, 'no session cookie');
        assert.match(pendingOf(client) ?? '', /^[\w-]{43}$/);
        assert.equal(await sessionCount(user.id), before, 'no session row');

        const home = await client.get(`${t.url}/`);
        assert.match(home.body, /You are not logged in/);
        const admin = await client.get(`${t.url}/admin/`);
        assert.equal(admin.status, 302);
        assert.match(admin.location!, /\/accounts\/login\/\?next=%2Fadmin%2F/);
        const me = await client.get(`${t.url}/api/me`, { accept: 'application/json' });
        assert.equal(me.status, 401);
        assert.equal(JSON.parse(me.body).error, 'LOGIN_REQUIRED');
        // The pending cookie is no session cookie either.
        const swapped = new HttpClient();
        swapped.setCookie(t.url, 'oc_session', pendingOf(client)!);
        assert.equal((await swapped.get(`${t.url}/api/me`, { accept: 'application/json' })).status, 401);
      });

      test('the code of the current step signs in, to `next`; the same code again is refused', async () => {
        const { user, password, secret } = await enrolledUser();
        const client = new HttpClient();
        await passwordLogin(client, user.username, password, '/api/me');
        const code = totpCode(secret, timeStep(now));
        const done = await sendCode(client, code);
        assert.equal(done.status, 302);
        assert.equal(done.location, `${t.url}/api/me`);
        assert.equal(pendingOf(client), undefined, 'the pending cookie is gone');
        const me = JSON.parse((await client.get(`${t.url}/api/me`, { accept: 'application/json' })).body);
        assert.equal(me.username, user.username);
        const row = await t.database.db.selectFrom('sessions').select(['amr']).where('id', '=', sessionIdFor(sessionOf(client)!)).executeTakeFirstOrThrow();
        assert.equal(row.amr, 'pwd otp mfa');

        const replay = new HttpClient();
        await passwordLogin(replay, user.username, password);
        const again = await sendCode(replay, code);
        assert.equal(again.status, 401);
        assert.equal(alertOf(again.body), 'Incorrect code.');
        assert.equal(sessionOf(replay), undefined);
      });

      test('a code of the previous step and one of the next step are accepted; two steps away are not', async () => {
        const { user, password, secret } = await enrolledUser();
        nextStep(); // the step before this one is not the activating code's, which is spent
        const step = timeStep(now);
        const client = new HttpClient();
        await passwordLogin(client, user.username, password);
        assert.equal((await sendCode(client, totpCode(secret, step - 2))).status, 401, 'step -2');
        assert.equal((await sendCode(client, totpCode(secret, step + 2))).status, 401, 'step +2');
        assert.equal((await sendCode(client, totpCode(secret, step - 1))).status, 302, 'step -1');
        // The previous step was used: this step's code is later, so it passes; then the next step's.
        for (const offset of [0, 1]) {
          const client = new HttpClient();
          await passwordLogin(client, user.username, password);
          assert.equal((await sendCode(client, totpCode(secret, step + offset))).status, 302, `step +${offset}`);
        }
        const earlier = new HttpClient();
        await passwordLogin(earlier, user.username, password);
        assert.equal((await sendCode(earlier, totpCode(secret, step))).status, 401, 'a step before the last one used');
      });

      test('each recovery code works once, and the page says how many are left', async () => {
        const { user, password, recoveryCodes, secret } = await enrolledUser();
        assert.equal(recoveryCodes.length, 10);
        const signIn = async (code: string) => {
          const client = new HttpClient();
          await passwordLogin(client, user.username, password);
          return { client, hop: await sendCode(client, code) };
        };
        const first = await signIn(recoveryCodes[0]!.toUpperCase().replace(/-/g, ' '));
        assert.equal(first.hop.status, 302, 'case, spaces and dashes don\'t matter');
        const second = await signIn(recoveryCodes[0]!);
        assert.equal(second.hop.status, 401, 'used already');
        assert.equal((await sendCode(second.client, recoveryCodes[1]!)).status, 302, 'the next one');
        const overview = await second.client.get(`${t.url}/accounts/2fa/`);
        assert.match(overview.body, /There are 8 out of 10 recovery codes available/);
        const events = await t.database.db.selectFrom('audit_log').select('detail').where('user_id', '=', user.id)
          .where('type', '=', 'login_success').orderBy('id').execute();
        assert.deepEqual(events.slice(-2).map((e) => e.detail), ['second factor: recovery code (9 left)', 'second factor: recovery code (8 left)']);
        void secret;
      });

      test('every wrong code gets the same answer: a wrong, replayed, malformed code, a spent or unknown recovery code', async () => {
        const { user, password, secret, recoveryCodes } = await enrolledUser();
        const used = new HttpClient();
        await passwordLogin(used, user.username, password);
        assert.equal((await sendCode(used, recoveryCodes[0]!)).status, 302);
        const client = new HttpClient();
        await passwordLogin(client, user.username, password);
        const answers = new Set<string>();
        for (const code of [totpCode(secret, timeStep(now) + 3), totpCode(secret, timeStep(now) - 1), 'x', '1'.repeat(65), recoveryCodes[0]!, 'aaaa-bbbb-cccc-dddd']) {
          const hop = await sendCode(client, code);
          assert.equal(hop.status, 401, code);
          answers.add(alertOf(hop.body)!);
        }
        assert.deepEqual([...answers], ['Incorrect code.']);
      });

      test('a flood of wrong codes locks the second step, and a right password does not unlock it', async () => {
        const { user, password, secret } = await enrolledUser();
        const client = new HttpClient();
        await passwordLogin(client, user.username, password);
        for (let i = 0; i < 10; i++) assert.equal((await sendCode(client, String(100000 + i))).status, 401);
        const locked = await sendCode(client, totpCode(secret, timeStep(now)));
        assert.equal(locked.status, 429, 'the right code, once locked');
        assert.match(locked.body, /TOO_MANY_ATTEMPTS/);
        // The password is right, and says so by a new pending step: its own count is clear, the codes' is not.
        const again = new HttpClient();
        assert.equal((await passwordLogin(again, user.username, password)).location, `${t.url}/accounts/2fa/authenticate/`);
        assert.equal((await sendCode(again, totpCode(secret, timeStep(now)))).status, 429);
        const failures = await t.database.db.selectFrom('audit_log').select('error_code').where('user_id', '=', user.id)
          .where('type', '=', 'login_failure').execute();
        assert.equal(failures.filter((f) => f.error_code === 'MFA_CODE_INVALID').length, 10);
        assert.equal(failures.filter((f) => f.error_code === 'TOO_MANY_ATTEMPTS').length, 2);
      });

      test('the pending step is single-use, bound to this browser, and lasts 5 minutes', async () => {
        const { user, password, secret } = await enrolledUser();
        const client = new HttpClient();
        await passwordLogin(client, user.username, password);
        const page = await client.get(`${t.url}/accounts/2fa/authenticate/`);
        const csrf = hiddenField(page.body, '_csrf');
        const pending = pendingOf(client)!;

        // Another browser, with its own login page's token but not this browser's pending cookie: nothing to finish.
        const other = new HttpClient();
        const otherPage = await other.get(`${t.url}/accounts/login/`);
        const elsewhere = await other.post(`${t.url}/accounts/2fa/authenticate/`, { _csrf: hiddenField(otherPage.body, '_csrf'), code: totpCode(secret, timeStep(now)) });
        assert.equal(elsewhere.status, 400);
        assert.match(elsewhere.body, /MFA_SIGN_IN_EXPIRED/);

        assert.equal((await client.post(`${t.url}/accounts/2fa/authenticate/`, { _csrf: csrf, code: totpCode(secret, timeStep(now)) })).status, 302);
        // The finished step, replayed with its cookie and form, and a later code: gone.
        const replay = new HttpClient();
        for (const [key, value] of client.cookies) if (!key.endsWith(' oc_session')) replay.cookies.set(key, value);
        replay.setCookie(t.url, 'oc_mfa', pending);
        nextStep();
        const twice = await replay.post(`${t.url}/accounts/2fa/authenticate/`, { _csrf: csrf, code: totpCode(secret, timeStep(now)) });
        assert.equal(twice.status, 400);
        assert.match(twice.body, /MFA_SIGN_IN_EXPIRED/);

        const slow = new HttpClient();
        await passwordLogin(slow, user.username, password);
        const slowPage = await slow.get(`${t.url}/accounts/2fa/authenticate/`);
        setClock(now + 5 * 60_000 + 1);
        const late = await slow.post(`${t.url}/accounts/2fa/authenticate/`, { _csrf: hiddenField(slowPage.body, '_csrf'), code: totpCode(secret, timeStep(now)) });
        assert.equal(late.status, 400);
        assert.match(late.body, /MFA_SIGN_IN_EXPIRED/);
        assert.equal(sessionOf(slow), undefined);
      });

      test('cancel ends the pending step', async () => {
        const { user, password, secret } = await enrolledUser();
        const client = new HttpClient();
        await passwordLogin(client, user.username, password);
        const page = await client.get(`${t.url}/accounts/2fa/authenticate/`);
        const cancel = await client.post(`${t.url}/accounts/2fa/authenticate/`, { _csrf: hiddenField(page.body, '_csrf'), action: 'cancel' });
        assert.equal(cancel.status, 303);
        assert.equal(pendingOf(client), undefined);
        const late = await client.post(`${t.url}/accounts/2fa/authenticate/`, { _csrf: hiddenField(page.body, '_csrf'), code: totpCode(secret, timeStep(now)) });
        assert.equal(late.status, 400);
      });
    });

    describe('changing factors', () => {
      test('deactivating the app needs a current code or the password, and signs out the user\'s other sessions', async () => {
        const { user, password, secret, client } = await enrolledUser();
        const other = new HttpClient();
        await passwordLogin(other, user.username, password);
        assert.equal((await sendCode(other, totpCode(secret, timeStep(now)))).status, 302);
        nextStep();
        const page = await client.get(`${t.url}/accounts/2fa/totp/deactivate/`);
        const csrf = hiddenField(page.body, '_csrf');
        const post = (form: Record<string, string>) => client.post(`${t.url}/accounts/2fa/totp/deactivate/`, { _csrf: csrf, ...form });
        assert.equal((await post({})).status, 400);
        assert.equal(alertOf((await post({ code: totpCode(secret, timeStep(now) + 4) })).body), 'Incorrect code.');
        assert.equal((await post({ password: 'not it at all' })).status, 400);
        const done = await post({ password });
        assert.equal(done.status, 303);
        assert.equal(await sessionCount(user.id), 1, 'only this session is left');
        assert.equal((await other.get(`${t.url}/api/me`, { accept: 'application/json' })).status, 401);
        assert.equal((await t.database.db.selectFrom('mfa_recovery_codes').select('user_id').where('user_id', '=', user.id).execute()).length, 0,
          'recovery codes go with the last factor');
        // Without a factor the password alone signs in again.
        const fresh = new HttpClient();
        assert.equal((await passwordLogin(fresh, user.username, password)).location, `${t.url}/`);
      });

      test('new recovery codes replace the old ones and sign out the user\'s other sessions', async () => {
        const { user, password, recoveryCodes, client, secret } = await enrolledUser();
        const other = new HttpClient();
        await passwordLogin(other, user.username, password);
        assert.equal((await sendCode(other, totpCode(secret, timeStep(now)))).status, 302);
        const page = await client.get(`${t.url}/accounts/2fa/recovery-codes/generate/`);
        assert.match(page.body, /This action will invalidate your existing codes/);
        const made = await client.post(`${t.url}/accounts/2fa/recovery-codes/generate/`, { _csrf: hiddenField(page.body, '_csrf') });
        assert.equal(made.status, 200);
        const fresh = [...made.body.matchAll(/<li>([a-z2-7-]{19})<\/li>/g)].map((m) => m[1]!);
        assert.equal(fresh.length, 10);
        assert.equal((await other.get(`${t.url}/api/me`, { accept: 'application/json' })).status, 401, 'the other session ended');
        const old = new HttpClient();
        await passwordLogin(old, user.username, password);
        assert.equal((await sendCode(old, recoveryCodes[2]!)).status, 401, 'an old code');
        assert.equal((await sendCode(old, fresh[0]!)).status, 302, 'a new one');
        const audit = await t.database.db.selectFrom('audit_log').select('detail').where('user_id', '=', user.id).where('type', '=', 'second_factor').orderBy('id').execute();
        assert.deepEqual(audit.map((a) => a.detail), ['authenticator app activated', 'recovery codes generated; 1 other session ended']);
      });

      test('a user of a provider sees that their factors are set up there, and can change nothing here', async () => {
        const user = await createUser(t.database.db, { username: `provider${++serial}` });
        const client = new HttpClient();
        const { createSession } = await import('../src/sessions/index.ts');
        client.setCookie(t.url, 'oc_session', await createSession(t.database.db, t.config.session, { userId: user.id, provider: 'default' }));
        const page = await client.get(`${t.url}/accounts/2fa/`);
        assert.equal(page.status, 200);
        assert.match(page.body, /signs in through an identity provider/);
        assert.equal((await client.get(`${t.url}/accounts/2fa/totp/activate/`)).status, 403);
      });
    });

    describe('ADMIN_REQUIRE_MFA for local staff', () => {
      test('staff without a factor are sent to /accounts/2fa/ at sign-in and from /admin/; a form post gets 403; once enrolled, /admin/ opens', async () => {
        const user = await localUser('staff', { staff: true });
        const client = new HttpClient();
        const hop = await passwordLogin(client, user.username, PASSWORD, '/admin/');
        assert.equal(hop.location, `${t.url}/accounts/2fa/?next=%2Fadmin%2F`);
        const overview = await client.get(hop.location!);
        assert.match(overview.body, /Set up an authenticator app or a passkey before you use them/);
        assert.match(overview.body, /href="\/admin\/">Continue/);
        const admin = await client.get(`${t.url}/admin/users/`);
        assert.equal(admin.location, `${t.url}/accounts/2fa/?next=%2Fadmin%2Fusers%2F`);
        const post = await client.post(`${t.url}/admin/users/${user.id}/sessions/end`, { _csrf: 'x', session: 'all' }, { accept: 'application/json' });
        assert.equal(post.status, 403);

        const page = await client.get(`${t.url}/accounts/2fa/totp/activate/`);
        const secret = /id="authenticator_secret" value="([A-Z2-7]+)"/.exec(page.body)![1]!;
        await client.post(`${t.url}/accounts/2fa/totp/activate/`, { _csrf: hiddenField(page.body, '_csrf'), setup: hiddenField(page.body, 'setup'), code: totpCode(secret, timeStep(now)) });
        assert.equal((await client.get(`${t.url}/admin/`)).status, 200, 'enrolled in this session: the admin opens');
      });

      test('a superuser removes a user\'s factors: audited, the user\'s sessions end, and the admin page shows the factors before and after', async () => {
        const root = await enrolledUser({ staff: true, superuser: true });
        const victim = await enrolledUser();
        const detail = await root.client.get(`${t.url}/admin/users/${victim.user.id}/`);
        assert.equal(detail.status, 200);
        assert.match(detail.body, /<dt>Authenticator app<\/dt><dd>Active since \d{4}-\d\d-\d\d \d\d:\d\d UTC<\/dd>/);
        assert.match(detail.body, /<dt>Recovery codes<\/dt><dd>10 of 10 unused<\/dd>/);
        const removed = await root.client.post(`${t.url}/admin/users/${victim.user.id}/mfa/remove`, { _csrf: hiddenField(detail.body, '_csrf') });
        assert.equal(removed.status, 303);
        assert.equal(await sessionCount(victim.user.id), 0);
        assert.equal((await victim.client.get(`${t.url}/api/me`, { accept: 'application/json' })).status, 401);
        const after = await root.client.get(removed.location!);
        assert.match(after.body, /The second factors were removed, and the user’s sessions ended/);
        assert.match(after.body, /<dt>Authenticator app<\/dt><dd>None<\/dd>/);
        const event = await t.database.db.selectFrom('audit_log').selectAll().where('action', '=', 'remove_factors').where('user_id', '=', victim.user.id).executeTakeFirstOrThrow();
        assert.equal(event.actor_id, root.user.id);
        assert.equal(event.detail, 'authenticator app, recovery codes; 1 session ended');
        // The password alone signs the user in now.
        assert.equal((await passwordLogin(new HttpClient(), victim.user.username, victim.password)).location, `${t.url}/`);
      });

      test('staff, not superusers, may not remove factors', async () => {
        const staff = await enrolledUser({ staff: true });
        const victim = await enrolledUser();
        const detail = await staff.client.get(`${t.url}/admin/users/${victim.user.id}/`);
        assert.doesNotMatch(detail.body, /Remove all factors/);
        const refused = await staff.client.post(`${t.url}/admin/users/${victim.user.id}/mfa/remove`, { _csrf: hiddenField(detail.body, '_csrf') });
        assert.equal(refused.status, 403);
        assert.match(refused.body, /Only superusers can remove second factors/);
        await setStaff(t.database.db, staff.user.id, false);
      });
    });
  });
}

describe('second factors: the per-address limit and ADMIN_REQUIRE_MFA off', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ LOGIN_RATE_LIMIT_PER_MINUTE: '3', ADMIN_REQUIRE_MFA: 'false' });
  });
  after(async () => app?.close());

  test('the second step is limited per address like the password form: the fourth code in a minute gets 429 before any check', async () => {
    const client = new HttpClient();
    const page = await client.get(`${app.url}/accounts/login/`);
    const csrf = hiddenField(page.body, '_csrf');
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await client.post(`${app.url}/accounts/2fa/authenticate/`, { _csrf: csrf, code: '123456' })).status);
    assert.deepEqual(statuses, [400, 400, 400, 429]);
  });

  test('with ADMIN_REQUIRE_MFA=false, staff without a factor open /admin/', async () => {
    const user = await createUser(app.database.db, { username: 'plainstaff', password: 'a long enough password', isStaff: true });
    const client = new HttpClient();
    const page = await client.get(`${app.url}/accounts/login/`);
    const hop = await client.post(`${app.url}/accounts/login/`, { _csrf: hiddenField(page.body, '_csrf'), next: '/admin/', username: user.username, password: 'a long enough password' });
    assert.equal(hop.location, `${app.url}/admin/`);
    assert.equal((await client.get(`${app.url}/admin/`)).status, 200);
  });
});
