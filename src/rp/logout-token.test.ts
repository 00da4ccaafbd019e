import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, createRemoteJWKSet, errors, exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { migrate, openDatabase, type DatabaseHandle } from '../db/index.ts';
import {
  BACKCHANNEL_LOGOUT_EVENT, consumeLogoutToken, pruneLogoutTokens, verifyLogoutToken,
  type LogoutTokenIssuer, type LogoutTokenOptions,
} from './logout-token.ts';

const ISSUER = 'https://op.example.test/oauth2/default';
const CLIENT_ID = 'app-client';
const NOW = Date.UTC(2030, 0, 1, 12, 0, 0);
const NOW_S = NOW / 1000;

let signingKey: CryptoKey;
let otherKey: CryptoKey;
let issuers: LogoutTokenIssuer[];
let options: LogoutTokenOptions;

before(async () => {
  const pair = await generateKeyPair('RS256');
  signingKey = pair.privateKey;
  otherKey = (await generateKeyPair('RS256')).privateKey;
  const publicJwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const keys = createLocalJWKSet({ keys: [publicJwk] });
  issuers = [
    { id: 'okta', issuer: ISSUER, clientId: CLIENT_ID, resolve: async () => ({ issuer: ISSUER, keys, algorithms: ['RS256'] }) },
    { id: 'other', issuer: 'https://other.example.test', clientId: CLIENT_ID, resolve: async () => ({ issuer: 'https://other.example.test', keys }) },
  ];
  options = { issuers, clockToleranceSeconds: 30, now: NOW };
});

function claims(overrides: Record<string, unknown> = {}): JWTPayload {
  const base: Record<string, unknown> = {
    iss: ISSUER, aud: CLIENT_ID, iat: NOW_S - 5, exp: NOW_S + 115, jti: `jti-${Math.random()}`,
    sub: 'user-1', sid: 'sid-1', events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
  };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete base[key];
    else base[key] = value;
  }
  return base as JWTPayload;
}

function sign(payload: JWTPayload, header: Record<string, unknown> = {}, key: CryptoKey = signingKey): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'logout+jwt', ...header }).sign(key);
}

async function refused(token: unknown, message: RegExp, opts: LogoutTokenOptions = options): Promise<void> {
  await assert.rejects(verifyLogoutToken(token, opts), (error: Error & { code?: string; status?: number }) => {
    assert.equal(error.code, 'BAD_REQUEST');
    assert.equal(error.status, 400);
    assert.match(error.message, message);
    return true;
  });
}

describe('verifyLogoutToken', () => {
  test('a valid logout token yields its provider, sid, sub, jti and replay window', async () => {
    const payload = claims();
    const token = await verifyLogoutToken(await sign(payload), options);
    assert.deepEqual(token, {
      provider: 'okta', issuer: ISSUER, jti: payload.jti, sid: 'sid-1', sub: 'user-1', replayUntil: (NOW_S + 115 + 31) * 1000,
    });
  });

  test('typ logout+jwt, application/logout+jwt, JWT and no typ are accepted; other types are not', async () => {
    for (const typ of ['logout+jwt', 'application/logout+jwt', 'JWT', undefined]) {
      const token = await sign(claims(), { typ });
      assert.equal((await verifyLogoutToken(token, options)).provider, 'okta', String(typ));
    }
    await refused(await sign(claims(), { typ: 'at+jwt' }), /typ/);
  });

  test('aud may be an array that contains our client id', async () => {
    const token = await verifyLogoutToken(await sign(claims({ aud: ['someone-else', CLIENT_ID] })), options);
    assert.equal(token.provider, 'okta');
  });

  test('only sid, or only sub, is enough', async () => {
    assert.equal((await verifyLogoutToken(await sign(claims({ sub: undefined })), options)).sid, 'sid-1');
    const bySub = await verifyLogoutToken(await sign(claims({ sid: undefined })), options);
    assert.equal(bySub.sub, 'user-1');
    assert.equal(bySub.sid, undefined);
  });

  test('without exp, a token is accepted for a few minutes after iat', async () => {
    const token = await verifyLogoutToken(await sign(claims({ exp: undefined, iat: NOW_S - 200 })), options);
    assert.equal(token.replayUntil, (NOW_S - 200 + 300 + 31) * 1000);
    await refused(await sign(claims({ exp: undefined, iat: NOW_S - 400 })), /too old/);
  });

  test('the provider is picked by iss and aud among several', async () => {
    const token = await verifyLogoutToken(await sign(claims({ iss: 'https://other.example.test' })), options);
    assert.equal(token.provider, 'other');
  });

  test('a missing, empty, oversized or non-JWT logout_token is refused', async () => {
    await refused(undefined, /missing/);
    await refused('', /missing/);
    await refused(['a', 'b'], /missing/);
    await refused('x'.repeat(20_000), /too large/);
    await refused('not-a-jwt', /not a signed JWT/);
    await refused('a.b.c.d.e', /not a signed JWT/);
  });

  test('a bad signature is refused', async () => {
    await refused(await sign(claims(), {}, otherKey), /signature/);
    const token = await sign(claims());
    const [h, p, s] = token.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims(), sub: 'admin' })).toString('base64url')}.${s}`;
    assert.notEqual(tampered, `${h}.${p}.${s}`);
    await refused(tampered, /signature/);
  });

  test('alg none and MAC algorithms are refused', async () => {
    await refused(new UnsecuredJWT(claims()).encode(), /"none" algorithm/);
    const hs = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(new TextEncoder().encode('x'.repeat(32)));
    await refused(hs, /"HS256" algorithm/);
  });

  test('an algorithm outside the provider\'s allow-list is refused', async () => {
    const { privateKey } = await generateKeyPair('PS256');
    await refused(await sign(claims(), { alg: 'PS256' }, privateKey), /not allowed/);
  });

  test('an unknown kid is refused', async () => {
    await refused(await sign(claims(), { kid: 'nope' }), /no single key/);
  });

  test('a wrong or missing iss is refused', async () => {
    await refused(await sign(claims({ iss: 'https://evil.example.test' })), /issuer is not a configured provider/);
    await refused(await sign(claims({ iss: undefined })), /iss claim is missing/);
  });

  test('an iss that matches the configuration loosely but not discovery exactly is refused', async () => {
    await refused(await sign(claims({ iss: `${ISSUER}/` })), /iss claim/);
  });

  test('a wrong or missing aud is refused', async () => {
    await refused(await sign(claims({ aud: 'another-client' })), /audience/);
    await refused(await sign(claims({ aud: undefined })), /audience/);
  });

  test('missing or invalid events are refused', async () => {
    await refused(await sign(claims({ events: undefined })), /events claim is missing/);
    await refused(await sign(claims({ events: 'logout' })), /events claim is missing/);
    await refused(await sign(claims({ events: [BACKCHANNEL_LOGOUT_EVENT] })), /events claim is missing/);
    await refused(await sign(claims({ events: {} })), /no http:\/\/schemas/);
    await refused(await sign(claims({ events: { [BACKCHANNEL_LOGOUT_EVENT]: true } })), /no http:\/\/schemas/);
    await refused(await sign(claims({ events: { [BACKCHANNEL_LOGOUT_EVENT]: null } })), /no http:\/\/schemas/);
  });

  test('a nonce is refused (an ID token is not a logout token)', async () => {
    await refused(await sign(claims({ nonce: 'n-0S6_WzA2Mj' })), /nonce/);
  });

  test('a token with neither sid nor sub is refused, and so are non-string ones', async () => {
    await refused(await sign(claims({ sid: undefined, sub: undefined })), /neither a session \(sid\) nor a subject/);
    await refused(await sign(claims({ sid: 42 })), /sid claim must be a non-empty string/);
    await refused(await sign(claims({ sid: '', sub: undefined })), /sid claim must be a non-empty string/);
  });

  test('a missing or non-numeric iat is refused', async () => {
    await refused(await sign(claims({ iat: undefined })), /iat/);
    await refused(await sign(claims({ iat: 'yesterday' })), /iat/);
  });

  test('an iat in the future beyond the clock tolerance is refused', async () => {
    await refused(await sign(claims({ iat: NOW_S + 60, exp: NOW_S + 180 })), /future/);
    assert.equal((await verifyLogoutToken(await sign(claims({ iat: NOW_S + 20 })), options)).provider, 'okta');
  });

  test('an expired token is refused', async () => {
    await refused(await sign(claims({ iat: NOW_S - 200, exp: NOW_S - 60 })), /expired/);
  });

  test('a missing jti is refused', async () => {
    await refused(await sign(claims({ jti: undefined })), /jti/);
    await refused(await sign(claims({ jti: 7 })), /jti/);
  });

  test('a provider whose keys cannot be fetched is reported as unreachable, not as a bad token', async () => {
    const unreachable: LogoutTokenIssuer = {
      id: 'down', issuer: ISSUER, clientId: CLIENT_ID,
      resolve: async () => ({ issuer: ISSUER, keys: createRemoteJWKSet(new URL('http://127.0.0.1:9/keys'), { timeoutDuration: 2000 }) }),
    };
    await assert.rejects(
      verifyLogoutToken(await sign(claims()), { ...options, issuers: [unreachable] }),
      { code: 'PROVIDER_UNREACHABLE' },
    );
  });

  test('a provider whose keys time out or are unusable is reported as such, not as a bad token', async () => {
    const failing = (thrown: unknown): LogoutTokenIssuer => ({
      id: 'failing', issuer: ISSUER, clientId: CLIENT_ID,
      resolve: async () => ({ issuer: ISSUER, keys: async () => { throw thrown; } }),
    });
    const cases: Array<[thrown: unknown, code: string]> = [
      [new DOMException('The operation timed out.', 'TimeoutError'), 'PROVIDER_TIMEOUT'],
      [new errors.JWKSInvalid(), 'PROVIDER_BAD_RESPONSE'],
      [new errors.JOSEError('JWKS request answered HTTP 500'), 'PROVIDER_BAD_RESPONSE'],
    ];
    const token = await sign(claims());
    for (const [thrown, code] of cases) {
      await assert.rejects(verifyLogoutToken(token, { ...options, issuers: [failing(thrown)] }), { code }, String(thrown));
    }
  });
});

describe('consumeLogoutToken', () => {
  let handle: DatabaseHandle;
  let aliceId: number;
  let bobId: number;

  before(async () => {
    handle = openDatabase({ kind: 'sqlite', file: ':memory:', display: ':memory:' });
    await migrate(handle);
    const user = (username: string) => ({
      username, email: `${username}@example.com`, first_name: '', last_name: '', password: null,
      is_active: 1 as const, is_staff: 0 as const, is_superuser: 0 as const, last_login: null, date_joined: NOW,
    });
    aliceId = Number((await handle.db.insertInto('users').values(user('alice')).executeTakeFirstOrThrow()).insertId);
    bobId = Number((await handle.db.insertInto('users').values(user('bob')).executeTakeFirstOrThrow()).insertId);
    await handle.db.insertInto('identities').values([
      { issuer: ISSUER, subject: 'alice-sub', user_id: aliceId, created: NOW, last_login: NOW },
      { issuer: ISSUER, subject: 'bob-sub', user_id: bobId, created: NOW, last_login: NOW },
    ]).execute();
  });
  after(() => handle.close());

  async function sessions(...rows: Array<[id: string, user: number, provider: string | null, sid: string | null]>): Promise<void> {
    await handle.db.deleteFrom('sessions').execute();
    await handle.db.insertInto('sessions').values(rows.map(([id, user, provider, sid]) => ({
      id, user_id: user, created: NOW, expires: NOW + 1e9, last_seen: NOW, provider, provider_sid: sid, user_agent: '', ip: '',
    }))).execute();
  }
  const remaining = async () => (await handle.db.selectFrom('sessions').select('id').orderBy('id').execute()).map((r) => r.id);
  const token = (over: { jti?: string; sid?: string; sub?: string; provider?: string } = {}) => ({
    provider: 'okta', issuer: ISSUER, jti: `jti-${Math.random()}`, replayUntil: NOW + 150_000, ...over,
  });

  test('with sid, only the sessions of that provider session end', async () => {
    await sessions(['a1', aliceId, 'okta', 'sid-a'], ['a2', aliceId, 'okta', 'sid-a2'], ['a3', aliceId, 'other', 'sid-a'], ['b1', bobId, 'okta', 'sid-b']);
    assert.equal(await consumeLogoutToken(handle.db, token({ sid: 'sid-a', sub: 'alice-sub' })), 1);
    assert.deepEqual(await remaining(), ['a2', 'a3', 'b1']);
  });

  test('with sub only, every session of that user from that provider ends', async () => {
    await sessions(['a1', aliceId, 'okta', 'sid-a'], ['a2', aliceId, 'okta', null], ['a3', aliceId, null, null], ['a4', aliceId, 'other', 'x'], ['b1', bobId, 'okta', 'sid-b']);
    assert.equal(await consumeLogoutToken(handle.db, token({ sub: 'alice-sub' })), 2);
    assert.deepEqual(await remaining(), ['a3', 'a4', 'b1']);
  });

  test('an unknown sid or sub ends nothing and is still accepted', async () => {
    await sessions(['b1', bobId, 'okta', 'sid-b']);
    assert.equal(await consumeLogoutToken(handle.db, token({ sid: 'gone' })), 0);
    assert.equal(await consumeLogoutToken(handle.db, token({ sub: 'nobody' })), 0);
    assert.deepEqual(await remaining(), ['b1']);
  });

  test('a replayed jti is refused and ends nothing', async () => {
    await sessions(['b1', bobId, 'okta', 'sid-b']);
    assert.equal(await consumeLogoutToken(handle.db, token({ jti: 'once', sid: 'unrelated' })), 0);
    await assert.rejects(consumeLogoutToken(handle.db, token({ jti: 'once', sid: 'sid-b' })), { code: 'BAD_REQUEST', message: /already used \(jti\)/ });
    assert.deepEqual(await remaining(), ['b1']);
    // The same jti from another issuer is another token.
    assert.equal(await consumeLogoutToken(handle.db, { ...token({ jti: 'once', sid: 'x' }), issuer: 'https://other.example.test' }), 0);
  });

  test('expired replay-cache rows are pruned, live ones are kept', async () => {
    await handle.db.deleteFrom('logout_tokens').execute();
    await consumeLogoutToken(handle.db, { ...token({ sid: 'x' }), replayUntil: NOW - 1 });
    await consumeLogoutToken(handle.db, { ...token({ sid: 'x' }), replayUntil: NOW + 1000 });
    assert.equal(await pruneLogoutTokens(handle.db, NOW), 1);
    assert.equal((await handle.db.selectFrom('logout_tokens').selectAll().execute()).length, 1);
  });
});
