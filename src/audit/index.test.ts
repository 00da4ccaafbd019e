import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { migrate, openDatabase, type DatabaseHandle } from '../db/index.ts';
import { auditUsername, pruneAuditLog, recordEvent } from './index.ts';
import { DAY_MS, failuresByCode, signInsPerDay } from './stats.ts';

let handle: DatabaseHandle;
before(async () => {
  handle = openDatabase({ kind: 'sqlite', file: ':memory:', display: 'memory' });
  await migrate(handle);
});
after(() => handle.close());

test('a typed username is kept only when it could be a username', () => {
  assert.equal(auditUsername('alice'), 'alice');
  assert.equal(auditUsername('alice@example.com'), 'alice@example.com');
  assert.equal(auditUsername('correct horse battery'), '', 'spaces: maybe a password');
  assert.equal(auditUsername('Tr0ub4dor&3'), '');
  assert.equal(auditUsername('x'.repeat(151)), '');
});

test('recordEvent stores the fields, capped and without control characters', async () => {
  const db = handle.db;
  await recordEvent(db, {
    type: 'login_failure', method: 'local', errorCode: 'INVALID_CREDENTIALS', username: 'bob', userId: 7,
    ip: '203.0.113.9', userAgent: `evil\r\nforged line${'x'.repeat(600)}`, detail: 'd', time: 1234,
  });
  const row = await db.selectFrom('audit_log').selectAll().where('time', '=', 1234).executeTakeFirstOrThrow();
  assert.equal(row.type, 'login_failure');
  assert.equal(row.error_code, 'INVALID_CREDENTIALS');
  assert.equal(row.username, 'bob');
  assert.equal(row.user_id, 7);
  assert.equal(row.actor_id, null);
  assert.equal(row.user_agent.length, 512);
  assert.ok(row.user_agent.startsWith('evil  forged line'));
});

test('pruning deletes what is older than the retention, and 0 keeps everything', async () => {
  const db = handle.db;
  const now = Date.UTC(2026, 2, 15, 12);
  await recordEvent(db, { type: 'logout', time: now - 91 * DAY_MS });
  await recordEvent(db, { type: 'logout', time: now - 89 * DAY_MS });
  assert.equal(await pruneAuditLog(db, 0, now), 0);
  const pruned = await pruneAuditLog(db, 90, now);
  assert.ok(pruned >= 2, 'the 91-day-old event and the ones from 1970 above');
  const left = await db.selectFrom('audit_log').select('time').execute();
  assert.deepEqual(left.map((r) => r.time), [now - 89 * DAY_MS]);
});

test('dashboard aggregates: per UTC day and method, and failures by code', async () => {
  const db = handle.db;
  await db.deleteFrom('audit_log').execute();
  const now = Date.UTC(2026, 2, 15, 12);
  const at = (daysAgo: number, hour = 1) => Date.UTC(2026, 2, 15 - daysAgo, hour);
  await recordEvent(db, { type: 'login_success', method: 'local', time: at(0) });
  await recordEvent(db, { type: 'login_success', method: 'local', time: at(0, 23) });
  await recordEvent(db, { type: 'login_success', method: 'okta', time: at(1) });
  await recordEvent(db, { type: 'login_failure', method: 'okta', errorCode: 'STATE_INVALID', time: at(1) });
  await recordEvent(db, { type: 'login_failure', method: 'local', errorCode: 'INVALID_CREDENTIALS', time: at(2) });
  await recordEvent(db, { type: 'login_failure', method: 'local', errorCode: 'INVALID_CREDENTIALS', time: at(29) });
  await recordEvent(db, { type: 'login_failure', method: 'local', errorCode: 'INVALID_CREDENTIALS', time: at(30) }); // outside
  await recordEvent(db, { type: 'logout', method: 'local', time: at(0) }); // not a sign-in

  const today = Math.floor(now / DAY_MS);
  const rows = (await signInsPerDay(db, 30, now)).sort((a, b) => a.day - b.day || a.type.localeCompare(b.type));
  assert.deepEqual(rows, [
    { day: today - 29, type: 'login_failure', method: 'local', count: 1 },
    { day: today - 2, type: 'login_failure', method: 'local', count: 1 },
    { day: today - 1, type: 'login_failure', method: 'okta', count: 1 },
    { day: today - 1, type: 'login_success', method: 'okta', count: 1 },
    { day: today, type: 'login_success', method: 'local', count: 2 },
  ]);
  assert.deepEqual(await failuresByCode(db, (today - 29) * DAY_MS), [
    { code: 'INVALID_CREDENTIALS', count: 2 },
    { code: 'STATE_INVALID', count: 1 },
  ]);
});
