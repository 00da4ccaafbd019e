import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createUser } from '../accounts/users.ts';
import { migrate, openDatabase, type DatabaseHandle } from '../db/index.ts';
import { createSession, loadSession, sessionIdFor } from './index.ts';
import { parseTokens, serializeTokens } from './tokens.ts';

const policy = { maxAgeSeconds: 3600, idleTimeoutSeconds: 3600 };
let dir: string;
let database: DatabaseHandle;
let userId: number;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'oidc-connect-tokens-'));
  database = openDatabase({ kind: 'sqlite', file: join(dir, 'test.sqlite'), display: 'test' });
  await migrate(database);
  userId = (await createUser(database.db, { username: 'tess', email: 'tess@example.com' })).id;
});
after(async () => {
  await database?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a session\'s provider tokens are parsed when first read, not when the session is loaded', async () => {
  const secret = await createSession(database.db, policy, { userId });
  await database.db.updateTable('sessions').set({ data: '{not json' }).where('id', '=', sessionIdFor(secret)).execute();
  const session = await loadSession(database.db, policy, secret);
  assert.equal(session?.user.username, 'tess', 'a request that never reads them is served');
  assert.throws(() => session!.tokens, SyntaxError);
});

test('they are parsed once, and a refresh can replace them', async () => {
  const secret = await createSession(database.db, policy, { userId, provider: 'default', tokens: { sealed: 's1', expiresAt: 1 } });
  const session = (await loadSession(database.db, policy, secret))!;
  assert.equal(session.tokens, session.tokens);
  assert.deepEqual(session.tokens, { sealed: 's1', expiresAt: 1 });
  session.tokens = { sealed: 's2' };
  assert.equal(session.tokens.sealed, 's2');
});

test('a row from before sealing is read as it was: its tokens as legacy, refreshable when it kept a refresh token', async () => {
  const old = { idToken: 'i.d.t', accessToken: 'a.c.t', refreshToken: 'r1', expiresAt: 5, scope: 'openid' };
  const secret = await createSession(database.db, policy, { userId, provider: 'default' });
  await database.db.updateTable('sessions').set({ data: JSON.stringify(old) }).where('id', '=', sessionIdFor(secret)).execute();
  const tokens = (await loadSession(database.db, policy, secret))!.tokens;
  assert.deepEqual(tokens, { expiresAt: 5, scope: 'openid', refreshable: true, legacy: { idToken: 'i.d.t', accessToken: 'a.c.t', refreshToken: 'r1' } });
  assert.deepEqual(parseTokens(JSON.stringify({ accessToken: 'x' })).refreshable, false);
  assert.equal(serializeTokens(tokens), '{"expiresAt":5,"scope":"openid","refreshable":true}', 'legacy tokens are never written back in the clear');
});
