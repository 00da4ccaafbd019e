import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashPassword, verifyPassword } from './passwords.ts';

test('a hash is scrypt at N = 2^PASSWORD_HASH_COST (2^17, OWASP\'s, unless set), r=8, p=1, and verifies its own password and no other', async () => {
  const hash = await hashPassword('correct horse');
  const n = 2 ** Number(process.env['PASSWORD_HASH_COST'] ?? 17);
  assert.match(hash, new RegExp(`^scrypt\\$${n}\\$8\\$1\\$[\\w-]{22}\\$[\\w-]{43}$`));
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
