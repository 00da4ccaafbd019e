import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { changeFeedOf, type Change } from '../db/change-feed.ts';
import { migrate, openDatabase, type DatabaseHandle } from '../db/index.ts';
import { createUser, findUserById, updateProfile } from './users.ts';

let dir: string;
let database: DatabaseHandle;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'oidc-connect-users-'));
  database = openDatabase({ kind: 'sqlite', file: join(dir, 'test.sqlite'), display: 'test' });
  await migrate(database);
});
after(async () => {
  await database?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a provider login that changes nothing in the profile writes nothing and announces nothing', async () => {
  const heard: Change[] = [];
  const unsubscribe = changeFeedOf(database.db)!.subscribe({ change: (change) => heard.push(change), live: () => {} });
  try {
    const user = await createUser(database.db, { username: 'uma', email: 'uma@example.com' });
    await updateProfile(database.db, user, { first_name: 'Uma', email: 'uma@example.com', emailVerified: true });
    heard.length = 0;
    const current = (await findUserById(database.db, user.id))!;
    const same = await updateProfile(database.db, current, { first_name: 'Uma', email: 'uma@example.com', emailVerified: true });
    assert.equal(same, current);
    assert.deepEqual(heard, []);
    const renamed = await updateProfile(database.db, current, { first_name: 'Umma', email: 'uma@example.com', emailVerified: true });
    assert.equal(renamed.first_name, 'Umma');
    assert.equal((await findUserById(database.db, user.id))!.first_name, 'Umma');
    assert.deepEqual(heard, [{ kind: 'user', id: user.id }]);
  } finally {
    await unsubscribe();
  }
});
