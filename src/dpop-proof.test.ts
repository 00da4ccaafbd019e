import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type JWK } from 'jose';
import { verifyDpopProof, type DpopProofCheck } from './dpop-proof.ts';

const url = 'https://api.example/reports';
const token = 'an-access-token';
const ath = createHash('sha256').update(token).digest('base64url');
const check: DpopProofCheck = { method: 'GET', url, accessTokenHash: ath, algorithms: ['ES256', 'RS256'], maxAgeSeconds: 60, clockToleranceSeconds: 5 };

const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
const jwk = await exportJWK(publicKey);

function sign(claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ jti: randomBytes(8).toString('hex'), htm: 'GET', htu: url, ath, ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk, ...header }).setIssuedAt().sign(privateKey);
}

test('a good proof gives its key\'s thumbprint, its jti and its nonce; htu is compared without query and fragment', async () => {
  const proof = await verifyDpopProof(await sign({ htu: `${url}?ignored=1#x`, nonce: 'n-1' }), { ...check, url: `${url}?year=2025` });
  assert.equal(typeof proof, 'object');
  assert.match((proof as { jkt: string }).jkt, /^[A-Za-z0-9_-]{43}$/);
  assert.equal((proof as { nonce: unknown }).nonce, 'n-1');
});

test('refused: another type, a private key or none in the header, alg none or HS256, no jti, two proofs in one header, an algorithm not taken', async () => {
  const refusals: [string, RegExp][] = [
    [await sign({}, { typ: 'JWT' }), /invalid typ/],
    [await sign({}, { jwk: await exportJWK(privateKey) }), /invalid/],
    [await sign({}, { jwk: undefined }), /invalid/],
    [new UnsecuredJWT({ jti: 'x', htm: 'GET', htu: url, iat: Math.floor(Date.now() / 1000) }).encode(), /not one compact JWS|algorithm|invalid/],
    [await new SignJWT({ jti: 'x', htm: 'GET', htu: url }).setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: 'c2VjcmV0' } as JWK }).setIssuedAt().sign(new TextEncoder().encode('secret')), /algorithm|invalid/],
    [await sign({ jti: undefined }), /missing or invalid jti claim/],
    [`${await sign({})}, ${await sign({})}`, /not one compact JWS/],
  ];
  for (const [proof, reason] of refusals) assert.match(String(await verifyDpopProof(proof, check)), reason);
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ps256 = await new SignJWT({ jti: 'x', htm: 'GET', htu: url, ath }).setProtectedHeader({ alg: 'PS256', typ: 'dpop+jwt', jwk: rsa.publicKey.export({ format: 'jwk' }) as JWK }).setIssuedAt().sign(rsa.privateKey);
  assert.match(String(await verifyDpopProof(ps256, check)), /algorithm not accepted here/);
  assert.match(String(await verifyDpopProof(undefined, check)), /carries no DPoP proof/);
});
