import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as client from 'openid-client';
import { loadConfig } from '../config/index.ts';
import { ConfigError } from '../errors.ts';
import { createRelyingParty, pkceChallenge } from './index.ts';

test('the S256 code challenge is RFC 7636\'s, as openid-client computes it', async () => {
  // RFC 7636, Appendix B.
  assert.equal(pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'), 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  for (let i = 0; i < 20; i++) {
    const verifier = client.randomPKCECodeVerifier();
    assert.equal(pkceChallenge(verifier), await client.calculatePKCECodeChallenge(verifier));
  }
});

test('a relying party needs SESSION_SECRET, which seals the tokens sessions keep: without it, one line saying so', () => {
  const config = loadConfig({ cwd: '/nonexistent', env: { DATABASE_URL: 'sqlite::memory:', DEV_IDP_PORT: '1' } });
  assert.throws(() => createRelyingParty(config, {} as never), (error: unknown) => error instanceof ConfigError
    && error.problems.length === 1 && /^SESSION_SECRET: the relying party seals the provider tokens/.test(error.problems[0]!));
});
