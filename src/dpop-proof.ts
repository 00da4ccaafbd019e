// A leaf that imports nothing from src/: our API (rp/bearer/dpop.ts) and the development provider
// (its userinfo and token exchange) check DPoP proofs the same way.
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, errors, jwtVerify, type JWK } from 'jose';

/**
 * What a DPoP proof (RFC 9449 §4.3) must match: the request it came with, as the server knows it
 * (the URL from its own configuration, never from the Host header).
 */
export interface DpopProofCheck {
  method: string;
  /** The request's URL; its query and fragment are ignored, as `htu` carries neither. */
  url: string;
  /** With an access token: base64url SHA-256 of it, which `ath` must be. Absent at a token endpoint. */
  accessTokenHash?: string;
  /** Signature algorithms accepted (asymmetric only). */
  algorithms: readonly string[];
  /** How far `iat` may be from now, either way (plus the clock tolerance). */
  maxAgeSeconds: number;
  clockToleranceSeconds: number;
}

/** A proof that passed: its key's RFC 7638 thumbprint, and what the caller checks itself (jti reuse, nonce). */
export interface DpopProof {
  jkt: string;
  jti: string;
  iat: number;
  nonce: unknown;
}

const MAX_PROOF_LENGTH = 4096;

/**
 * Checks one DPoP proof: a JWS of type dpop+jwt, signed with the public key in its own `jwk` header
 * (jose verifies it, and refuses a private or symmetric key there), `htm` and `htu` for this request,
 * `iat` within `maxAgeSeconds`, a `jti`, and `ath` when an access token goes with it. Returns the
 * proof, or why it was refused, in words fit for an error_description. Whether `jti` was seen before
 * and whether `nonce` is current are the caller's to check: where it keeps them differs.
 *
 * oauth4webapi's validateJwtAccessToken checks proofs too, but only together with an RFC 9068 JWT
 * access token (`typ` at+jwt, a `client_id`): Okta's tokens have neither, and introspected opaque
 * tokens are bound too (`cnf.jkt`), so the proof is checked here, apart from the token.
 *
 * @example
 * const proof = await verifyDpopProof(request.headers.dpop, { method: 'GET', url: `${appUrl}/api/me`,
 *   accessTokenHash: sha256Base64url(token), algorithms: ['ES256'], maxAgeSeconds: 60, clockToleranceSeconds: 5 });
 */
export async function verifyDpopProof(proof: string | undefined, check: DpopProofCheck): Promise<DpopProof | string> {
  if (proof === undefined || proof === '') return 'The request carries no DPoP proof (DPoP header).';
  if (proof.length > MAX_PROOF_LENGTH || proof.split('.').length !== 3) return 'The DPoP proof is not one compact JWS.';
  let payload: Record<string, unknown>;
  let jwk: JWK;
  try {
    const verified = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: [...check.algorithms],
      maxTokenAge: check.maxAgeSeconds,
      clockTolerance: check.clockToleranceSeconds,
      requiredClaims: ['jti', 'htm', 'htu', 'iat'],
    });
    payload = verified.payload;
    jwk = decodeProtectedHeader(proof).jwk as JWK;
  } catch (error) {
    if (error instanceof errors.JWTExpired || (error instanceof errors.JWTClaimValidationFailed && error.claim === 'iat')) {
      return 'The DPoP proof is too old, or dated in the future (iat).';
    }
    if (error instanceof errors.JOSEAlgNotAllowed) return 'The DPoP proof is signed with an algorithm not accepted here.';
    if (error instanceof errors.JWTClaimValidationFailed) return `The DPoP proof has a missing or invalid ${error.claim} claim.`;
    return 'The DPoP proof is invalid (its type, key or signature).';
  }
  if (payload['htm'] !== check.method) return 'The DPoP proof was made for another HTTP method (htm).';
  if (typeof payload['htu'] !== 'string' || withoutQuery(payload['htu']) !== withoutQuery(check.url)) return 'The DPoP proof was made for another URL (htu).';
  if (typeof payload['jti'] !== 'string' || payload['jti'] === '' || payload['jti'].length > 256) return 'The DPoP proof has a missing or invalid jti claim.';
  if (check.accessTokenHash !== undefined && payload['ath'] !== check.accessTokenHash) return 'The DPoP proof was made for another access token (ath).';
  return { jkt: await calculateJwkThumbprint(jwk), jti: payload['jti'], iat: payload['iat'] as number, nonce: payload['nonce'] };
}

/** RFC 9449 §4.3: htu is compared without query and fragment, after URL normalisation (RFC 3986 §6). */
function withoutQuery(url: string): string | undefined {
  const parsed = URL.parse(url);
  return parsed ? `${parsed.origin}${parsed.pathname}` : undefined;
}
