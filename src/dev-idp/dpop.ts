import { randomBytes } from 'node:crypto';

import { sha256Base64url } from '../digest.ts';
import { verifyDpopProof } from '../dpop-proof.ts';

/** How long a nonce we hand out stays good; the one before is still taken, so a retry never misses. */
const NONCE_LIFETIME_MS = 5 * 60 * 1000;
/** How far a proof's iat may be from now, as oidc-provider's own endpoints allow. */
const MAX_AGE_SECONDS = 300;
const ALGORITHMS = ['ES256', 'Ed25519', 'EdDSA', 'PS256', 'RS256'];

export type ProofOutcome =
  | { ok: true; jkt: string }
  /** `nonce`: the client must send the proof again with this nonce (RFC 9449 §8, §9). */
  | { ok: false; description: string; nonce?: string };

/**
 * DPoP where the development provider answers by itself (its userinfo for JWT access tokens, and
 * token exchange), as oidc-provider does at its own endpoints: proofs checked with the shared
 * verifier (src/dpop-proof.ts), a jti taken only once, and a server nonce required, as Okta does.
 * Development only: what it remembers lives in this process.
 */
export class DevDpop {
  #nonces = [randomBytes(16).toString('base64url'), randomBytes(16).toString('base64url')];
  #rotated = Date.now();
  readonly #seen = new Map<string, number>();

  /** The nonce to hand out now. */
  nonce(): string {
    if (Date.now() - this.#rotated > NONCE_LIFETIME_MS) {
      this.#nonces = [randomBytes(16).toString('base64url'), this.#nonces[0]!];
      this.#rotated = Date.now();
    }
    return this.#nonces[0]!;
  }

  /**
   * Checks the DPoP header of a request to `url`; with `accessToken`, its `ath` too. `nonce`: a nonce
   * of ours is required (userinfo); token exchange takes none, as the nonces of oidc-provider's
   * token endpoint, on the same origin, are not ours to check.
   */
  async check(proof: string | undefined, request: { method: string; url: string; accessToken?: string; nonce: boolean }): Promise<ProofOutcome> {
    const verified = await verifyDpopProof(proof, {
      method: request.method, url: request.url, algorithms: ALGORITHMS, maxAgeSeconds: MAX_AGE_SECONDS, clockToleranceSeconds: 5,
      ...(request.accessToken !== undefined ? { accessTokenHash: sha256Base64url(request.accessToken) } : {}),
    });
    if (typeof verified === 'string') return { ok: false, description: verified };
    const current = this.nonce();
    if (request.nonce && (typeof verified.nonce !== 'string' || !this.#nonces.includes(verified.nonce))) {
      return { ok: false, description: 'Use the DPoP nonce this server gave (DPoP-Nonce).', nonce: current };
    }
    const now = Date.now();
    for (const [key, expires] of this.#seen) if (expires < now) this.#seen.delete(key);
    const key = `${verified.jkt}\n${verified.jti}`;
    if (this.#seen.has(key)) return { ok: false, description: 'The DPoP proof was used before (jti).' };
    this.#seen.set(key, now + 2 * MAX_AGE_SECONDS * 1000);
    return { ok: true, jkt: verified.jkt };
  }
}
