import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { migrate, openDatabase, type DatabaseHandle, type Db } from '../db/index.ts';
import { startHousekeeping, sweep, type HousekeepingOptions } from './housekeeping.ts';

const HOUR = 3600_000;
const NOW = Date.UTC(2026, 2, 15, 12);
const lockout = { maxFailures: 10, windowSeconds: 900 };
const quiet = { info() {}, warn() {} };

let handle: DatabaseHandle;
before(async () => {
  handle = openDatabase({ kind: 'sqlite', file: ':memory:', display: 'memory' });
  await migrate(handle);
});
after(() => handle.close());

/** One expired and one live row in every table that is swept. */
async function seed(db: Db, now: number): Promise<void> {
  const user = await db.insertInto('users').values({
    username: `u${now}`, email: '', first_name: '', last_name: '', password: null, is_active: 1, is_staff: 0,
    is_superuser: 0, last_login: null, date_joined: now,
  }).returning('id').executeTakeFirstOrThrow();
  const session = (id: string, expires: number) => ({
    id, user_id: user.id, created: expires - HOUR, expires, last_seen: expires - HOUR, provider: null, provider_sid: null, user_agent: '', ip: '',
  });
  await db.insertInto('sessions').values([session(`old${now}`, now - 1), session(`live${now}`, now + HOUR)]).execute();
  await db.insertInto('session_tokens').values([
    { session_id: `live${now}`, audience_key: 'old', sealed: 's', expires: now - 1 }, { session_id: `live${now}`, audience_key: 'live', sealed: 's', expires: now + HOUR },
  ]).execute();
  const flow = (id: string, expires: number) => ({
    id, provider: 'okta', binding: 'b', code_verifier: 'v', nonce: 'n', next: '/', prompt_none: 0 as const, expires,
  });
  await db.insertInto('oidc_flows').values([flow(`old${now}`, now - 1), flow(`live${now}`, now + HOUR)]).execute();
  await db.insertInto('logout_tokens').values([
    { id: `old${now}`, provider: 'okta', expires: now - 1 }, { id: `live${now}`, provider: 'okta', expires: now + HOUR },
  ]).execute();
  await db.insertInto('dpop_proofs').values([{ id: `old${now}`, expires: now - 1 }, { id: `live${now}`, expires: now + HOUR }]).execute();
  await db.insertInto('audit_log').values([
    { time: now - 91 * 24 * HOUR, type: 'logout', error_code: null, user_id: null, actor_id: null },
    { time: now - HOUR, type: 'logout', error_code: null, user_id: null, actor_id: null },
  ]).execute();
  await db.insertInto('login_failures').values([
    { username: `old${now}`, failures: 3, window_start: now - 16 * 60_000 },
    { username: `live${now}`, failures: 3, window_start: now - 60_000 },
  ]).execute();
  await db.insertInto('change_log').values([
    { time: now - 2 * HOUR, changes: 's:old' }, { time: now - 2 * HOUR, changes: 's:older' }, { time: now - HOUR / 2, changes: 's:live' },
  ]).execute();
  const mail = (recipient: string, done: number | null) => ({
    kind: 'password_reset', recipient, recipient_key: recipient, message_id: recipient, created: now - 25 * HOUR, next_attempt: now - 25 * HOUR,
    state: done === null ? 'pending' as const : 'sent' as const, done,
  });
  await db.insertInto('mail_outbox').values([
    mail(`old${now}`, now - 24 * HOUR - 1), mail(`live${now}`, now - 23 * HOUR), mail(`waiting${now}`, null),
  ]).execute();
}

async function left(db: Db) {
  const ids = async (table: 'sessions' | 'oidc_flows' | 'logout_tokens' | 'dpop_proofs') =>
    (await db.selectFrom(table).select('id').execute()).map((r) => r.id).sort();
  return {
    sessions: await ids('sessions'),
    session_tokens: (await db.selectFrom('session_tokens').select('audience_key').execute()).map((r) => r.audience_key),
    oidc_flows: await ids('oidc_flows'),
    logout_tokens: await ids('logout_tokens'),
    dpop_proofs: await ids('dpop_proofs'),
    audit_log: (await db.selectFrom('audit_log').select('time').execute()).length,
    login_failures: (await db.selectFrom('login_failures').select('username').execute()).map((r) => r.username),
    change_log: (await db.selectFrom('change_log').select('changes').execute()).map((r) => r.changes).sort(),
    mail_outbox: (await db.selectFrom('mail_outbox').select('recipient').execute()).map((r) => r.recipient).sort(),
  };
}

test('one sweep deletes expired rows from every owner, and only those', async () => {
  const db = handle.db;
  await seed(db, NOW);
  const options: HousekeepingOptions = { db, lockout, auditRetentionDays: 90, log: quiet };
  assert.deepEqual(await sweep(options, NOW), {
    sessions: 1, session_tokens: 1, oidc_flows: 1, logout_tokens: 1, dpop_proofs: 1, audit_log: 1, login_failures: 1, change_log: 2, mail_outbox: 1,
  });
  assert.deepEqual(await left(db), {
    sessions: [`live${NOW}`], session_tokens: ['live'], oidc_flows: [`live${NOW}`], logout_tokens: [`live${NOW}`], dpop_proofs: [`live${NOW}`], audit_log: 1, login_failures: [`live${NOW}`],
    // The expired session's deletion logged itself (e: every session expired by then) before the log was pruned.
    change_log: [`e:${NOW}`, 's:live'],
    mail_outbox: [`live${NOW}`, `waiting${NOW}`],
  });
  assert.equal((await sweep({ ...options, auditRetentionDays: 0 }, NOW + 100 * 24 * HOUR)).audit_log, undefined, 'retention 0 keeps the audit log');
  assert.equal((await left(db)).audit_log, 1);
});

test('a failing sweep is logged, never thrown', async () => {
  const broken = openDatabase({ kind: 'sqlite', file: ':memory:', display: 'memory' }); // not migrated: no tables
  const warnings: string[] = [];
  const log = { info() {}, warn: (fields: { table: string }) => { warnings.push(fields.table); } };
  assert.deepEqual(await sweep({ db: broken.db, lockout, auditRetentionDays: 90, log }), {});
  assert.deepEqual(warnings, [
    'sessions', 'session_tokens', 'oidc_flows', 'logout_tokens', 'dpop_proofs', 'audit_log', 'login_failures', 'change_log', 'mail_outbox', 'mfa_pending', 'mfa_used_challenges',
  ]);
  await broken.close();
});

test('the schedule sweeps at start and at every interval, until stopped', async (t) => {
  const db = handle.db;
  await db.deleteFrom('sessions').execute();
  const expired = async (id: string) => {
    const user = await db.selectFrom('users').select('id').executeTakeFirstOrThrow();
    const now = Date.now();
    await db.insertInto('sessions').values({
      id, user_id: user.id, created: now - HOUR, expires: now - 1, last_seen: now - HOUR, provider: null, provider_sid: null, user_agent: '', ip: '',
    }).execute();
  };
  const present = async (id: string) => (await db.selectFrom('sessions').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
  // A sweep that removes rows says so in the log: the test waits for that line, not for a time.
  const swept: Record<string, number>[] = [];
  let onSwept: (() => void) | undefined;
  const log = { info: (fields: { pruned: Record<string, number> }) => { swept.push(fields.pruned); onSwept?.(); }, warn() {} };
  const nextSweep = () => new Promise<void>((resolve) => (onSwept = resolve));
  // The interval is mocked, so "one interval later" is a tick; the first sweep is the real setTimeout(0).
  t.mock.timers.enable({ apis: ['setInterval'] });

  await expired('before-start');
  let sweptOnce = nextSweep();
  const housekeeping = startHousekeeping({ db, lockout, auditRetentionDays: 90, log }, 50);
  try {
    await sweptOnce;
    assert.equal(await present('before-start'), false, 'swept at start');
    await expired('later');
    sweptOnce = nextSweep();
    t.mock.timers.tick(50);
    await sweptOnce;
    assert.equal(await present('later'), false, 'swept again one interval later');
  } finally {
    await housekeeping.stop();
  }
  await expired('after-stop');
  t.mock.timers.tick(10 * 50);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(await present('after-stop'), true, 'no sweep after stop()');
  assert.deepEqual(swept.map((pruned) => pruned['sessions']), [1, 1], 'two sweeps, each removing its session');
});
