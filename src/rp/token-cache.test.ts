import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TokenCache, tokenCacheKey } from './token-cache.ts';

describe('TokenCache', () => {
  test('keys are a SHA-256 of the token, never the token', () => {
    const key = tokenCacheKey('secret-token');
    assert.equal(key, 'kwu9xRtq7VwqVnj9bije56BeiktkPPwLRCfD77hsDZQ');
    assert.ok(!key.includes('secret'));
    assert.equal(tokenCacheKey('x'.repeat(8000)).length, 43);
  });

  test('a positive entry lives until the token expires, or the max TTL, whichever is first', () => {
    const cache = new TokenCache<string>({ maxTtlMs: 60_000 });
    const now = 1_000_000;
    cache.setPositive('short', 'a', now + 5_000, now);
    cache.setPositive('long', 'b', now + 3_600_000, now);
    cache.setPositive('unknown-exp', 'c', undefined, now);
    assert.equal(cache.get('short', now + 4_999), 'a');
    assert.equal(cache.get('short', now + 5_000), undefined, 'gone at the token exp');
    assert.equal(cache.get('long', now + 59_999), 'b');
    assert.equal(cache.get('long', now + 60_000), undefined, 'gone at the max TTL although the token lives on');
    assert.equal(cache.get('unknown-exp', now + 60_000), undefined);
  });

  test('an already expired token is not stored', () => {
    const cache = new TokenCache<string>();
    cache.setPositive('k', 'v', 999, 1_000);
    assert.equal(cache.size, 0);
    assert.equal(cache.get('k', 1_000), undefined);
  });

  test('negative entries are short-lived', () => {
    const cache = new TokenCache<string>({ negativeTtlMs: 10_000 });
    cache.setNegative('bad', 'refused', 0);
    assert.equal(cache.get('bad', 9_999), 'refused');
    assert.equal(cache.get('bad', 10_000), undefined);
    assert.equal(cache.size, 0, 'an expired entry is dropped when read');
  });

  test('bounded: the least recently used entry goes first', () => {
    const cache = new TokenCache<number>({ maxEntries: 3 });
    for (const [i, key] of ['a', 'b', 'c'].entries()) cache.setPositive(key, i, undefined, 0);
    assert.equal(cache.get('a', 1), 0, 'a is now the most recently used');
    cache.setPositive('d', 3, undefined, 2);
    assert.equal(cache.size, 3);
    assert.equal(cache.get('b', 3), undefined, 'b was the least recently used');
    assert.equal(cache.get('a', 3), 0);
    assert.equal(cache.get('c', 3), 2);
    assert.equal(cache.get('d', 3), 3);
  });

  test('stays bounded under a flood of distinct tokens', () => {
    const cache = new TokenCache<boolean>({ maxEntries: 100 });
    for (let i = 0; i < 10_000; i++) cache.setNegative(tokenCacheKey(`garbage-${i}`), false, 0);
    assert.equal(cache.size, 100);
    assert.equal(cache.get(tokenCacheKey('garbage-9999'), 1), false);
    assert.equal(cache.get(tokenCacheKey('garbage-0'), 1), undefined);
  });

  test('overwriting a key replaces its value and lifetime', () => {
    const cache = new TokenCache<string>({ maxTtlMs: 60_000, negativeTtlMs: 1_000 });
    cache.setPositive('k', 'ok', undefined, 0);
    cache.setNegative('k', 'refused', 0);
    assert.equal(cache.get('k', 999), 'refused');
    assert.equal(cache.get('k', 1_000), undefined);
    cache.setPositive('k', 'ok', undefined, 0);
    cache.delete('k');
    assert.equal(cache.get('k', 0), undefined);
  });

  test('defaults: 10,000 entries, 60 s, 10 s for refusals', () => {
    const cache = new TokenCache();
    assert.equal(cache.maxEntries, 10_000);
    assert.equal(cache.maxTtlMs, 60_000);
    assert.equal(cache.negativeTtlMs, 10_000);
  });
});
