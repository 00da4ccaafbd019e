import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { decodeProtectedHeader, importJWK, jwtVerify, type JWK } from 'jose';
import type * as client from 'openid-client';
import type { ClientKey, ProviderConfig } from '../config/index.ts';
import { ClientCredentials, kidOf, publicJwkOf, signingAlgorithm } from './client-auth.ts';

const rsa: ClientKey = { file: 'rsa.pem', jwk: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }) };
const ec: ClientKey = { file: 'ec.pem', jwk: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }) };

test('an RSA key signs RS256 unless the provider allows PS256 and not RS256; EC signs ES256; a JWK\'s own alg wins', () => {
  assert.equal(signingAlgorithm(rsa, undefined), 'RS256');
  assert.equal(signingAlgorithm(rsa, ['RS256', 'PS256']), 'RS256');
  assert.equal(signingAlgorithm(rsa, ['PS256', 'ES256']), 'PS256');
  assert.equal(signingAlgorithm(rsa, ['ES256']), 'RS256', 'no RSA algorithm listed: RS256, for check to report');
  assert.equal(signingAlgorithm(ec, ['RS256']), 'ES256');
  assert.equal(signingAlgorithm({ ...rsa, alg: 'PS256' }, ['RS256', 'PS256']), 'PS256');
});

test('a key without a kid of its own gets its RFC 7638 thumbprint (the RFC\'s example, section 3.1); a JWK\'s own kid is kept', async () => {
  const n = '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw';
  assert.equal(await kidOf({ file: 'rfc7638', jwk: { kty: 'RSA', n, e: 'AQAB' } }), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  assert.equal(await kidOf({ ...rsa, kid: 'mine' }), 'mine');
  assert.deepEqual(Object.keys(publicJwkOf(rsa.jwk)).sort(), ['e', 'kty', 'n'], 'the public half has no private member');
});

test('private_key_jwt: the assertion is signed PS256 with the first key where the provider allows only PS256, and verifies with its public half', async () => {
  const config = { id: 'p', name: 'P', issuer: 'https://id.example', clientId: 'client-1', privateKeys: [rsa, ec] } as unknown as ProviderConfig;
  const metadata = { issuer: 'https://id.example', token_endpoint: 'https://id.example/token', token_endpoint_auth_signing_alg_values_supported: ['PS256'] } as client.ServerMetadata;
  const auth = await new ClientCredentials(config).clientAuth('private_key_jwt', metadata);
  const body = new URLSearchParams();
  await auth(metadata, { client_id: 'client-1' }, body, new Headers());
  const assertion = body.get('client_assertion')!;
  assert.deepEqual(decodeProtectedHeader(assertion), { alg: 'PS256', kid: await kidOf(rsa) });
  const { payload } = await jwtVerify(assertion, await importJWK(publicJwkOf(rsa.jwk) as JWK, 'PS256'), { issuer: 'client-1', subject: 'client-1', audience: 'https://id.example' });
  assert.equal(typeof payload.jti, 'string');
});
