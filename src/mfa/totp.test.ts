import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generate } from 'otplib';
import { base32Decode, hotp, timeStep, totpCode } from '../../test/support/totp.ts';
import { isTotpCode, newTotpSecret, totpStep, totpUri } from './totp.ts';

/** RFC 6238 Appendix B, SHA-1 rows: the seed is the ASCII "12345678901234567890", codes have 8 digits. */
const SEED = Buffer.from('12345678901234567890', 'ascii');
const SEED_BASE32 = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
const VECTORS: [seconds: number, code: string][] = [
  [59, '94287082'], [1111111109, '07081804'], [1111111111, '14050471'], [1234567890, '89005924'], [2000000000, '69279037'], [20000000000, '65353130'],
];

test('RFC 6238 Appendix B: otplib, the generator the app uses, makes the SHA-1 test vectors', async () => {
  for (const [seconds, code] of VECTORS) {
    assert.equal(await generate({ secret: SEED_BASE32, epoch: seconds, digits: 8 }), code, `T = ${seconds}`);
  }
});

test('RFC 6238 Appendix B: the tests\' own generator (node:crypto HMAC per RFC 4226) makes them too, from the base32 secret', () => {
  assert.deepEqual(base32Decode(SEED_BASE32), SEED);
  for (const [seconds, code] of VECTORS) assert.equal(hotp(SEED, Math.floor(seconds / 30), 8), code, `T = ${seconds}`);
});

test('a code is accepted for its own step and one step either side of the clock, not two; and only after `afterStep`', async () => {
  const secret = newTotpSecret();
  const now = (timeStep(Date.now()) * 30 + 15) * 1000; // the middle of a step
  const step = timeStep(now);
  assert.equal(await totpStep(secret, totpCode(secret, step), { now }), step);
  assert.equal(await totpStep(secret, totpCode(secret, step - 1), { now }), step - 1);
  assert.equal(await totpStep(secret, totpCode(secret, step + 1), { now }), step + 1);
  assert.equal(await totpStep(secret, totpCode(secret, step - 2), { now }), null);
  assert.equal(await totpStep(secret, totpCode(secret, step + 2), { now }), null);
  assert.equal(await totpStep(secret, totpCode(secret, step), { now, afterStep: step }), null, 'its step was used');
  assert.equal(await totpStep(secret, totpCode(secret, step + 1), { now, afterStep: step }), step + 1, 'a later step is not');
  assert.equal(await totpStep(secret, `${totpCode(secret, step).slice(0, 3)} ${totpCode(secret, step).slice(3)}`, { now }), step, 'as an app shows it, "123 456"');
});

test('a new secret is 160 random bits in base32, and its URI names the site and the account', () => {
  const secret = newTotpSecret();
  assert.match(secret, /^[A-Z2-7]{32}$/);
  assert.equal(base32Decode(secret).length, 20);
  assert.notEqual(newTotpSecret(), secret);
  const uri = new URL(totpUri(secret, { issuer: 'oidc-connect', label: 'alice' }));
  assert.equal(uri.protocol, 'otpauth:');
  assert.equal(uri.searchParams.get('secret'), secret);
  assert.equal(uri.searchParams.get('issuer'), 'oidc-connect');
  assert.match(decodeURIComponent(uri.pathname), /alice/);
});

test('only six digits (spaces allowed) look like a code', () => {
  for (const code of ['123456', '123 456', ' 123456 ']) assert.equal(isTotpCode(code), true, code);
  for (const code of ['12345', '1234567', 'abcdef', '', '12345a']) assert.equal(isTotpCode(code), false, code);
});
