/**
 * Django's password reset (issue 19, section 1), over HTTP, on SQLite and PostgreSQL, with mail
 * delivered to a real SMTP server (test/support/smtp.ts) and read from there. Client addresses come
 * from X-Forwarded-For (TRUST_PROXY=loopback), so that each test is its own client for the per-address
 * limit. The attacks: enumeration by answer and by the work a request does, tokens used, expired,
 * tampered with or for another user, the Host header, a flood for one address, inactive, provider-only
 * and unverified accounts.
 */
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { tracingChannel } from 'node:diagnostics_channel';
import { after, before, describe, test } from 'node:test';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { reserveAttempt } from '../src/accounts/lockout.ts';
import { hashPassword, verifyPassword } from '../src/accounts/passwords.ts';
import { encodeUid, passwordResetTokens } from '../src/accounts/tokens.ts';
import { createUser, findUserByUsername } from '../src/accounts/users.ts';
import type { Config } from '../src/config/index.ts';
import type { Db } from '../src/db/index.ts';
import type { Database } from '../src/db/schema.ts';
import { NodeSqliteDialect, openSqlite } from '../src/db/sqlite-dialect.ts';
import { outboxDepth } from '../src/mail/outbox.ts';
import { createRelyingParty } from '../src/rp/index.ts';
import { buildApp } from '../src/web/app.ts';
import { RESET_REQUESTS_PER_IP_PER_HOUR } from '../src/web/routes/password-reset.ts';
import { startTestApp, testAppBase, type TestApp } from './support/app.ts';
import { HttpClient, hiddenField, type Hop } from './support/http-client.ts';
import { databaseTargets, type TestDatabase } from './support/postgres.ts';
import { smtpSkip, startSmtpServer, type ReceivedMail, type SmtpServer } from './support/smtp.ts';

let clients = 0;
/** A browser at an address of its own. */
function browser(): { client: HttpClient; headers: Record<string, string> } {
  clients++;
  return { client: new HttpClient(), headers: { 'x-forwarded-for': `203.0.113.${clients % 250}`, 'user-agent': `test browser ${clients}` } };
}

/** Waits until the outbox holds nothing to send: every request resolved, every mail sent or dropped. */
async function outboxSettled(db: Db): Promise<void> {
  while ((await outboxDepth(db)) > 0) await new Promise((resolve) => setTimeout(resolve, 20));
}

const linkIn = (mail: ReceivedMail): string => {
  const match = /(http\S+\/accounts\/reset\/[\w-]+\/[\w-]+\/)/.exec(mail.text ?? '');
  if (!match) throw new Error(`no reset link in: ${mail.text}`);
  return match[1]!;
};

for (const target of databaseTargets) {
  describe(`password reset on ${target.name}`, { skip: target.skip ?? smtpSkip }, () => {
    let database: TestDatabase;
    let smtp: SmtpServer;
    let t: TestApp;

    before(async () => {
      database = await target.create();
      smtp = await startSmtpServer();
      t = await startTestApp({
        DATABASE_URL: database.url, EMAIL_URL: `smtp://127.0.0.1:${smtp.port}`, TRUST_PROXY: 'loopback', LOGIN_RATE_LIMIT_PER_MINUTE: '10000',
      });
      const db = t.database.db;
      await createUser(db, { username: 'carol', email: 'carol@example.com', password: 'carol password' });
      const dave = await createUser(db, { username: 'dave', email: 'dave@example.com', password: 'dave password' });
      await db.updateTable('users').set({ is_active: 0 }).where('id', '=', dave.id).execute();
      // erin signs in through a provider only: no usable password, as Django's set_unusable_password().
      await createUser(db, { username: 'erin', email: 'erin@example.com' });
      const frank = await createUser(db, { username: 'frank', email: 'frank@example.com', password: 'frank password' });
      await db.updateTable('users').set({ email_verified: 0 }).where('id', '=', frank.id).execute();
      await createUser(db, { username: 'gina', email: 'shared@example.com', password: 'gina password' });
      await createUser(db, { username: 'gino', email: 'Shared@Example.com', password: 'gino password' });
    });
    after(async () => {
      await t?.close();
      await smtp?.stop();
      await database.drop();
    });

    /** Asks for a reset of `email` as a browser would; returns the answer to the form's POST. */
    async function ask(email: string, who = browser(), extraHeaders: Record<string, string> = {}): Promise<Hop> {
      const form = await who.client.get(`${t.url}/accounts/password_reset/`, who.headers);
      return who.client.post(`${t.url}/accounts/password_reset/`, { _csrf: hiddenField(form.body, '_csrf'), email }, { ...who.headers, ...extraHeaders });
    }

    /** The mails the server gets while `run` runs and the outbox then settles. */
    async function mailsDuring(run: () => Promise<unknown>): Promise<ReceivedMail[]> {
      const before = smtp.received.length;
      const sent = await t.database.db.selectFrom('mail_outbox').select('id').where('state', '=', 'sent').execute();
      await run();
      await outboxSettled(t.database.db);
      const now = await t.database.db.selectFrom('mail_outbox').select('id').where('state', '=', 'sent').execute();
      return (await smtp.waitFor(before + now.length - sent.length)).slice(before);
    }

    test('the login page links to the form; the form has an email field and is CSRF-protected', async () => {
      const { client, headers } = browser();
      const login = await client.get(`${t.url}/accounts/login/`, headers);
      assert.match(login.body, /<a href="\/accounts\/password_reset\/">Forgot your password\?<\/a>/);
      const form = await client.get(`${t.url}/accounts/password_reset/`, headers);
      assert.equal(form.status, 200);
      assert.match(form.body, /<input type="email" name="email"/);
      const forged = await client.post(`${t.url}/accounts/password_reset/`, { _csrf: 'forged', email: 'carol@example.com' }, headers);
      assert.equal(forged.status, 403);
      assert.match(forged.body, /CSRF_INVALID/);
    });

    test('a known address and an unknown one get the same answer and the same next page; only the known one gets mail', async () => {
      let known!: Hop;
      let unknown!: Hop;
      const mails = await mailsDuring(async () => {
        known = await ask('carol@example.com');
        unknown = await ask('nobody@example.com');
      });
      for (const hop of [known, unknown]) {
        assert.equal(hop.status, 302);
        assert.equal(hop.location, `${t.url}/accounts/password_reset/done/`);
        assert.equal(hop.body, '');
      }
      assert.deepEqual([...known.headers.keys()].filter((k) => k !== 'date' && k !== 'set-cookie'), [...unknown.headers.keys()].filter((k) => k !== 'date' && k !== 'set-cookie'));
      const done = await new HttpClient().get(known.location!);
      assert.match(done.body, /if an account exists with the email you entered/);
      assert.deepEqual(mails.map((m) => m.rcpt_tos), [['carol@example.com']]);
      const mail = mails[0]!;
      assert.equal(mail.headers.subject, `Password reset on ${new URL(t.url).host}`);
      assert.match(mail.headers['message-id']!, new RegExp(`^<[\\w-]+@${new URL(t.url).hostname.replace(/\./g, '\\.')}>$`));
      assert.ok(mail.headers.date);
      assert.equal(mail.content_type, 'multipart/alternative');
      assert.match(mail.text!, /Your username, in case you've forgotten: carol/);
      assert.ok(mail.html!.includes(`href="${linkIn(mail)}"`), 'the HTML part has the same link as its button');
    });

    test('the link leads to Django\'s form, and a new password ends every session, clears the lockout and is audited', async () => {
      // carol is signed in on two browsers, and someone has been guessing her password.
      const sessions = [new HttpClient(), new HttpClient()];
      for (const client of sessions) {
        const page = await client.get(`${t.url}/accounts/login/`);
        const login = await client.post(`${t.url}/accounts/login/`, { _csrf: hiddenField(page.body, '_csrf'), next: '/', username: 'carol', password: 'carol password' });
        assert.equal(login.status, 302);
      }
      for (let i = 0; i < 3; i++) await reserveAttempt(t.database.db, t.config.lockout, 'carol');
      const [mail] = await mailsDuring(() => ask('carol@example.com'));
      const link = linkIn(mail!);
      assert.ok(link.startsWith(`${t.url}/accounts/reset/${encodeUid((await findUserByUsername(t.database.db, 'carol'))!.id)}/`));

      const { client, headers } = browser();
      const opened = await client.get(link, headers);
      assert.equal(opened.status, 302, 'the token leaves the address bar, as Django does');
      assert.match(opened.location!, /\/accounts\/reset\/[\w-]+\/set-password\/$/);
      const form = await client.get(opened.location!, headers);
      assert.equal(form.status, 200);
      assert.match(form.body, /name="new_password1"/);
      assert.match(form.body, /name="new_password2"/);
      const csrf = hiddenField(form.body, '_csrf');

      const mismatch = await client.post(opened.location!, { _csrf: csrf, new_password1: 'a brand new passphrase', new_password2: 'a different passphrase' }, headers);
      assert.equal(mismatch.status, 400);
      assert.match(mismatch.body, /The two password fields didn’t match\./);
      assert.match(mismatch.body, /name="new_password1"/);
      const short = await client.post(opened.location!, { _csrf: csrf, new_password1: 'short', new_password2: 'short' }, headers);
      assert.equal(short.status, 400);
      assert.match(short.body, /too short/);

      const done = await client.post(opened.location!, { _csrf: csrf, new_password1: 'a brand new passphrase', new_password2: 'a brand new passphrase' }, headers);
      assert.equal(done.status, 302);
      assert.equal(done.location, `${t.url}/accounts/reset/done/`);
      assert.match((await client.get(done.location!, headers)).body, /Your password has been set\. You may go ahead and log in now\./);

      const carol = (await findUserByUsername(t.database.db, 'carol'))!;
      assert.equal(await verifyPassword('a brand new passphrase', carol.password!), true);
      assert.equal(await verifyPassword('carol password', carol.password!), false);
      for (const session of sessions) assert.equal((await session.get(`${t.url}/api/me`, { accept: 'application/json' })).status, 401, 'every session ended');
      assert.equal(await t.database.db.selectFrom('sessions').select('id').where('user_id', '=', carol.id).executeTakeFirst(), undefined);
      assert.equal(await t.database.db.selectFrom('login_failures').select('username').where('username', '=', 'carol').executeTakeFirst(), undefined, 'lockout cleared');
      const events = await t.database.db.selectFrom('audit_log').select(['type', 'error_code', 'detail', 'ip']).where('user_id', '=', carol.id)
        .where('type', 'in', ['password_reset_request', 'password_reset']).orderBy('id').execute();
      assert.deepEqual(events.slice(-2).map((e) => `${e.type}/${e.error_code}`), ['password_reset_request/null', 'password_reset/null']);
      assert.equal(events.at(-1)!.detail, '2 sessions ended');
      assert.equal(events.at(-1)!.ip, headers['x-forwarded-for']);

      // The link worked once.
      const again = await new HttpClient().get(link);
      assert.equal(again.status, 400);
      assert.match(again.body, /The password reset link was invalid/);
      assert.doesNotMatch(again.body, /new_password1/);
      const repost = await client.post(opened.location!, { _csrf: csrf, new_password1: 'yet another passphrase', new_password2: 'yet another passphrase' }, headers);
      assert.equal(repost.status, 400, 'the form of a used link is refused too');
      assert.equal(await verifyPassword('a brand new passphrase', (await findUserByUsername(t.database.db, 'carol'))!.password!), true);
    });

    test('an expired, tampered or another user\'s link shows the invalid page, with no form', async () => {
      const carol = (await findUserByUsername(t.database.db, 'carol'))!;
      const gina = (await findUserByUsername(t.database.db, 'gina'))!;
      const links = passwordResetTokens(t.config.sessionSecret, t.config.mail.passwordResetTimeoutSeconds);
      const fresh = links.make(carol);
      const expired = links.make(carol, Date.now() - (t.config.mail.passwordResetTimeoutSeconds + 5) * 1000);
      const tampered = `${fresh.slice(0, -1)}${fresh.endsWith('0') ? '1' : '0'}`;
      const otherSecret = passwordResetTokens('another-secret-another-secret-another-1', 3600).make(carol);
      const cases = {
        expired: `/accounts/reset/${encodeUid(carol.id)}/${expired}/`,
        tampered: `/accounts/reset/${encodeUid(carol.id)}/${tampered}/`,
        "another user's uid": `/accounts/reset/${encodeUid(gina.id)}/${fresh}/`,
        'signed under another SESSION_SECRET': `/accounts/reset/${encodeUid(carol.id)}/${otherSecret}/`,
        'a uid that is not one': `/accounts/reset/MQ==/${fresh}/`,
        'no cookie at set-password': `/accounts/reset/${encodeUid(carol.id)}/set-password/`,
      };
      for (const [name, path] of Object.entries(cases)) {
        const page = await new HttpClient().get(`${t.url}${path}`);
        assert.equal(page.status, 400, name);
        assert.match(page.body, /Password reset unsuccessful/, name);
        assert.doesNotMatch(page.body, /new_password1/, name);
      }
      // The fresh one works: the refusals above were for what they changed.
      assert.equal((await new HttpClient().get(`${t.url}/accounts/reset/${encodeUid(carol.id)}/${fresh}/`)).status, 302);
    });

    test('the link is built from APP_URL, never from the Host header', async () => {
      const [mail] = await mailsDuring(() => ask('gina@example.com'.replace('gina', 'carol'), browser(), { host: 'evil.example', 'x-forwarded-host': 'evil.example' }));
      assert.ok(linkIn(mail!).startsWith(`${t.url}/accounts/reset/`), linkIn(mail!));
      assert.doesNotMatch(mail!.text! + mail!.html!, /evil\.example/);
    });

    test('no mail for an inactive account, a provider-only one or an unverified address, and the same answer as for any other', async () => {
      const answers: Hop[] = [];
      const mails = await mailsDuring(async () => {
        for (const email of ['dave@example.com', 'erin@example.com', 'frank@example.com']) answers.push(await ask(email));
      });
      assert.deepEqual(mails, []);
      for (const answer of answers) assert.equal(`${answer.status} ${answer.location}`, `302 ${t.url}/accounts/password_reset/done/`);
      const events = await t.database.db.selectFrom('audit_log').select(['user_id', 'detail']).where('type', '=', 'password_reset_request')
        .where('user_agent', 'in', answers.map((_, i) => `test browser ${clients - 2 + i}`)).execute();
      assert.equal(events.length, 3, 'each request is audited');
      assert.ok(events.every((e) => e.user_id === null && /no active account with a password has this verified address/.test(e.detail)));
    });

    test('accounts sharing a verified address (compared as Django does, ignoring case) get one mail each', async () => {
      const mails = await mailsDuring(() => ask('SHARED@example.com'));
      // (nodemailer writes the domain in lower case on the envelope)
      assert.deepEqual(mails.map((m) => m.rcpt_tos[0]!.toLowerCase()), ['shared@example.com', 'shared@example.com']);
      assert.deepEqual(mails.map((m) => /Your username, in case you've forgotten: (\w+)/.exec(m.text!)![1]).sort(), ['gina', 'gino']);
    });

    test('a flood for one address from many clients: every answer the same redirect, at most 5 mails an hour, the rest audited as RATE_LIMITED', async () => {
      const carol = (await findUserByUsername(t.database.db, 'carol'))!;
      const before = await t.database.db.selectFrom('mail_outbox').select('id').where('recipient_key', '=', 'carol@example.com')
        .where('state', '!=', 'dropped').where('created', '>', Date.now() - 3600_000).execute();
      const answers: Hop[] = [];
      const mails = await mailsDuring(async () => {
        answers.push(...await Promise.all(Array.from({ length: 12 }, () => ask('carol@example.com'))));
      });
      for (const answer of answers) assert.equal(`${answer.status} ${answer.location}`, `302 ${t.url}/accounts/password_reset/done/`);
      assert.equal(mails.length, 5 - before.length, `${before.length} mails went to carol this hour before the flood`);
      const limited = await t.database.db.selectFrom('audit_log').select('id').where('type', '=', 'password_reset_request')
        .where('user_id', '=', carol.id).where('error_code', '=', 'RATE_LIMITED').execute();
      assert.equal(limited.length, 12 - mails.length);
      // Once the hour is full, a request is answered as before and sends nothing.
      const more = await mailsDuring(() => ask('carol@example.com'));
      assert.deepEqual(more, []);
    });

    test(`one client address may send ${RESET_REQUESTS_PER_IP_PER_HOUR} forms an hour; the next is refused, known address or not`, async () => {
      const who = browser();
      const form = await who.client.get(`${t.url}/accounts/password_reset/`, who.headers);
      const post = (email: string) => who.client.post(`${t.url}/accounts/password_reset/`, { _csrf: hiddenField(form.body, '_csrf'), email }, who.headers);
      for (let i = 0; i < RESET_REQUESTS_PER_IP_PER_HOUR; i++) assert.equal((await post(`someone${i}@example.com`)).status, 302);
      for (const email of ['gina@example.com', 'nobody@example.com']) {
        const refused = await post(email);
        assert.equal(refused.status, 429, email);
        assert.match(refused.body, /RATE_LIMITED/);
        assert.ok(Number(refused.headers.get('retry-after')) > 60);
      }
      await outboxSettled(t.database.db);
    });

    test('a form without a usable address is answered with Django\'s message, and writes nothing', async () => {
      const depth = await t.database.db.selectFrom('mail_outbox').select('id').execute();
      for (const [email, message] of [['', /This field is required\./], ['not an address', /Enter a valid email address\./], [`${'a'.repeat(250)}@example.com`, /Enter a valid email address\./]] as const) {
        const answer = await ask(email);
        assert.equal(answer.status, 400, email);
        assert.match(answer.body, message);
      }
      assert.equal((await t.database.db.selectFrom('mail_outbox').select('id').execute()).length, depth.length);
    });
  });

  describe(`a reset request costs the same for a known and an unknown address, on ${target.name}`, { skip: target.skip ?? smtpSkip }, () => {
    const requests = new AsyncLocalStorage<string[]>();
    /** The list the next handler's statements go to. */
    let capturing: string[] | undefined;
    let url: string;
    let database: TestDatabase;
    let smtp: SmtpServer;
    let logged: Kysely<Database>;
    let close: () => Promise<void>;
    let app: Awaited<ReturnType<typeof buildApp>>;
    let config: Config;

    before(async () => {
      database = await target.create();
      smtp = await startSmtpServer();
      const base = await testAppBase('timing', { DATABASE_URL: database.url, EMAIL_URL: `smtp://127.0.0.1:${smtp.port}` });
      config = base.config;
      const user = { username: 'carol', email: 'carol@example.com', password_hash: await hashPassword('carol password') };
      await base.database.db.insertInto('users').values({
        username: user.username, email: user.email, email_key: user.email, email_verified: 1, first_name: '', last_name: '', password: user.password_hash,
        is_active: 1, is_staff: 0, is_superuser: 0, last_login: null, date_joined: Date.now(),
      }).execute();
      // The app's database again, through a Kysely that logs every statement of the request it runs in.
      const log = (event: { level: string; query: { sql: string } }) => {
        if (event.level === 'query') requests.getStore()?.push(event.query.sql);
      };
      if (target.name === 'sqlite') {
        const file = config.database.kind === 'sqlite' ? config.database.file : '';
        await base.database.close();
        logged = new Kysely<Database>({ dialect: new NodeSqliteDialect({ database: openSqlite(file) }), log });
        close = async () => { await logged.destroy(); await base.close(); };
      } else {
        const pool = new pg.Pool({ connectionString: database.url, types: { getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === 20 ? Number : pg.types.getTypeParser(oid, format)) } as never });
        logged = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log });
        close = async () => { await logged.destroy(); await base.close(); };
      }
      tracingChannel('fastify.request.handler').start.bindStore(requests, () => capturing ?? []);
      app = await buildApp({ config, db: logged, rp: createRelyingParty(config, logged) });
      await app.listen({ port: base.port, host: '127.0.0.1' });
      url = config.appUrl;
    });
    after(async () => {
      await app?.close();
      await close?.();
      await smtp?.stop();
      await database.drop();
    });

    /**
     * The SQL statements one POST of the form runs while it is answered. Fastify runs each route
     * handler under its diagnostics channel `tracing:fastify.request.handler`; the store bound to it
     * here follows the handler's own asynchronous work, and nothing else (the mail sender works in a
     * context of its own).
     */
    async function statementsOf(email: string): Promise<{ statements: string[]; status: number; location: string | null }> {
      const { client, headers } = browser();
      const form = await client.get(`${url}/accounts/password_reset/`, headers);
      const statements: string[] = [];
      capturing = statements;
      try {
        const answer = await client.post(`${url}/accounts/password_reset/`, { _csrf: hiddenField(form.body, '_csrf'), email }, headers);
        return { statements, status: answer.status, location: answer.location };
      } finally {
        capturing = undefined;
      }
    }

    test('the same statements, one INSERT into the outbox and no read of users, whether or not an account has the address', async () => {
      const known = await statementsOf('carol@example.com');
      const unknown = await statementsOf('nobody@example.com');
      assert.deepEqual(known, unknown);
      assert.equal(known.status, 302);
      assert.equal(known.location, `${url}/accounts/password_reset/done/`);
      assert.equal(known.statements.length, 1, known.statements.join('\n'));
      assert.match(known.statements[0]!, /^insert into "mail_outbox"/);
      // The sender does the rest, afterwards: carol's mail arrives.
      const [mail] = await smtp.waitFor(1);
      assert.deepEqual(mail!.rcpt_tos, ['carol@example.com']);
    });
  });
}

describe('password reset in production without EMAIL_URL', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({
      NODE_ENV: 'production', APP_URL: 'https://app.example.com', SESSION_SECRET: 'nH3kQ9vX2bLm7pR4tW8yZ1cF6gJ0sD5e-Aq_uE',
      OIDC_ISSUER: 'https://id.example.com', OIDC_RP_CLIENT_ID: 'c', OIDC_RP_CLIENT_SECRET: 's',
    });
  });
  after(() => t?.close());

  test('the page says reset by email is not set up here, and a POST is refused with MAIL_NOT_CONFIGURED, writing nothing', async () => {
    const base = `http://127.0.0.1:${t.config.port}`;
    const client = new HttpClient();
    const page = await client.get(`${base}/accounts/password_reset/`);
    assert.equal(page.status, 200);
    assert.match(page.body, /Password reset by email is not set up here\./);
    assert.doesNotMatch(page.body, /name="email"/);
    const token = /name="_csrf" value="([^"]+)"/.exec((await client.get(`${base}/accounts/login/`)).body)![1]!;
    const refused = await client.post(`${base}/accounts/password_reset/`, { _csrf: token, email: 'carol@example.com' });
    assert.equal(refused.status, 503);
    assert.match(refused.body, /MAIL_NOT_CONFIGURED/);
    assert.equal(await t.database.db.selectFrom('mail_outbox').select('id').executeTakeFirst(), undefined);
  });
});
