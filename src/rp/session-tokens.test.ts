import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { sealer } from '../sealed.ts';
import { parseTokens, serializeTokens } from '../sessions/tokens.ts';
import { SessionTokens, type ProviderTokens } from './session-tokens.ts';

const SECRET = 'session-tokens-test-secret-0123456789';
const tokens: ProviderTokens = {
  idToken: 'eyJ.id.token', accessToken: 'eyJ.access.token', refreshToken: 'refresh-token-1', tokenType: 'Bearer',
  expiresAt: 1_700_000_000_000, scope: 'openid email',
};

test('sealed for the row: no token in the clear, the times and whether it can be refreshed in the clear', async () => {
  const stored = await new SessionTokens(SECRET).seal(tokens);
  const row = serializeTokens(stored);
  for (const token of [tokens.idToken!, tokens.accessToken!, tokens.refreshToken!]) assert.ok(!row.includes(token), `${token} is not in the row`);
  assert.deepEqual({ ...JSON.parse(row), sealed: undefined }, { expiresAt: tokens.expiresAt, scope: tokens.scope, refreshable: true, sealed: undefined });
  // RFC 7516's compact serialization, direct key agreement, AES-256-GCM: what src/sealed.ts makes, for this purpose only.
  assert.deepEqual(decodeProtectedHeader(stored.sealed!), { alg: 'dir', enc: 'A256GCM' });
  assert.equal(stored.sealed!.split('.').length, 5);
  assert.deepEqual(JSON.parse((await sealer(SECRET, 'session tokens').open(stored.sealed!))!), {
    idToken: tokens.idToken, accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, tokenType: 'Bearer',
  });
});

test('opened from the row by any instance with the same SESSION_SECRET, once per stored value', async () => {
  const row = serializeTokens(await new SessionTokens(SECRET).seal(tokens));
  const elsewhere = new SessionTokens(SECRET);
  const stored = parseTokens(row);
  assert.deepEqual(await elsewhere.open(stored), tokens);
  assert.equal(elsewhere.open(stored), elsewhere.open(stored), 'one decryption per stored value');
});

test('under another SESSION_SECRET, or altered, they do not open', async () => {
  const stored = await new SessionTokens(SECRET).seal(tokens);
  assert.equal(await new SessionTokens('another-secret-0123456789-0123456789').open(parseTokens(serializeTokens(stored))), undefined);
  const [header, key, iv, ciphertext, tag] = stored.sealed!.split('.');
  const flipped = `${ciphertext!.slice(0, -2)}${ciphertext!.at(-2) === 'A' ? 'B' : 'A'}${ciphertext!.at(-1)}`;
  assert.equal(await new SessionTokens(SECRET).open({ ...stored, sealed: [header, key, iv, flipped, tag].join('.') }), undefined);
});

test('a row from before sealing opens to its tokens; a local session\'s row to no tokens', async () => {
  const legacy = parseTokens(JSON.stringify({ idToken: 'i', accessToken: 'a', refreshToken: 'r', expiresAt: 7 }));
  assert.deepEqual(await new SessionTokens(SECRET).open(legacy), { idToken: 'i', accessToken: 'a', refreshToken: 'r', expiresAt: 7 });
  assert.deepEqual(await new SessionTokens(SECRET).open(parseTokens('{}')), {});
});
