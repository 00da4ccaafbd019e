/**
 * Password guessing and hashing load (issue 10, item 3), measured from outside: how many wrong
 * answers come back, what the others are answered, and whether a real user signing in from another
 * address gets in while a flood is in flight. Requests are ordered by their answers, never by sleeps. Client addresses come from
 * X-Forwarded-For (TRUST_PROXY=true), so one test can be many clients.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { after, before, describe, test } from 'node:test';
import type { FastifyRequest } from 'fastify';
import { createUser } from '../src/accounts/users.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { HttpClient, hiddenField, type Hop } from './support/http-client.ts';
import { databaseTargets, type TestDatabase } from './support/postgres.ts';

/** A browser at `ip`, holding the login form (and its CSRF cookie) of one app instance. */
async function loginForm(app: TestApp, ip: string): Promise<(username: string, password: string) => Promise<Hop>> {
  const client = new HttpClient();
  const headers = { 'x-forwarded-for': ip };
  const page = await client.get(`${app.url}/accounts/login/`, headers);
  const csrf = hiddenField(page.body, '_csrf');
  return (username, password) => client.post(`${app.url}/accounts/login/`, { _csrf: csrf, next: '/', username, password }, headers);
}

const statuses = (hops: Hop[]): Record<number, number> => {
  const counts: Record<number, number> = {};
  for (const hop of hops) counts[hop.status] = (counts[hop.status] ?? 0) + 1;
  return counts;
};

for (const target of databaseTargets) {
  describe(`lockout across two instances on ${target.name}`, { skip: target.skip }, () => {
    let database: TestDatabase;
    let a: TestApp;
    let b: TestApp;
    before(async () => {
      database = await target.create();
      // Room for every attempt the lockout lets through (2 running + 8 queued per instance), so only the
      // lockout decides here. Both instances share this process's libuv pool: more hashes than its
      // threads would starve the PostgreSQL pool's connection set-up (SCRAM runs there) into 503s.
      const env = { DATABASE_URL: database.url, TRUST_PROXY: 'true', PASSWORD_HASH_CONCURRENCY: '2' };
      a = await startTestApp(env);
      b = await startTestApp(env);
      await createUser(a.database.db, { username: 'victim', email: 'victim@example.com', password: 'victim password' });
    });
    after(async () => {
      await a?.close();
      await b?.close();
      await database?.drop();
    });

    test('40 concurrent wrong passwords for one username: at most 10 are checked, the rest get 429', async () => {
      // Forty addresses, so no per-address limit is involved; half the requests go to each instance.
      const forms = await Promise.all(Array.from({ length: 40 }, (_, i) => loginForm(i % 2 ? a : b, `198.51.100.${i + 1}`)));
      const answers = await Promise.all(forms.map((send, i) => send('victim', `guess ${i}`)));
      const counts = statuses(answers);
      assert.ok((counts[401] ?? 0) <= 10, `wrong-password answers: ${JSON.stringify(counts)}`);
      assert.equal((counts[401] ?? 0) + (counts[429] ?? 0), 40, JSON.stringify(counts));
      for (const refused of answers.filter((h) => h.status === 429)) {
        assert.match(refused.body, /Too many failed sign-in attempts for this account/);
        assert.ok(Number(refused.headers.get('retry-after')) > 0);
      }
      // Locked now, even for the right password, on either instance.
      assert.equal((await (await loginForm(a, '203.0.113.1'))('victim', 'victim password')).status, 429);
      assert.equal((await (await loginForm(b, '203.0.113.2'))('victim', 'victim password')).status, 429);
    });

    test('usernames are case-sensitive, and so is the lockout: 10 wrong passwords for Alice leave alice alone', async () => {
      // Issue 17, finding 5: both can come from a Django import, where usernames are case-sensitive too.
      await createUser(a.database.db, { username: 'Alice', email: 'alice.upper@example.com', password: 'upper password' });
      await createUser(a.database.db, { username: 'alice', email: 'alice.lower@example.com', password: 'lower password' });
      const forms = await Promise.all(Array.from({ length: 10 }, (_, i) => loginForm(i % 2 ? a : b, `198.51.100.${60 + i}`)));
      assert.deepEqual(statuses(await Promise.all(forms.map((send, i) => send('Alice', `guess ${i}`)))), { 401: 10 });
      assert.equal((await (await loginForm(a, '203.0.113.3'))('Alice', 'upper password')).status, 429);
      assert.equal((await (await loginForm(b, '203.0.113.4'))('alice', 'lower password')).status, 302, 'alice is not locked by Alice');
    });
  });
}

describe('password checks under load', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ TRUST_PROXY: 'true', LOGIN_RATE_LIMIT_PER_MINUTE: '4' });
    await createUser(t.database.db, { username: 'carol', email: 'carol@example.com', password: 'carol password' });
    await createUser(t.database.db, { username: 'frank', email: 'frank@example.com', password: 'frank password' });
  });
  after(() => t?.close());

  test('40 guesses at once from one address get at most 4 passwords checked (the per-address limit), so a user signing in from another address once they have reached the server is let in: not locked out, not turned away busy', async () => {
    // 40 concurrent guesses from one address, at many usernames (carol's among them: the flood's own
    // per-address limit keeps her under the lockout) and unknown ones.
    const flood = await Promise.all(Array.from({ length: 40 }, () => loginForm(t, '192.0.2.66')));
    // The limiter lets the first 4 through, so its 36th refusal means all 40 have reached the server
    // (without the limit no refusal comes, and the counts below fail once every answer is in).
    let refusals = 0;
    let reached!: () => void;
    const allReached = new Promise<void>((resolve) => (reached = resolve));
    const inFlight = Promise.all(flood.map(async (send, i) => {
      const hop = await send(i % 4 === 0 ? 'carol' : `nobody${i}`, `guess ${i}`);
      if (hop.status === 429 && ++refusals === 36) reached();
      return hop;
    }));
    await Promise.race([allReached, inFlight]);

    // Were the flood's 40 passwords all being checked, her check would queue behind them, past the
    // hashing capacity's queue: a 503 (SERVER_BUSY), as the hashing capacity test shows.
    const signIn = await (await loginForm(t, '203.0.113.51'))('carol', 'carol password');
    const answers = await inFlight;

    assert.equal(signIn.status, 302, `carol is let in: ${signIn.status} ${signIn.body.match(/[A-Z]+_[A-Z_]+/)?.[0] ?? ''}`);
    const counts = statuses(answers);
    assert.ok((counts[401] ?? 0) <= 4, `the flood's passwords checked: at most the per-address limit; ${JSON.stringify(counts)}`);
    assert.equal((counts[401] ?? 0) + (counts[429] ?? 0), 40, JSON.stringify(counts));
    for (const refused of answers.filter((h) => h.status === 429)) {
      assert.match(refused.body, /RATE_LIMITED/);
      assert.ok(Number(refused.headers.get('retry-after')) > 0, 'Retry-After on every 429');
    }
  });

  test('the old-password check of a password change counts against the same lockout', async () => {
    const client = new HttpClient();
    const headers = { 'x-forwarded-for': '203.0.113.60' };
    const page = await client.get(`${t.url}/accounts/login/`, headers);
    const login = await client.post(`${t.url}/accounts/login/`, { _csrf: hiddenField(page.body, '_csrf'), next: '/', username: 'frank', password: 'frank password' }, headers);
    assert.equal(login.status, 302);
    const form = await client.get(`${t.url}/accounts/password_change/`, headers);
    const csrf = hiddenField(form.body, '_csrf');
    // Each from its own address, so only the lockout counts them.
    const guesses = await Promise.all(Array.from({ length: 12 }, (_, i) => client.post(`${t.url}/accounts/password_change/`,
      { _csrf: csrf, old_password: `guess ${i}`, new_password1: 'new password 1', new_password2: 'new password 1' },
      { 'x-forwarded-for': `198.51.100.${100 + i}` })));
    const counts = statuses(guesses);
    assert.ok((counts[400] ?? 0) <= 10, `old passwords checked: ${JSON.stringify(counts)}`);
    assert.equal((counts[400] ?? 0) + (counts[429] ?? 0), 12, JSON.stringify(counts));
    // The same lockout as the login form: the right old password and the login are refused too.
    const right = await client.post(`${t.url}/accounts/password_change/`,
      { _csrf: csrf, old_password: 'frank password', new_password1: 'new password 1', new_password2: 'new password 1' }, headers);
    assert.equal(right.status, 429);
    assert.equal((await (await loginForm(t, '203.0.113.61'))('frank', 'frank password')).status, 429);
  });
});

describe('hashing capacity', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ TRUST_PROXY: 'true', PASSWORD_HASH_CONCURRENCY: '1' });
  });
  after(() => t?.close());

  test('past the hashing capacity, logins are answered 503 with Retry-After at once, not queued', async () => {
    // 20 addresses, 20 usernames: neither limit applies, only the capacity of one hash at a time.
    const forms = await Promise.all(Array.from({ length: 20 }, (_, i) => loginForm(t, `198.51.100.${150 + i}`)));
    const answers = await Promise.all(forms.map((send, i) => send(`user${i}`, 'wrong password')));
    const counts = statuses(answers);
    assert.equal((counts[401] ?? 0) + (counts[503] ?? 0), 20, JSON.stringify(counts));
    assert.ok((counts[503] ?? 0) >= 10, `busy answers: ${JSON.stringify(counts)}`);
    for (const busy of answers.filter((h) => h.status === 503)) {
      assert.match(busy.body, /SERVER_BUSY/);
      assert.ok(Number(busy.headers.get('retry-after')) > 0);
    }
  });
});

/** Resolves once `count` requests to `path` have reached their route handler (Fastify's diagnostics channel). */
function handlersStarted(path: string, count: number): Promise<void> {
  const name = 'tracing:fastify.request.handler:start';
  return new Promise((resolve) => {
    let seen = 0;
    const onStart = (message: unknown) => {
      if ((message as { request: FastifyRequest }).request.url !== path || ++seen < count) return;
      unsubscribe(name, onStart);
      resolve();
    };
    subscribe(name, onStart);
  });
}

describe('imported Django hashes that ask for minutes of work', () => {
  let t: TestApp;
  // Well-formed hashes, as a hostile or broken Django row holds them, that an import before issue 17 stored.
  const b64 = (bytes: number) => randomBytes(bytes).toString('base64');
  const nopad = (bytes: number) => b64(bytes).replace(/=+$/, '');
  const COSTLY = {
    'costly-pbkdf2': `pbkdf2_sha256$100000000$salt$${b64(32)}`,
    'costly-bcrypt': `bcrypt_sha256$$2b$31$${'a'.repeat(22)}${'b'.repeat(31)}`,
    'costly-argon2': `argon2$argon2id$v=19$m=102400,t=100000,p=8$${nopad(16)}$${nopad(32)}`,
    'costly-scrypt': `scrypt$16384$salt$8$1000$${b64(64)}`,
  };
  before(async () => {
    t = await startTestApp({ TRUST_PROXY: 'true', PASSWORD_HASH_CONCURRENCY: '2' });
    await createUser(t.database.db, { username: 'carol', email: 'carol@example.com', password: 'carol password' });
    for (const [username, hash] of Object.entries(COSTLY)) {
      const { id } = await createUser(t.database.db, { username, email: `${username}@example.com` });
      await t.database.db.updateTable('users').set({ password: `django$${hash}` }).where('id', '=', id).execute();
    }
  });
  after(() => t?.close());

  test('are refused unchecked, like a wrong password, audited PASSWORD_HASH_REFUSED, while another user signs in', { timeout: 120_000 }, async () => {
    // Two wrong passwords for each, each from its own address: eight, within the two hashing slots and their queue.
    const forms = await Promise.all(Array.from({ length: 8 }, (_, i) => loginForm(t, `198.51.100.${200 + i}`)));
    const usernames = Object.keys(COSTLY);
    const inHandlers = handlersStarted('/accounts/login/', 8);
    const costly = Promise.all(forms.map((send, i) => send(usernames[i % 4]!, `guess ${i}`)));
    await inHandlers;
    // Before the fix the first two took both slots for minutes (bcrypt cost 31: years), and this waited behind them.
    const carol = await (await loginForm(t, '203.0.113.70'))('carol', 'carol password');
    assert.equal(carol.status, 302);

    const answers = await costly;
    assert.deepEqual(statuses(answers), { 401: 8 });
    for (const answer of answers) assert.match(answer.body, /Please enter a correct username and password/);
    const audited = await t.database.db.selectFrom('audit_log').select(['username', 'error_code'])
      .where('type', '=', 'login_failure').where('username', 'like', 'costly-%').execute();
    assert.deepEqual(audited.map((a) => a.error_code).sort(), Array(8).fill('PASSWORD_HASH_REFUSED'));
  });
});
