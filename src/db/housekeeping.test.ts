import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Db } from './index.ts';
import { SWEEP_INTERVAL_MS, sweepDue } from './housekeeping.ts';

test('each task is due once per interval and per database', () => {
  const a = {} as Db;
  const b = {} as Db;
  assert.equal(sweepDue(a, 'sessions', 1_000), true);
  assert.equal(sweepDue(a, 'sessions', 2_000), false);
  assert.equal(sweepDue(a, 'oidc_flows', 2_000), true, 'tasks are independent');
  assert.equal(sweepDue(b, 'sessions', 2_000), true, 'databases are independent');
  assert.equal(sweepDue(a, 'sessions', 1_000 + SWEEP_INTERVAL_MS), true);
});
