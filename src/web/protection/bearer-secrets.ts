import { timingSafeEqual } from 'node:crypto';
import { sha256Base64url } from '../../digest.ts';

/**
 * Whether the Authorization header carries one of the secrets configured as `hashes` (SHA-256,
 * base64url: SCIM_TOKENS, METRICS_TOKEN), compared as hashes in constant time, against every one.
 *
 * @example
 * if (!carriesToken(request.headers.authorization, config.scim.tokenHashes)) return refuse(reply);
 */
export function carriesToken(authorization: string | undefined, hashes: readonly string[]): boolean {
  const match = /^\s*Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!match) return false;
  const presented = Buffer.from(sha256Base64url(match[1]!));
  let valid = false;
  for (const hash of hashes) valid = timingSafeEqual(presented, Buffer.from(hash)) || valid;
  return valid;
}
