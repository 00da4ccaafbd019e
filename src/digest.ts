// A leaf that imports nothing from src/, so every layer (and dev-idp/) may use it.
import { hash } from 'node:crypto';

/**
 * Unpadded base64url of the SHA-256 of a string: how secrets are stored and looked up (session ids,
 * login states, token cache and replay keys) without keeping them, in a fixed width.
 */
export function sha256Base64url(value: string): string {
  // The one-shot crypto.hash: half the cost of a Hash object, and every request hashes its session cookie.
  return hash('sha256', value, 'base64url');
}
