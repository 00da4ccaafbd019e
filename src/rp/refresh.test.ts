import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createUser } from '../accounts/users.ts';
import { migrate, openDatabase, type DatabaseHandle } from '../db/index.ts';
import { OidcConnectError } from '../errors.ts';
import { createSession, loadSession, type ActiveSession } from '../sessions/index.ts';
import { serializeTokens } from '../sessions/tokens.ts';
import type { ProviderClient } from './provider.ts';
import { refreshSession } from './refresh.ts';
import { SessionTokens, type ProviderTokens } from './session-tokens.ts';

const policy = { maxAgeSeconds: 3600, idleTimeoutSeconds: 3600 };
/** OIDC_HTTP_TIMEOUT_SECONDS at its highest. */
const HTTP_TIMEOUT_MS = 120_000;
const tokens = new SessionTokens('refresh-test-secret-0123456789-abcdef');
const options = { httpTimeoutMs: HTTP_TIMEOUT_MS, tokens };

let handle: DatabaseHandle;
let userId: number;
before(async () => {
  handle = openDatabase({ kind: 'sqlite', file: ':memory:', display: '' });
  await migrate(handle);
  userId = (await createUser(handle.db, { username: 'rita', email: 'rita@example.com' })).id;
});
after(() => handle.close());

async function sessionDueForRefresh(): Promise<ActiveSession> {
  const due: ProviderTokens = { idToken: 'id-0', accessToken: 'access-0', refreshToken: 'refresh-0', expiresAt: Date.now() - 1000 };
  const secret = await createSession(handle.db, policy, { userId, provider: 'default', tokens: await tokens.seal(due) });
  return (await loadSession(handle.db, policy, secret))!;
}

const lockOf = async (session: ActiveSession) =>
  (await handle.db.selectFrom('sessions').select(['refresh_lock', 'data']).where('id', '=', session.id).executeTakeFirstOrThrow());

/** A provider whose refresh runs `during` (as if it took that long) before answering. */
function provider(during: () => Promise<void>): ProviderClient {
  return {
    config: { id: 'default', name: 'Okta' },
    async refresh() {
      await during();
      return { idToken: 'id-1', accessToken: 'access-1', refreshToken: 'refresh-1', expiresAt: Date.now() + 3600_000 };
    },
  } as unknown as ProviderClient;
}

test('the refresh lease outlasts the slowest provider call, so no other instance takes it meanwhile', async () => {
  const session = await sessionDueForRefresh();
  const start = Date.now();
  let lease = 0;
  const outcome = await refreshSession(handle.db, provider(async () => {
    lease = (await lockOf(session)).refresh_lock! - start;
  }), session, options);
  assert.equal(outcome.outcome, 'refreshed');
  assert.ok(lease > HTTP_TIMEOUT_MS, `the lease (${lease} ms) must be longer than one provider call may take (${HTTP_TIMEOUT_MS} ms)`);
  assert.equal((await lockOf(session)).refresh_lock, null, 'released after the write');
});

test('refreshed tokens are written only while the lease is still ours', async () => {
  const session = await sessionDueForRefresh();
  const theirs: ProviderTokens = { idToken: 'id-b', accessToken: 'access-b', refreshToken: 'refresh-b', expiresAt: Date.now() + 3600_000 };
  const outcome = await refreshSession(handle.db, provider(async () => {
    // Our call outlived the lease: another instance took it over, refreshed, and stored its tokens.
    await handle.db.updateTable('sessions').set({ refresh_lock: Date.now() + 60_000 }).where('id', '=', session.id).execute();
    await handle.db.updateTable('sessions').set({ data: serializeTokens(await tokens.seal(theirs)), refresh_lock: null }).where('id', '=', session.id).execute();
  }), session, options);
  const stored = await tokens.open(JSON.parse((await lockOf(session)).data));
  assert.equal(stored?.refreshToken, 'refresh-b', 'the other instance\'s tokens are kept, not overwritten with ours');
  assert.equal((await tokens.open(session.tokens))?.refreshToken, 'refresh-b', 'this request goes on with the stored tokens');
  assert.equal(outcome.outcome, 'refreshed');
});

test('a refusal that comes after another instance took the lease over does not end the session', async () => {
  const session = await sessionDueForRefresh();
  const theirs: ProviderTokens = { idToken: 'id-c', accessToken: 'access-c', refreshToken: 'refresh-c', expiresAt: Date.now() + 3600_000 };
  const refused = provider(async () => {
    // The other instance used the refresh token first and rotated it, so the provider refuses ours.
    await handle.db.updateTable('sessions').set({ data: serializeTokens(await tokens.seal(theirs)), refresh_lock: null }).where('id', '=', session.id).execute();
    throw new OidcConnectError('PROVIDER_ERROR', 'invalid_grant');
  });
  assert.equal((await refreshSession(handle.db, refused, session, options)).outcome, 'refreshed');
  assert.equal((await tokens.open(session.tokens))?.refreshToken, 'refresh-c');
  assert.ok(await handle.db.selectFrom('sessions').select('id').where('id', '=', session.id).executeTakeFirst(), 'the session lives on');
});
