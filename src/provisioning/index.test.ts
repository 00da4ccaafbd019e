import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkClaims, type ProvisioningPolicy } from './index.ts';

const policy: ProvisioningPolicy = { createUser: true, linkByEmail: true, allowedEmailDomains: ['kelvin.example'], requiredGroups: [] };

test('the email-domain allow-list compares through the one email normalisation', () => {
  assert.doesNotThrow(() => checkClaims(policy, { sub: 's', email: ' Bob@KELVIN.Example ', email_verified: true }), 'ASCII case and outer spaces fold');
  assert.throws(() => checkClaims(policy, { sub: 's', email: 'bob@\u212Aelvin.example', email_verified: true }), { code: 'USER_NOT_ALLOWED' }, 'U+212A is not k');
  assert.throws(() => checkClaims(policy, { sub: 's', email: 'bob@kelvin.example', email_verified: false }), { code: 'USER_NOT_ALLOWED' }, 'unverified');
  assert.throws(() => checkClaims(policy, { sub: 's', email: 'bob@kelvin.example.evil', email_verified: true }), { code: 'USER_NOT_ALLOWED' });
});
