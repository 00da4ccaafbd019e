import assert from 'node:assert/strict';
import { test } from 'node:test';
import { estimatedEntropyBits, MIN_SECRET_BITS } from './secret-strength.ts';

test('repeats and small alphabets count for little', () => {
  assert.equal(estimatedEntropyBits(''), 0);
  assert.equal(estimatedEntropyBits('x'.repeat(64)), 0);
  assert.equal(estimatedEntropyBits('ab'.repeat(32)), 2, 'period 2, 1 bit each');
  assert.equal(estimatedEntropyBits('0123456789'.repeat(4)), Math.floor(10 * Math.log2(10)), 'digits: period 10, alphabet 10');
  assert.equal(estimatedEntropyBits('abcab'), 3 * 2, 'a partial repeat counts its period');
});

test('generated secrets pass: hex counts 4 bits a character, base64 6', () => {
  const hex32 = 'c4f1e0a9b8d7c6e5f4a3b2c1d0e9f8a7'; // openssl rand -hex 16
  assert.equal(estimatedEntropyBits(hex32), 128);
  assert.ok(estimatedEntropyBits('v1Hc0vJ3T4g0YfD3cQm3rEo0p6nqk9k0o8xw6m5uJ1c2Z9sV7a4bXy3Lw2Kq8RtU') > 5.9 * 64);
  assert.ok(estimatedEntropyBits('password'.repeat(5)) < MIN_SECRET_BITS);
});
