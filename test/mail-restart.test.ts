/**
 * Mail that outlives an SMTP server that is down and a restart, with real app processes
 * (`oidc-connect serve`) and a real SMTP server (test/support/smtp.ts): reset requests are answered
 * while the server is down; the app is stopped; the server comes up on the same port; the app starts
 * again (on PostgreSQL, as two instances sharing the database), and each mail arrives exactly once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hashPassword } from '../src/accounts/passwords.ts';
import { loadConfig } from '../src/config/index.ts';
import { openDatabase, type DatabaseHandle } from '../src/db/index.ts';
import { freePort } from './support/app.ts';
import { HttpClient, hiddenField } from './support/http-client.ts';
import { startInstance, type Instance } from './support/instances.ts';
import { databaseTargets, type TestDatabase } from './support/postgres.ts';
import { smtpSkip, startSmtpServer, type SmtpServer } from './support/smtp.ts';

const PEOPLE = ['ada', 'bea', 'cy'];

for (const target of databaseTargets) {
  const instances = target.name === 'postgres' ? 2 : 1;
  describe(`mail across an SMTP outage and a restart, ${instances} instance${instances === 1 ? '' : 's'} on ${target.name}`, { skip: target.skip ?? smtpSkip }, () => {
    let database: TestDatabase;
    let dir: string;
    let handle: DatabaseHandle;
    let smtp: SmtpServer | undefined;
    const running: Instance[] = [];

    before(async () => {
      database = await target.create();
      dir = mkdtempSync(join(tmpdir(), 'oidc-connect-mail-restart-'));
    });
    after(async () => {
      for (const instance of running) await instance.stop();
      await smtp?.stop();
      await handle?.close();
      rmSync(dir, { recursive: true, force: true });
      await database.drop();
    });

    test('reset requests answered while the SMTP server is down are each delivered once after it comes back, across a restart', async () => {
      const smtpPort = await freePort(); // nothing listens there yet
      const ports = [await freePort(), await freePort()];
      const idpPorts = [await freePort(), await freePort()];
      const env = (i: number) => ({
        APP_URL: `http://127.0.0.1:${ports[0]}`,
        DATABASE_URL: database.url,
        SESSION_SECRET: 'shared-secret-of-both-instances-0123456789',
        EMAIL_URL: `smtp://127.0.0.1:${smtpPort}`,
        DEV_IDP_PORT: String(idpPorts[i]), // each instance's own development provider, unused here, on a port found free
        LOG_LEVEL: 'warn',
      });
      const start = async (i: number) => {
        const instance = await startInstance(`app${i}`, ports[i]!, env(i), dir);
        running.push(instance);
        return instance;
      };
      const first = await start(0);
      handle = openDatabase(loadConfig({ cwd: dir, env: { DATABASE_URL: database.url, SESSION_SECRET: 'x'.repeat(32), DEV_IDP_PORT: '1' } }).database);
      const hash = await hashPassword('an old password');
      await handle.db.insertInto('users').values(PEOPLE.map((name) => ({
        username: name, email: `${name}@example.com`, email_key: `${name}@example.com`, email_verified: 1 as const, first_name: '', last_name: '',
        password: hash, is_active: 1 as const, is_staff: 0 as const, is_superuser: 0 as const, last_login: null, date_joined: Date.now(),
      }))).execute();

      // The server is down: every request still gets its answer.
      for (const name of PEOPLE) {
        const client = new HttpClient();
        const form = await client.get(`${first.url}/accounts/password_reset/`);
        const answer = await client.post(`${first.url}/accounts/password_reset/`, { _csrf: hiddenField(form.body, '_csrf'), email: `${name}@example.com` });
        assert.equal(`${answer.status} ${answer.location}`, `302 ${first.url}/accounts/password_reset/done/`);
      }
      // The instance tried each mail once and was refused (a claim counts the attempt; the refusal is written once it comes back).
      const tried = async () => handle.db.selectFrom('mail_outbox').select(['state', 'attempts', 'last_error']).where('kind', '=', 'password_reset').execute();
      for (let rows = await tried(); rows.length < PEOPLE.length || rows.some((r) => r.attempts === 0 || r.last_error === ''); rows = await tried()) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      for (const row of await tried()) {
        assert.equal(row.state, 'pending');
        assert.match(row.last_error, /ECONNREFUSED/);
      }

      await first.stop();
      running.splice(0);
      smtp = await startSmtpServer({ port: smtpPort });
      for (let i = 0; i < instances; i++) await start(i);

      const mails = await smtp.waitFor(PEOPLE.length);
      // Every row sent, then every instance stopped (a send in progress finishes first): nothing more came.
      for (let rows = await tried(); rows.some((r) => r.state !== 'sent'); rows = await tried()) await new Promise((resolve) => setTimeout(resolve, 50));
      for (const instance of running) await instance.stop();
      assert.equal(smtp.received.length, PEOPLE.length, smtp.received.map((m) => m.rcpt_tos.join()).join('\n'));
      assert.deepEqual(mails.map((m) => m.rcpt_tos[0]).sort(), PEOPLE.map((name) => `${name}@example.com`));
      assert.ok(mails.every((m) => /\/accounts\/reset\/[\w-]+\/[\w-]+\//.test(m.text ?? '')));
      const rows = await tried();
      assert.ok(rows.every((r) => r.attempts >= 2), 'each was tried before the restart and sent after it');
    });
  });
}
