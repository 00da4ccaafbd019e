import assert from 'node:assert/strict';
import { test } from 'node:test';
import { estimatedEntropyBits, MIN_SECRET_BITS } from './secret-strength.ts';

/**
 * The bits of a secret of `length` characters drawn uniformly from `alphabet` symbols, counted without
 * logarithms: the largest n with 2^n <= alphabet^length (the number of such secrets).
 */
function bitsOfUniform(alphabet: number, length: number): number {
  const secrets = BigInt(alphabet) ** BigInt(length);
  let bits = 0;
  while (2n ** BigInt(bits + 1) <= secrets) bits++;
  return bits;
}

test('repeats and small alphabets count for little', () => {
  assert.equal(estimatedEntropyBits(''), 0);
  assert.equal(estimatedEntropyBits('x'.repeat(64)), 0);
  assert.equal(estimatedEntropyBits('ab'.repeat(32)), 2, 'period 2 of 2 symbols: 4 possibilities, 2 bits');
  // Ten distinct digits repeated: what counts is one period, 10 digits, and 10^10 such strings exist;
  // 2^33 = 8,589,934,592 <= 10^10 < 2^34 = 17,179,869,184, so 33 bits.
  assert.equal(bitsOfUniform(10, 10), 33);
  assert.equal(estimatedEntropyBits('0123456789'.repeat(4)), 33);
  assert.equal(estimatedEntropyBits('abcab'), 6, 'period 3 (abc), 3 symbols counted as 4: 4^3 = 64 possibilities, 6 bits');
});

test('generated secrets pass at the bits they were drawn with: hex 4 a character, base64 6', () => {
  // `openssl rand -hex 16`: 16 random bytes, 128 bits.
  assert.equal(estimatedEntropyBits('c4f1e0a9b8d7c6e5f4a3b2c1d0e9f8a7'), 16 * 8);
  // `openssl rand -base64 48`: 48 random bytes, 384 bits, in 64 characters of the 64-symbol alphabet.
  assert.equal(estimatedEntropyBits('Tuv3XTWq6+Hq0UGQ5CXDqF0tSYtrss3q/39BBtERO7iYLI7Fg5wKgfUazbkjVnxS'), 48 * 8);
  // A 64-character base64 secret with neither + nor / draws on 62 symbols: 62^64 possibilities.
  assert.equal(estimatedEntropyBits('v1Hc0vJ3T4g0YfD3cQm3rEo0p6nqk9k0o8xw6m5uJ1c2Z9sV7a4bXy3Lw2Kq8RtU'), bitsOfUniform(62, 64));
  assert.equal(bitsOfUniform(62, 64), 381);
  assert.ok(estimatedEntropyBits('password'.repeat(5)) < MIN_SECRET_BITS);
});
