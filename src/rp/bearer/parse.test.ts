import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BearerError, parseAuthorization, parseCredentials } from './parse.ts';

describe('parseAuthorization', () => {
  test('no Bearer credentials: null', () => {
    assert.equal(parseAuthorization(undefined), null);
    assert.equal(parseAuthorization(''), null);
    assert.equal(parseAuthorization('Basic YWxpY2U6d29uZGVybGFuZA=='), null);
    assert.equal(parseAuthorization('Bearerish abc'), null);
    assert.equal(parseAuthorization('DPoP abc'), null);
  });

  test('the scheme is case-insensitive; the token is b64token', () => {
    assert.equal(parseAuthorization('Bearer abc.def-ghi_jkl'), 'abc.def-ghi_jkl');
    assert.equal(parseAuthorization('bearer abc'), 'abc');
    assert.equal(parseAuthorization('BEARER   a+b/c~d=='), 'a+b/c~d==');
  });

  test('malformed Bearer credentials: invalid_request', () => {
    for (const header of ['Bearer', 'Bearer ', 'Bearer a b', 'Bearer a"b', 'Bearer a,b', 'Bearer =abc', 'Bearer ab=c', 'Bearer é']) {
      assert.throws(() => parseAuthorization(header), (error: unknown) => {
        assert.ok(error instanceof BearerError, header);
        assert.equal(error.oauthError, 'invalid_request');
        assert.equal(error.status, 400);
        assert.equal(error.code, 'BAD_REQUEST');
        return true;
      });
    }
  });
});

describe('BearerError challenges (RFC 6750 §3)', () => {
  test('no credentials: a bare Bearer challenge', () => {
    const error = new BearerError(undefined, 'Send a token.');
    assert.equal(error.challenge(), 'Bearer');
    assert.equal(error.status, 401);
    assert.equal(error.code, 'LOGIN_REQUIRED');
  });

  test('invalid_token and insufficient_scope', () => {
    const invalid = new BearerError('invalid_token', 'The access token has expired.');
    assert.equal(invalid.challenge(), 'Bearer error="invalid_token", error_description="The access token has expired."');
    assert.equal(invalid.status, 401);
    const scope = new BearerError('insufficient_scope', 'Needs more.', { requiredScopes: ['api:read', 'api:write'] });
    assert.equal(scope.challenge(), 'Bearer error="insufficient_scope", error_description="Needs more.", scope="api:read api:write"');
    assert.equal(scope.status, 403);
    assert.equal(scope.code, 'INSUFFICIENT_SCOPE');
  });

  test('quotes, backslashes and control characters never reach the header', () => {
    const error = new BearerError('invalid_token', 'a "quoted" \\ thing\r\nX-Injected: 1 – ok');
    assert.equal(error.challenge(), 'Bearer error="invalid_token", error_description="a quoted  thingX-Injected: 1  ok"');
  });
});

describe('parseCredentials', () => {
  test('Bearer and DPoP (RFC 9449 §7.1, the same token syntax), case-insensitive; other schemes: null', () => {
    assert.deepEqual(parseCredentials('Bearer abc'), { scheme: 'Bearer', token: 'abc' });
    assert.deepEqual(parseCredentials('dpop a.b.c'), { scheme: 'DPoP', token: 'a.b.c' });
    assert.equal(parseCredentials('Basic YWxpY2U6d29uZGVybGFuZA=='), null);
    assert.equal(parseCredentials(undefined), null);
  });

  test('malformed DPoP credentials: invalid_request with a DPoP challenge', () => {
    assert.throws(() => parseCredentials('DPoP a b'), (error: unknown) => error instanceof BearerError && error.oauthError === 'invalid_request' && /^DPoP error="invalid_request"/.test(error.challenge()));
  });

  test('a DPoP refusal names the algorithms taken (RFC 9449 §7.1)', () => {
    assert.match(new BearerError('invalid_dpop_proof', 'The DPoP proof was used before (jti).').challenge(),
      /^DPoP error="invalid_dpop_proof", error_description="The DPoP proof was used before \(jti\)\.", algs="ES256 [^"]*"$/);
  });
});
