import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { missingScopes, scopesOf } from './token.ts';

describe('scopes', () => {
  test('from scp (array or string) and scope, without duplicates', () => {
    assert.deepEqual(scopesOf({ scp: ['openid', 'api:read'] }), ['openid', 'api:read']);
    assert.deepEqual(scopesOf({ scp: 'user.read api:read' }), ['user.read', 'api:read']);
    assert.deepEqual(scopesOf({ scope: 'openid  email' }), ['openid', 'email']);
    assert.deepEqual(scopesOf({ scp: ['a', 'b'], scope: 'b c' }), ['a', 'b', 'c']);
  });

  test('anything that is not a scope name is ignored', () => {
    assert.deepEqual(scopesOf({}), []);
    assert.deepEqual(scopesOf({ scp: 42, scope: { a: 1 } }), []);
    assert.deepEqual(scopesOf({ scp: ['ok', 7, null, '', 'has space', 'quo"te', 'back\\slash'] }), ['ok']);
  });

  test('missingScopes', () => {
    assert.deepEqual(missingScopes(['a', 'b'], ['a']), []);
    assert.deepEqual(missingScopes(['a'], ['a', 'b', 'c']), ['b', 'c']);
    assert.deepEqual(missingScopes([], []), []);
  });
});
