import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { appendChange, changeLogReader, KEEP_MS, pruneChangeLog } from './change-log.ts';
import { migrate, openDatabase, type DatabaseHandle } from './index.ts';
import { openSqlite } from './sqlite-dialect.ts';

const T = Date.UTC(2026, 0, 1);
let dir: string;
let handle: DatabaseHandle;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'oidc-connect-change-log-'));
  handle = openDatabase({ kind: 'sqlite', file: join(dir, 'log.sqlite'), display: 'test' });
  await migrate(handle);
});
after(async () => {
  await handle.close();
  rmSync(dir, { recursive: true, force: true });
});

test('pruning deletes the rows older than an hour but keeps the newest, however old; ids go on after it', async () => {
  const db = handle.db;
  await appendChange(db, 's:a', T - 3 * KEEP_MS);
  await appendChange(db, 's:b', T - 2 * KEEP_MS);
  await appendChange(db, 's:c', T - 2 * KEEP_MS);
  assert.equal(await pruneChangeLog(db, T), 2);
  const file = openSqlite(join(dir, 'log.sqlite'));
  const reader = changeLogReader(file);
  assert.deepEqual(reader.after(0), [{ id: 3, changes: 's:c' }]);
  assert.equal(reader.last(), 3);
  // Even with every row gone, a new one never takes an id a reader may already have seen.
  await db.deleteFrom('change_log').execute();
  await appendChange(db, 's:d', T);
  assert.deepEqual(reader.after(3), [{ id: 4, changes: 's:d' }]);
  file.close();
});
