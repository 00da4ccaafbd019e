/**
 * JWT access tokens (RFC 9068, Okta's default authorization server), verified locally with jose
 * against the provider's one cached JWKS: an asymmetric signature (never `none` or an HMAC), `iss` =
 * a configured provider's issuer, `aud` includes `OIDC_API_AUDIENCE`, `exp` and `nbf` with the clock
 * tolerance, `iat` not in the future, `typ` at+jwt or JWT (or none, as Okta sends), and a `sub`. An
 * unknown `kid` re-fetches the JWKS at most once per cooldown (src/rp/jwks.ts).
 */
import * as jose from 'jose';
import type { Config } from '../../config/index.ts';
import { OidcConnectError } from '../../errors.ts';
import { ASYMMETRIC_ALGORITHMS } from '../../config/algorithms.ts';
import { toJwtFailure, type JwtRefusal } from '../errors.ts';
import { sameIssuer } from '../issuer.ts';
import type { ProviderClient } from '../provider.ts';
import { BearerError } from './parse.ts';
import { clientIdOf, expiresAtOf, scopesOf, type BearerToken } from './token.ts';

/** A compact JWS; the signature is empty for `alg: none`, which must still be refused as a JWT. */
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Whether a token is a JWT (checked here) rather than an opaque token (asked of the provider). */
export function isJwt(token: string): boolean {
  return JWS_COMPACT.test(token);
}

const CLAIM_REFUSALS: Readonly<Record<string, string>> = {
  aud: 'The access token is not meant for this API (aud).',
  iss: 'The access token was issued by another issuer (iss).',
  nbf: 'The access token is not valid yet (nbf).',
};

function refusalMessage(refusal: JwtRefusal): string {
  switch (refusal.reason) {
    case 'claim': return CLAIM_REFUSALS[refusal.claim] ?? `The access token has a missing or invalid ${refusal.claim} claim.`;
    case 'expired': return 'The access token has expired.';
    case 'signature': return 'The access token signature is invalid.';
    case 'unknown-key': return 'The access token is signed with an unknown key.';
    case 'ambiguous-key': return 'The access token does not say which key signed it (kid).';
    case 'algorithm': return 'The access token signing algorithm is not allowed.';
    case 'malformed': return 'The access token is malformed.';
  }
}

/**
 * Verifies a JWT access token issued by one of `providers`. Throws BearerError invalid_token when it
 * is refused, or an OidcConnectError PROVIDER_* when the provider's keys could not be had.
 */
export async function verifyJwtAccessToken(
  token: string,
  providers: readonly ProviderClient[],
  config: Pick<Config, 'apiAudience' | 'clockToleranceSeconds'>,
): Promise<BearerToken> {
  let header: jose.ProtectedHeaderParameters;
  let unverified: jose.JWTPayload;
  try {
    header = jose.decodeProtectedHeader(token);
    unverified = jose.decodeJwt(token);
  } catch {
    throw new BearerError('invalid_token', 'The access token is malformed.');
  }
  // RFC 9068 says at+jwt; Okta sends no typ. Other JWTs (logout tokens, ID tokens with typ, DPoP
  // proofs…) are not access tokens.
  const typ = typeof header.typ === 'string' ? header.typ.toLowerCase().replace(/^application\//, '') : undefined;
  if (header.typ !== undefined && typ !== 'at+jwt' && typ !== 'jwt') {
    throw new BearerError('invalid_token', 'The token is not an access token (typ).');
  }
  const iss = unverified.iss;
  const provider = typeof iss === 'string' ? providers.find((p) => sameIssuer(p.config.issuer, iss)) : undefined;
  if (!provider) throw new BearerError('invalid_token', 'The access token was issued by an unknown issuer (iss).');

  const { issuer, keys } = await provider.accessTokenKeys();
  let payload: jose.JWTPayload;
  try {
    ({ payload } = await jose.jwtVerify(token, keys, {
      issuer,
      audience: config.apiAudience,
      algorithms: [...ASYMMETRIC_ALGORITHMS],
      clockTolerance: config.clockToleranceSeconds,
      requiredClaims: ['exp', 'sub'],
    }));
  } catch (error) {
    const failure = toJwtFailure(error, provider.config.name);
    throw failure instanceof OidcConnectError ? failure : new BearerError('invalid_token', refusalMessage(failure), { cause: error });
  }
  // jose checks iat only with maxTokenAge; a token "issued" in the future is refused here.
  if (typeof payload.iat === 'number' && payload.iat > Date.now() / 1000 + config.clockToleranceSeconds) {
    throw new BearerError('invalid_token', 'The access token was issued in the future (iat).');
  }
  if (typeof payload.sub !== 'string' || payload.sub === '') {
    throw new BearerError('invalid_token', 'The access token has a missing or invalid sub claim.');
  }
  return {
    verifiedBy: 'jwt',
    provider: provider.config.id,
    issuer: provider.config.issuer,
    subject: payload.sub,
    clientId: clientIdOf(payload),
    scopes: scopesOf(payload),
    expiresAt: expiresAtOf(payload),
    claims: payload,
  };
}
