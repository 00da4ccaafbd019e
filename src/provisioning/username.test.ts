import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baseUsername, usernameCandidates } from './username.ts';

test('claims: preferred_username, else email, else sub, in Django’s alphabet', () => {
  assert.equal(baseUsername('claims', { preferred_username: 'alice@example.com', email: 'x@y', sub: 's' }), 'alice@example.com');
  assert.equal(baseUsername('claims', { email: 'bob@example.com', sub: 's' }), 'bob@example.com');
  assert.equal(baseUsername('claims', { sub: '00u123' }), '00u123');
  assert.equal(baseUsername('claims', { preferred_username: 'Jane Doe <j>', sub: 's' }), 'Jane_Doe__j_');
});

test('sha224 is the unpadded base64url of SHA-224 of the email, as the tutorial', () => {
  // python: base64.urlsafe_b64encode(hashlib.sha224(b'alice@example.com').digest()).rstrip(b'=')
  const name = baseUsername('sha224', { email: 'alice@example.com', sub: 's' });
  assert.match(name, /^[\w-]{38}$/);
  assert.equal(name, 'D7qn-SpH_jxSAel_BjmDxwJDLpDde_DHIzhlQw');
});

test('mozilla-django-oidc is its default_username_algo: unpadded base64url of SHA-1 of the email as given', () => {
  // python: base64.urlsafe_b64encode(hashlib.sha1(b'alice@example.com').digest()).decode().rstrip('=')
  assert.equal(baseUsername('mozilla-django-oidc', { email: 'alice@example.com', sub: 's' }), '_COYpz3VTWI3xP21j9fXU0fPWvM');
  // python: the same with 'Zoë@Example.com'.encode() (UTF-8, no case folding)
  assert.equal(baseUsername('mozilla-django-oidc', { email: 'Zoë@Example.com', sub: 's' }), 'JMfbkf_ZrX-MwOE2vLASe4SMOt8');
});

test('candidates add a counter', () => {
  const it = usernameCandidates('alice');
  assert.deepEqual([it.next().value, it.next().value, it.next().value], ['alice', 'alice-2', 'alice-3']);
});
