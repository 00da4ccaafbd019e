/**
 * OIDC_RP_PRIVATE_KEY: the key file(s) the client signs its private_key_jwt assertions with, read and
 * checked once here, so that a missing, unreadable, public-only or unsupported key is one line naming
 * the variable. node:crypto parses the PEM or JWK (no hand-written parsing); the kid and the signing
 * algorithm are settled in rp/client-auth.ts, where the provider's metadata is known.
 */
import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Problems } from './parse.ts';
import type { ClientKey, ClientKeyAlgorithm } from './types.ts';

const ALGORITHMS: Readonly<Record<'RSA' | 'EC', readonly ClientKeyAlgorithm[]>> = { RSA: ['RS256', 'PS256'], EC: ['ES256'] };
const KEYGEN = 'create one with: npx oidc-connect keygen';

/**
 * The keys of a comma-separated list of files (relative to `cwd`), in order: the first signs, all
 * are published. Each bad file is one problem under `variable`; only good keys are returned.
 */
export function readClientKeys(problems: Problems, variable: string, raw: string, cwd: string): ClientKey[] {
  const keys: ClientKey[] = [];
  for (const entry of raw.split(',').map((part) => part.trim()).filter(Boolean)) {
    const file = resolve(cwd, entry);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      problems.add(variable, raw, `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); ${KEYGEN}`);
      continue;
    }
    const key = text.trimStart().startsWith('{') ? fromJwk(text) : fromPem(text);
    if (typeof key === 'string') problems.add(variable, raw, `${file} ${key}`);
    else keys.push({ file, ...key });
  }
  if (keys.length > 0 && new Set(keys.map((k) => k.jwk.n ?? k.jwk.x)).size !== keys.length) {
    problems.add(variable, raw, 'names the same key twice');
  }
  return keys;
}

/** A PEM private key (PKCS#8 or PKCS#1/SEC1), or why it can't be used. */
function fromPem(text: string): Omit<ClientKey, 'file'> | string {
  // PKCS#8's and the traditional form's markers of a key under a passphrase, which the app can't type in.
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text)) {
    return 'holds an encrypted key; give it unencrypted (openssl pkey -in key.pem -out plain.pem), readable by the app only';
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch {
    try {
      createPublicKey(text);
      return `holds a public key only; give the private key (${KEYGEN})`;
    } catch {
      return `is not a PEM private key (-----BEGIN PRIVATE KEY-----) or a JWK; ${KEYGEN}`;
    }
  }
  return checked(key, undefined, undefined);
}

/** A private JWK, with its kid and alg when it names them, or why it can't be used. */
function fromJwk(text: string): Omit<ClientKey, 'file'> | string {
  let jwk: JsonWebKey & { kid?: unknown; alg?: unknown; keys?: unknown };
  try {
    jwk = JSON.parse(text) as typeof jwk;
  } catch (error) {
    return `is not valid JSON (${(error as Error).message})`;
  }
  if (Array.isArray(jwk.keys)) return 'is a key set; give one JWK per file (several files, comma-separated, for rotation)';
  if (typeof jwk.d !== 'string') return `holds a public key only (no "d"); give the private JWK (${KEYGEN})`;
  if (jwk.kid !== undefined && (typeof jwk.kid !== 'string' || jwk.kid === '')) return 'has a "kid" that is not a non-empty string';
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: jwk, format: 'jwk' });
  } catch (error) {
    return `is not a usable private JWK (${(error as Error).message})`;
  }
  return checked(key, jwk.kid as string | undefined, jwk.alg);
}

/** RSA of 2048 bits or more, or EC on P-256: what RS256, PS256 and ES256 sign with. */
function checked(key: KeyObject, kid: string | undefined, alg: unknown): Omit<ClientKey, 'file'> | string {
  const details = key.asymmetricKeyDetails ?? {};
  let kty: 'RSA' | 'EC';
  if (key.asymmetricKeyType === 'rsa') {
    if ((details.modulusLength ?? 0) < 2048) return `holds an RSA key of ${details.modulusLength} bits; at least 2048 are needed`;
    kty = 'RSA';
  } else if (key.asymmetricKeyType === 'ec' && details.namedCurve === 'prime256v1') {
    kty = 'EC';
  } else {
    return `holds a key of type ${key.asymmetricKeyType}${details.namedCurve ? ` (${details.namedCurve})` : ''}, which can't sign RS256, PS256 or ES256; use an RSA (2048 bits or more) or EC P-256 key (${KEYGEN})`;
  }
  if (alg !== undefined && !ALGORITHMS[kty].includes(alg as ClientKeyAlgorithm)) {
    return `has "alg" ${String(alg)}, which does not fit its ${kty} key; use ${ALGORITHMS[kty].join(' or ')}`;
  }
  return {
    jwk: Object.freeze(key.export({ format: 'jwk' })),
    ...(kid !== undefined ? { kid } : {}),
    ...(alg !== undefined ? { alg: alg as ClientKeyAlgorithm } : {}),
  };
}
