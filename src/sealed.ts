// A leaf that imports nothing from src/, so every layer may use it.
import { hkdfSync } from 'node:crypto';
import { CompactEncrypt, compactDecrypt } from 'jose';

/**
 * Seals short secrets kept in the database (a session's provider tokens, a TOTP secret, a DPoP key)
 * under a key derived from a server secret, so that someone who reads the table can neither read nor
 * alter them. The format is a compact JWE (RFC 7516) with `dir` and A256GCM, made and opened by jose:
 * a standard envelope, authenticated, with a fresh IV each time.
 *
 * Each use names its `purpose`: the key is HKDF-SHA256(secret, info = "oidc-connect sealed <purpose>"),
 * so a value sealed for one purpose never opens as another.
 *
 * @example
 * const box = sealer(config.sessionSecret, 'session tokens');
 * const stored = await box.seal(JSON.stringify(tokens));
 * const tokens = await box.open(stored); // undefined if tampered with, or sealed under another secret
 */
export interface Sealer {
  seal(plaintext: string): Promise<string>;
  /** The plaintext, or undefined when the value was not sealed by this secret and purpose, or was altered. */
  open(sealed: string): Promise<string | undefined>;
}

const HEADER = { alg: 'dir', enc: 'A256GCM' } as const;

export function sealer(secret: string, purpose: string): Sealer {
  if (typeof secret !== 'string' || secret.length === 0) throw new TypeError('sealer: secret must be a non-empty string');
  if (typeof purpose !== 'string' || purpose.length === 0) throw new TypeError('sealer: purpose must be a non-empty string');
  const key = new Uint8Array(hkdfSync('sha256', secret, '', `oidc-connect sealed ${purpose}`, 32));
  return {
    seal: (plaintext) => new CompactEncrypt(new TextEncoder().encode(plaintext)).setProtectedHeader(HEADER).encrypt(key),
    async open(sealed) {
      try {
        const { plaintext } = await compactDecrypt(sealed, key, { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] });
        return new TextDecoder().decode(plaintext);
      } catch {
        return undefined;
      }
    },
  };
}
