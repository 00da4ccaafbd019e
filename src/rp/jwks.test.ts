import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import * as jose from 'jose';
import { JWKS_COOLDOWN_MS, JwksCache } from './jwks.ts';

let keys: jose.JWK[] = [];
let fetches = 0;
const server = createServer((_req, res) => {
  fetches++;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ keys }));
});
let url: string;
before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}/keys`;
});
after(() => server.close());

async function keyPair(kid: string) {
  const { privateKey, publicKey } = await jose.generateKeyPair('ES256', { extractable: true });
  return { privateKey, jwk: { ...(await jose.exportJWK(publicKey)), kid, alg: 'ES256' } };
}
const sign = (key: { privateKey: CryptoKey }, kid: string) =>
  new jose.SignJWT({}).setProtectedHeader({ alg: 'ES256', kid }).setExpirationTime('5m').sign(key.privateKey);

test('a key rotated right after a routine fetch is picked up; made-up kids re-fetch once per cooldown', async () => {
  const [k1, k2] = await Promise.all([keyPair('k1'), keyPair('k2')]);
  keys = [k1.jwk];
  fetches = 0;
  const cache = new JwksCache(url, 2000);
  await jose.jwtVerify(await sign(k1, 'k1'), cache.getKey);
  await jose.jwtVerify(await sign(k1, 'k1'), cache.getKey);
  assert.equal(fetches, 1, 'cached');

  keys = [k1.jwk, k2.jwk];
  await jose.jwtVerify(await sign(k2, 'k2'), cache.getKey);
  assert.equal(fetches, 2, 'the rotation costs one re-fetch, without waiting for a cooldown');

  const results = await Promise.allSettled(Array.from({ length: 20 }, async (_, i) => jose.jwtVerify(await sign(k2, `made-up-${i}`), cache.getKey)));
  assert.ok(results.every((r) => r.status === 'rejected'));
  assert.equal(fetches, 2, 'within the cooldown after that re-fetch: none');

  const later = Date.now() + JWKS_COOLDOWN_MS + 1;
  await cache.refreshForUnknownKid(later);
  assert.equal(fetches, 3, 'after the cooldown, one more');
});

test('current() is empty once the set is too old, so the next use fetches it again', async () => {
  const k1 = await keyPair('k1');
  keys = [k1.jwk];
  const cache = new JwksCache(url, 2000);
  assert.equal(cache.current(), undefined);
  await cache.load();
  assert.ok(cache.current());
  assert.equal(cache.current(Date.now() + 11 * 60_000), undefined);
});
