import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as client from 'openid-client';
import { pkceChallenge } from './index.ts';

test('the S256 code challenge is RFC 7636\'s, as openid-client computes it', async () => {
  // RFC 7636, Appendix B.
  assert.equal(pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'), 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  for (let i = 0; i < 20; i++) {
    const verifier = client.randomPKCECodeVerifier();
    assert.equal(pkceChallenge(verifier), await client.calculatePKCECodeChallenge(verifier));
  }
});
