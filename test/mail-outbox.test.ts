/**
 * The outbox and its sender (src/mail/), on SQLite and PostgreSQL, with a real SMTP server
 * (test/support/smtp.ts): two instances (two database handles, each with its own pool and sender)
 * racing over the same rows send each mail once; a mail the server can't take is tried again later
 * and later and given up after a day with an audit event; a refused recipient is given up at once;
 * the per-address limit holds under concurrent writers; a lease shuts out a second sender.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { hashPassword } from '../src/accounts/passwords.ts';
import { passwordResetTokens, decodeUid } from '../src/accounts/tokens.ts';
import { findUserById } from '../src/accounts/users.ts';
import { loadConfig } from '../src/config/index.ts';
import { migrate, openDatabase, type DatabaseHandle, type Db } from '../src/db/index.ts';
import {
  claimMail, enqueueLimitedMail, finishMail, MAILS_PER_ADDRESS_PER_HOUR, outboxDepth, pruneOutbox, retryMail,
} from '../src/mail/outbox.ts';
import { requestPasswordReset } from '../src/mail/password-reset.ts';
import { GIVE_UP_AFTER_MS, LEASE_MS, RETRY_DELAYS_MS, retryDelay, startMailSender, type MailSender } from '../src/mail/sender.ts';
import type { MailSettings } from '../src/mail/settings.ts';
import { createMailTransport, type MailTransport } from '../src/mail/transport.ts';
import { freePort } from './support/app.ts';
import { databaseTargets, type TestDatabase } from './support/postgres.ts';
import { smtpSkip, startSmtpServer, type SmtpServer } from './support/smtp.ts';

const SETTINGS: MailSettings = {
  appUrl: 'https://app.example.com', from: 'noreply@app.example.com', brand: 'oidc-connect',
  sessionSecret: 'test-secret-test-secret-test-secret-1234', passwordResetTimeoutSeconds: 3600,
};
const REQUESTER = { ip: '198.51.100.7', userAgent: 'test' };
const quiet = { info: () => {}, warn: () => {} };

test('retries come later and later: 5 s, 15 s, 1 min, 5 min, 15 min, 30 min, then every hour, each with up to 20 % more', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 20].map((n) => retryDelay(n, 0)), [5_000, 15_000, 60_000, 300_000, 900_000, 1_800_000, 3_600_000, 3_600_000, 3_600_000]);
  assert.equal(retryDelay(1, 1), 6_000);
  assert.ok(LEASE_MS > 90_000, 'a lease outlasts a send');
});

for (const target of databaseTargets) {
  describe(`the mail outbox on ${target.name}`, { skip: target.skip ?? smtpSkip }, () => {
    let database: TestDatabase;
    let dir: string;
    let first: DatabaseHandle;
    let second: DatabaseHandle;
    let smtp: SmtpServer;
    let transport: MailTransport;
    let passwordHash: string;
    const senders: MailSender[] = [];

    before(async () => {
      database = await target.create();
      dir = mkdtempSync(join(tmpdir(), 'oidc-connect-outbox-'));
      const config = loadConfig({ cwd: dir, env: { DATABASE_URL: database.url, SESSION_SECRET: SETTINGS.sessionSecret, DEV_IDP_PORT: '1' } });
      first = openDatabase(config.database);
      // Two pools on PostgreSQL, as two instances have. SQLite serves one process through one
      // connection (a second in the same process would wait on the first's write lock, on one thread).
      second = target.name === 'sqlite' ? first : openDatabase(config.database);
      await migrate(first);
      smtp = await startSmtpServer({ reject: ['refused@example.com'] });
      transport = createMailTransport({ transport: { kind: 'smtp', display: 'test', host: '127.0.0.1', port: smtp.port, secure: false, requireTls: false } })!;
      passwordHash = await hashPassword('an old password');
    });
    after(async () => {
      for (const sender of senders) await sender.stop();
      transport?.close();
      await smtp?.stop();
      await first?.close();
      if (second !== first) await second?.close();
      rmSync(dir, { recursive: true, force: true });
      await database.drop();
    });

    /** Users with a password and a verified email, inserted as rows (hashing one password per user would take seconds). */
    async function users(prefix: string, count: number): Promise<{ id: number; email: string }[]> {
      const rows = Array.from({ length: count }, (_, i) => {
        const email = `${prefix}${i}@example.com`;
        return {
          username: `${prefix}${i}`, email, email_key: email, email_verified: 1 as const, first_name: '', last_name: '', password: passwordHash,
          is_active: 1 as const, is_staff: 0 as const, is_superuser: 0 as const, last_login: null, date_joined: Date.now(),
        };
      });
      return first.db.insertInto('users').values(rows).returning(['id', 'email']).execute();
    }

    const sender = (db: Db, now?: () => number, log = quiet) => {
      const started = startMailSender({ db, transport, settings: SETTINGS, log, ...(now ? { now } : {}) });
      senders.push(started);
      return started;
    };
    const state = async (userId: number) => first.db.selectFrom('mail_outbox').selectAll().where('user_id', '=', userId).execute();

    test('two instances racing over the same reset requests send each mail once, each with a link that works', async () => {
      const people = await users('race', 12);
      const before = smtp.received.length;
      for (const person of people) await requestPasswordReset(first.db, person.email, REQUESTER);
      const a = sender(first.db);
      const b = sender(second.db);
      // Both pass over the outbox at once until every mail is out.
      await Promise.all([a.runOnce(), b.runOnce()]);
      await Promise.all([a.runOnce(), b.runOnce()]);
      const received = (await smtp.waitFor(before + people.length)).slice(before);
      await Promise.all([a.runOnce(), b.runOnce()]);
      await a.stop();
      await b.stop();
      assert.equal(smtp.received.length, before + people.length, 'not one mail more');
      assert.deepEqual(received.map((m) => m.rcpt_tos[0]).sort(), people.map((p) => p.email).sort());
      assert.equal(new Set(received.map((m) => m.headers['message-id'])).size, people.length);
      const links = passwordResetTokens(SETTINGS.sessionSecret, 3600);
      for (const mail of received) {
        const [, uid, token] = /\/accounts\/reset\/([\w-]+)\/([\w-]+)\//.exec(mail.text!)!;
        const user = (await findUserById(first.db, decodeUid(uid!)!))!;
        assert.equal(user.email, mail.rcpt_tos[0]);
        assert.equal(links.check(user, token!), true);
      }
      const rows = await first.db.selectFrom('mail_outbox').select(['state', 'attempts']).where('kind', '=', 'password_reset')
        .where('user_id', 'in', people.map((p) => p.id)).execute();
      assert.deepEqual(rows.map((r) => `${r.state}/${r.attempts}`), people.map(() => 'sent/1'));
      assert.equal(await outboxDepth(first.db), 0);
    });

    test('a mail the server cannot take is tried again later and later, then given up after a day, with a mail_failed audit event', async () => {
      const [person] = await users('down', 1);
      let clock = Date.now();
      const down = createMailTransport({ transport: { kind: 'smtp', display: 'smtp://127.0.0.1 (down)', host: '127.0.0.1', port: await freePort(), secure: false, requireTls: false } })!;
      const stopped = startMailSender({ db: first.db, transport: down, settings: SETTINGS, log: quiet, now: () => clock });
      senders.push(stopped);
      await requestPasswordReset(first.db, person!.email, REQUESTER, clock);
      await stopped.runOnce();
      let [row] = await state(person!.id);
      assert.equal(row!.state, 'pending');
      assert.equal(row!.attempts, 1);
      assert.match(row!.last_error, /ECONNREFUSED/);
      const firstDelay = row!.next_attempt - clock;
      assert.ok(firstDelay >= RETRY_DELAYS_MS[0] && firstDelay <= RETRY_DELAYS_MS[0] * 1.2, `${firstDelay}`);
      await stopped.runOnce();
      assert.equal((await state(person!.id))[0]!.attempts, 1, 'not tried again before it is due');
      let attempts = 1;
      const delays = [firstDelay];
      while (row!.state === 'pending') {
        clock = row!.next_attempt;
        await stopped.runOnce();
        [row] = await state(person!.id);
        attempts++;
        if (row!.state === 'pending') delays.push(row!.next_attempt - clock);
      }
      delays.forEach((delay, i) => {
        const base = RETRY_DELAYS_MS[Math.min(i, RETRY_DELAYS_MS.length - 1)]!;
        assert.ok(delay >= base && delay <= base * 1.2, `retry ${i + 1} after ${delay} ms, not ${base} ms to ${base * 1.2} ms`);
      });
      assert.equal(row!.state, 'failed');
      assert.equal(row!.attempts, attempts);
      // Given up at the attempt whose next one (an hour later, at most 20 % more) would fall after the day.
      assert.ok(clock - row!.created < GIVE_UP_AFTER_MS && clock + RETRY_DELAYS_MS.at(-1)! * 1.2 - row!.created >= GIVE_UP_AFTER_MS,
        'the last attempt is the last one within the day');
      const events = await first.db.selectFrom('audit_log').selectAll().where('type', '=', 'mail_failed').where('user_id', '=', person!.id).execute();
      assert.equal(events.length, 1);
      assert.equal(events[0]!.error_code, 'MAIL_UNDELIVERABLE');
      assert.equal(events[0]!.username, 'down0');
      assert.match(events[0]!.detail, new RegExp(`^password_reset to down0@example.com after ${attempts} attempts: .*ECONNREFUSED`));
      await stopped.stop();
      down.close();
    });

    test('a recipient the server refuses with 550 is given up at once', async () => {
      const id = (await first.db.insertInto('users').values({
        username: 'refused', email: 'refused@example.com', email_key: 'refused@example.com', email_verified: 1, first_name: '', last_name: '',
        password: passwordHash, is_active: 1, is_staff: 0, is_superuser: 0, last_login: null, date_joined: Date.now(),
      }).returning('id').executeTakeFirstOrThrow()).id;
      const one = sender(first.db);
      await requestPasswordReset(first.db, 'refused@example.com', REQUESTER);
      await one.runOnce();
      await one.runOnce();
      const [row] = await state(id);
      assert.equal(row!.state, 'failed');
      assert.equal(row!.attempts, 1);
      assert.match(row!.last_error, /550 5\.1\.1/);
      await one.stop();
    });

    test(`at most ${MAILS_PER_ADDRESS_PER_HOUR} mails reach one address in an hour, however many writers add them at once`, async () => {
      const address = 'flooded@example.com';
      const add = (db: Db) => db.transaction().execute((trx) => enqueueLimitedMail(trx, { kind: 'email_verification', recipient: address }));
      const results = await Promise.all(Array.from({ length: 16 }, (_, i) => add(i % 2 === 0 ? first.db : second.db)));
      assert.equal(results.filter(Boolean).length, MAILS_PER_ADDRESS_PER_HOUR);
      const rows = await first.db.selectFrom('mail_outbox').select('state').where('recipient_key', '=', address).execute();
      assert.equal(rows.filter((r) => r.state === 'pending').length, MAILS_PER_ADDRESS_PER_HOUR);
      assert.equal(rows.filter((r) => r.state === 'dropped').length, 16 - MAILS_PER_ADDRESS_PER_HOUR);
      // The address is compared by its key, and the hour is a sliding one.
      assert.equal(await first.db.transaction().execute((trx) => enqueueLimitedMail(trx, { kind: 'email_verification', recipient: 'Flooded@example.com' })), false);
      assert.equal(await first.db.transaction().execute((trx) => enqueueLimitedMail(trx, { kind: 'email_verification', recipient: address }, Date.now() + 3600_001)), true);
      await first.db.deleteFrom('mail_outbox').where('recipient_key', '=', address).execute();
    });

    test('the per-address count waits for another transaction adding mail to the same address, so the fifth and sixth mails cannot both pass', async () => {
      const address = 'interleaved@example.com';
      for (let i = 0; i < MAILS_PER_ADDRESS_PER_HOUR - 1; i++) {
        await first.db.transaction().execute((trx) => enqueueLimitedMail(trx, { kind: 'email_verification', recipient: address }));
      }
      let enqueued!: () => void;
      let commit!: () => void;
      const fifthEnqueued = new Promise<void>((resolve) => (enqueued = resolve));
      const mayCommit = new Promise<void>((resolve) => (commit = resolve));
      // The fifth mail's transaction stays open after its count and insert…
      const fifth = first.db.transaction().execute(async (trx) => {
        const queued = await enqueueLimitedMail(trx, { kind: 'email_verification', recipient: address });
        enqueued();
        await mayCommit;
        return queued;
      });
      await fifthEnqueued;
      // …while another instance adds a sixth. It must wait: were it counted now, it would see four.
      const sixth = second.db.transaction().execute((trx) => enqueueLimitedMail(trx, { kind: 'email_verification', recipient: address }));
      try {
        if (target.name === 'postgres') await sixthWaits();
      } finally {
        commit();
      }
      assert.deepEqual([await fifth, await sixth], [true, false]);
      await first.db.deleteFrom('mail_outbox').where('recipient_key', '=', address).execute();

      async function sixthWaits() {
        let finished = false;
        const done = sixth.then(() => { finished = true; return 'finished'; });
        const waiting = async () => {
          while (!finished) {
            const row = await first.db.selectNoFrom(sql<number>`(select count(*) from pg_locks where locktype = 'advisory' and not granted)`.as('n')).executeTakeFirstOrThrow();
            if (Number(row.n) > 0) return 'waiting';
            await new Promise((resolve) => setImmediate(resolve));
          }
          return 'finished';
        };
        assert.equal(await Promise.race([done, waiting()]), 'waiting', 'the sixth waits for the fifth');
      }
    });

    test('a lease shuts out a second sender until it lapses; then the first one\'s writes are refused', async () => {
      const now = Date.now();
      await first.db.transaction().execute((trx) => enqueueLimitedMail(trx, { kind: 'email_verification', recipient: 'leased@example.com' }, now));
      const { id } = await first.db.selectFrom('mail_outbox').select('id').where('recipient_key', '=', 'leased@example.com').executeTakeFirstOrThrow();
      const [a, b] = await Promise.all([claimMail(first.db, id, LEASE_MS, now), claimMail(second.db, id, LEASE_MS, now)]);
      assert.equal([a, b].filter((lease) => lease !== null).length, 1, 'one of two simultaneous claims wins');
      const held = (a ?? b)!;
      assert.equal(await claimMail(second.db, id, LEASE_MS, now + LEASE_MS - 1), null, 'not while the lease is live');
      const later = await claimMail(second.db, id, LEASE_MS, now + LEASE_MS + 1);
      assert.ok(later, 'taken over once it lapsed');
      assert.equal(await finishMail(first.db, held, 'sent'), false, 'the first holder can no longer finish it');
      assert.equal(await retryMail(first.db, held, now, 'x'), false);
      assert.equal(await finishMail(second.db, later, 'sent'), true);
      assert.equal(await claimMail(first.db, id, LEASE_MS, now + 10 * LEASE_MS), null, 'a sent mail is never claimed again');
    });

    test('sent and given-up rows go a day after they were done; pending ones stay', async () => {
      const now = Date.now();
      const pending = await outboxDepth(first.db);
      await first.db.transaction().execute((trx) => enqueueLimitedMail(trx, { kind: 'email_verification', recipient: 'prune@example.com' }, now));
      assert.equal(await outboxDepth(first.db), pending + 1);
      assert.equal(await pruneOutbox(first.db, now + 2 * GIVE_UP_AFTER_MS) >= 1, true, 'earlier tests left done rows');
      assert.equal(await outboxDepth(first.db), pending + 1);
      assert.equal(await first.db.selectFrom('mail_outbox').select('id').where('state', '!=', 'pending').executeTakeFirst(), undefined);
    });
  });
}
