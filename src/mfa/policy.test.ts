import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isMultiFactor, PAPE_MULTI_FACTOR, stepUpAcrValues } from './policy.ts';

test('an amr naming a second factor is multi-factor: mfa, otp, hwk, swk, sms, fpt, as an array or a session row\'s text', () => {
  for (const method of ['mfa', 'otp', 'hwk', 'swk', 'sms', 'fpt']) {
    assert.equal(isMultiFactor({ amr: ['pwd', method] }, []), true, method);
    assert.equal(isMultiFactor({ amr: `pwd ${method}` }, []), true, `"pwd ${method}"`);
  }
  for (const amr of [['pwd'], ['pwd', 'kba'], [], 'pwd', '', undefined, [1, null], 'pwdmfa']) {
    assert.equal(isMultiFactor({ amr }, []), false, JSON.stringify(amr));
  }
});

test('an acr counts only when OIDC_MFA_ACR_VALUES lists it', () => {
  assert.equal(isMultiFactor({ amr: ['pwd'], acr: 'urn:okta:loa:2fa:any' }, ['urn:okta:loa:2fa:any']), true);
  assert.equal(isMultiFactor({ amr: ['pwd'], acr: 'urn:okta:loa:2fa:any' }, []), false);
  assert.equal(isMultiFactor({ amr: ['pwd'], acr: 'urn:okta:loa:1fa:pwd' }, ['urn:okta:loa:2fa:any']), false);
  assert.equal(isMultiFactor({ acr: null }, ['urn:okta:loa:2fa:any']), false);
});

test('a step-up asks for OIDC_MFA_ACR_VALUES, else the OpenID PAPE multi-factor policy', () => {
  assert.deepEqual(stepUpAcrValues(['urn:okta:loa:2fa:any']), ['urn:okta:loa:2fa:any']);
  assert.deepEqual(stepUpAcrValues([]), [PAPE_MULTI_FACTOR]);
  assert.equal(PAPE_MULTI_FACTOR, 'http://schemas.openid.net/pape/policies/2007/06/multi-factor');
});
