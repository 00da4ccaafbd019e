/**
 * DPoP-bound access tokens at our API (RFC 9449 §7): a token bound to a key (`cnf.jkt`, in the JWT
 * or in the introspection answer of an opaque token) is taken only with the DPoP scheme and a proof
 * of that key made for this very request (method, URL from APP_URL, `ath` of this token), fresh
 * (`iat`), and never seen before by any instance (its `jti`, in the database). A bound token sent as
 * Bearer is refused (§7.1), and so is an unbound one sent as DPoP.
 */
import type { Db } from '../../db/index.ts';
import { sha256Base64url } from '../../digest.ts';
import { verifyDpopProof } from '../../dpop-proof.ts';
import { firstUseOfProof } from './dpop-replay.ts';
import { BearerError, DPOP_ALGORITHMS, type TokenScheme } from './parse.ts';
import type { BearerToken } from './token.ts';

/**
 * `allowed` (default): Bearer tokens, and DPoP-bound tokens with their proofs. `required`: only
 * DPoP-bound tokens.
 */
export type DpopMode = 'allowed' | 'required';
export const DPOP_MODES: readonly DpopMode[] = ['allowed', 'required'];

/** How far a proof's `iat` may be from now, either way (plus the clock tolerance); its jti is kept as long. */
export const PROOF_MAX_AGE_SECONDS = 60;

/** The request a proof must be made for, as the app knows it. */
export interface ProofRequest {
  method: string;
  /** Built from APP_URL and the request's path, never from the Host header. */
  url: string;
  /** The DPoP header, when there is (exactly) one. */
  proof: string | undefined;
}

/** The key a token is bound to: `cnf.jkt`. */
export function boundKey(token: BearerToken): string | undefined {
  const cnf = token.claims['cnf'];
  const jkt = cnf !== null && typeof cnf === 'object' ? (cnf as Record<string, unknown>)['jkt'] : undefined;
  return typeof jkt === 'string' ? jkt : undefined;
}

/** Throws BearerError unless the token came as its binding asks (see the module comment). */
export async function checkBinding(
  db: Db,
  token: BearerToken,
  credentials: { scheme: TokenScheme; token: string },
  request: ProofRequest | undefined,
  settings: { mode: DpopMode; clockToleranceSeconds: number },
): Promise<void> {
  const jkt = boundKey(token);
  if (credentials.scheme === 'Bearer') {
    if (jkt !== undefined) throw new BearerError('invalid_token', 'This access token is DPoP-bound: send it as Authorization: DPoP, with a DPoP proof.', { scheme: 'DPoP' });
    if (settings.mode === 'required') throw new BearerError('invalid_token', 'This API takes DPoP-bound access tokens only.', { scheme: 'DPoP' });
    return;
  }
  if (jkt === undefined) throw new BearerError('invalid_token', 'This access token is not DPoP-bound: send it as Authorization: Bearer.', { scheme: 'DPoP' });
  if (request === undefined) throw new BearerError('invalid_dpop_proof', 'This request can\'t be checked against a DPoP proof here.');
  const proof = await verifyDpopProof(request.proof, {
    method: request.method,
    url: request.url,
    accessTokenHash: sha256Base64url(credentials.token),
    algorithms: DPOP_ALGORITHMS,
    maxAgeSeconds: PROOF_MAX_AGE_SECONDS,
    clockToleranceSeconds: settings.clockToleranceSeconds,
  });
  if (typeof proof === 'string') throw new BearerError('invalid_dpop_proof', proof);
  if (proof.jkt !== jkt) throw new BearerError('invalid_dpop_proof', 'The DPoP proof is signed with another key than the one the access token is bound to (cnf.jkt).');
  const keptUntil = (proof.iat + PROOF_MAX_AGE_SECONDS + settings.clockToleranceSeconds) * 1000;
  if (!(await firstUseOfProof(db, jkt, proof.jti, keptUntil))) throw new BearerError('invalid_dpop_proof', 'The DPoP proof was used before (jti).');
}
