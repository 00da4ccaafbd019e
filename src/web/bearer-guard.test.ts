import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BearerAuthenticator } from '../rp/bearer/index.ts';
import { bearerGuard } from './bearer-guard.ts';
import { requiredRoles } from './session/guards.ts';

test('requireBearer refuses invalid scope names when the route is declared', () => {
  const authenticator = {} as BearerAuthenticator; // never reached: the names are checked first
  assert.throws(() => bearerGuard(authenticator, { scopes: ['has space'] }), TypeError);
  assert.throws(() => bearerGuard(authenticator, { scopes: ['quo"te'] }), TypeError);
});

test('requireBearer refuses acr values that could not go into a challenge, when the route is declared', () => {
  const authenticator = {} as BearerAuthenticator;
  assert.throws(() => bearerGuard(authenticator, { acr: 'two words' }), TypeError);
  assert.throws(() => bearerGuard(authenticator, { acr: ['urn:okta:loa:2fa:any', 'quo"te'] }), TypeError);
  assert.doesNotThrow(() => bearerGuard(authenticator, { acr: ['urn:okta:loa:2fa:any', 'http://schemas.openid.net/pape/policies/2007/06/multi-factor'] }));
});

test('requireBearer and requireLogin refuse role lists that name no role when the route is declared', () => {
  const authenticator = {} as BearerAuthenticator;
  assert.throws(() => bearerGuard(authenticator, { roles: [''] }), /requireBearer: "" is not a role name/);
  assert.throws(() => bearerGuard(authenticator, { roles: [7 as unknown as string] }), /requireBearer: 7 is not a role name/);
  assert.throws(() => bearerGuard(authenticator, { roles: 'support' as unknown as string[] }), /requireBearer: roles must be an array of role names/);
  assert.throws(() => requiredRoles({ roles: 'support' as unknown as string[] }), /requireLogin: roles must be an array of role names/);
  assert.throws(() => requiredRoles({ roles: [''] }), TypeError);
  assert.deepEqual(requiredRoles({ roles: ['support', 'staff'] }), ['support', 'staff']);
});
