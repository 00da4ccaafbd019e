import { createHash } from 'node:crypto';
import type { UsernameAlgo } from '../config/index.ts';

/**
 * The username a new provider user gets before it is made unique. `sha224` follows the text of
 * mozilla-django-oidc's tutorial: unpadded base64url of SHA-224 of the email.
 * `mozilla-django-oidc` is what its code (`default_username_algo`) really does, byte for byte:
 * `urlsafe_b64encode(sha1(email.encode('utf-8'))).rstrip('=')`, the email as given.
 */
export function baseUsername(algo: UsernameAlgo, claims: { preferred_username?: unknown; email?: unknown; sub: string }): string {
  const email = typeof claims.email === 'string' ? claims.email : '';
  if (algo === 'sha224') {
    return createHash('sha224').update(email.normalize('NFKC')).digest('base64url');
  }
  if (algo === 'mozilla-django-oidc') return createHash('sha1').update(email, 'utf8').digest('base64url');
  const preferred = typeof claims.preferred_username === 'string' ? claims.preferred_username : '';
  // Django's username alphabet; anything else becomes '_'.
  const cleaned = (preferred || email || claims.sub).normalize('NFKC').replace(/[^\w.@+-]/g, '_').slice(0, 140);
  return cleaned || 'user';
}

/** Candidates in order: `alice`, `alice-2`, `alice-3`, … */
export function* usernameCandidates(base: string): Generator<string> {
  yield base;
  for (let n = 2; ; n++) yield `${base}-${n}`;
}
