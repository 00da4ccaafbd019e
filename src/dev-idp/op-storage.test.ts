import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { openSqliteStore } from './op-storage.ts';
import type { SqliteStore } from './op-storage.ts';

let dir: string;
let store: SqliteStore;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dev-idp-adapter-'));
  store = openSqliteStore(join(dir, 'adapter.sqlite'));
});

after(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

test('upsert, find, consume and destroy, per model', async () => {
  const codes = store.adapter('AuthorizationCode');
  await codes.upsert('c1', { jti: 'c1', grantId: 'g1', kind: 'AuthorizationCode' }, 60);
  assert.deepEqual(await codes.find('c1'), { jti: 'c1', grantId: 'g1', kind: 'AuthorizationCode' });
  assert.equal(await store.adapter('AccessToken').find('c1'), undefined, 'models do not share ids');

  await codes.consume('c1');
  assert.equal(typeof (await codes.find('c1'))?.['consumed'], 'number');
  await codes.destroy('c1');
  assert.equal(await codes.find('c1'), undefined);
});

test('expired entries are not found', async () => {
  const sessions = store.adapter('Session');
  await sessions.upsert('s1', { jti: 's1', uid: 'u1' }, -1);
  assert.equal(await sessions.find('s1'), undefined);
  await sessions.upsert('s2', { jti: 's2', uid: 'u2' }, 60);
  assert.equal((await sessions.findByUid('u2'))?.['jti'], 's2');
  assert.equal(await sessions.findByUid('u1'), undefined);
});

test('revokeByGrantId removes that grant\'s tokens only', async () => {
  const refresh = store.adapter('RefreshToken');
  await refresh.upsert('r1', { grantId: 'g1' }, 60);
  await refresh.upsert('r2', { grantId: 'g2' }, 60);
  await refresh.revokeByGrantId('g1');
  assert.equal(await refresh.find('r1'), undefined);
  assert.ok(await refresh.find('r2'));
});

test('a new upsert clears consumed, and data survives reopening', async () => {
  const path = join(dir, 'reopen.sqlite');
  const first = openSqliteStore(path);
  const grants = first.adapter('Grant');
  await grants.upsert('g', { jti: 'g', accountId: 'a' }, 600);
  first.close();
  const second = openSqliteStore(path);
  try {
    assert.deepEqual(await second.adapter('Grant').find('g'), { jti: 'g', accountId: 'a' });
  } finally {
    second.close();
  }
});
