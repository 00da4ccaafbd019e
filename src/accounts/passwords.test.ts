import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashPassword, verifyPassword } from './passwords.ts';

test('a hash verifies its own password and no other', async () => {
  const hash = await hashPassword('correct horse');
  assert.match(hash, /^scrypt\$131072\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
  assert.equal(await verifyPassword('correct horse', hash), true);
  assert.equal(await verifyPassword('correct horsE', hash), false);
});

test('two hashes of one password differ (random salt)', async () => {
  assert.notEqual(await hashPassword('same password'), await hashPassword('same password'));
});

test('malformed stored hashes never verify', async () => {
  for (const stored of ['', 'plain', 'pbkdf2$1$2$3$a$b', 'scrypt$$$$$']) {
    assert.equal(await verifyPassword('x', stored), false);
  }
});
