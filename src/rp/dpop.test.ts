import assert from 'node:assert/strict';
import { test } from 'node:test';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import { publicJwkOf } from './client-auth.ts';
import { dpopAlgorithm, dpopProof, newDpopKey } from './dpop.ts';

test('the proof algorithm is ours the provider lists, ES256 first; none of ours, or no list, is none', () => {
  const meta = (algs?: string[]) => ({ issuer: 'https://as.example', ...(algs ? { dpop_signing_alg_values_supported: algs } : {}) });
  assert.equal(dpopAlgorithm(meta(['RS256', 'ES256', 'EdDSA'])), 'ES256');
  assert.equal(dpopAlgorithm(meta(['PS256', 'RS256'])), 'PS256');
  assert.equal(dpopAlgorithm(meta(['ES512'])), undefined);
  assert.equal(dpopAlgorithm(meta()), undefined);
});

test('our proofs pass oauth4webapi\'s resource-server check (another implementation of RFC 9449), for an RFC 9068 token bound to the key', async () => {
  // An authorization server of the test's own, whose RFC 9068 access token is bound to our key.
  const as = await generateKeyPair('ES256');
  const asJwk = { ...(await exportJWK(as.publicKey)), kid: 'as-1', alg: 'ES256' };
  const key = await newDpopKey('ES256');
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ client_id: 'c', scope: 'read', cnf: { jkt: await calculateJwkThumbprint(publicJwkOf(key)) } })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'as-1' })
    .setIssuer('https://as.example').setAudience('https://rs.example').setSubject('alice').setJti('t-1').setIssuedAt(now).setExpirationTime(now + 300)
    .sign(as.privateKey);
  const url = 'https://rs.example/reports?year=2025';
  const request = new Request(url, { headers: { authorization: `DPoP ${token}`, dpop: await dpopProof(key, { method: 'GET', url, accessToken: token }) } });
  const claims = await oauth.validateJwtAccessToken({ issuer: 'https://as.example', jwks_uri: 'https://as.example/keys' }, request, 'https://rs.example', {
    [oauth.customFetch]: async () => Response.json({ keys: [asJwk] }),
  });
  assert.equal(claims.sub, 'alice');

  // The same proof for another method fails there too: the check is real.
  const other = new Request(url, { method: 'DELETE', headers: { authorization: `DPoP ${token}`, dpop: await dpopProof(key, { method: 'GET', url, accessToken: token }) } });
  await assert.rejects(oauth.validateJwtAccessToken({ issuer: 'https://as.example', jwks_uri: 'https://as.example/keys' }, other, 'https://rs.example', {
    [oauth.customFetch]: async () => Response.json({ keys: [asJwk] }),
  }), /htm mismatch/);
});
