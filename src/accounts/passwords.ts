import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { Problems } from '../config/parse.ts';
import { passwordHashCost } from '../config/password-hash-cost.ts';
import { isOidcConnectError } from '../errors.ts';
import { inSpan } from '../tracing.ts';
import { isDjangoHash, verifyDjangoPassword } from './django-hashers.ts';

/**
 * OWASP Password Storage Cheat Sheet: scrypt with N=2^17, r=8, p=1. PASSWORD_HASH_COST may lower N
 * outside production (tests); it is read from the process's environment once, here, because every
 * writer of a password (CLI, forms, SCIM, import) hashes through this module without a config at hand.
 * loadConfig checks the same variable with the same rule and refuses a bad value at start.
 */
const PARAMS = { N: 2 ** passwordHashCost(process.env, new Problems()), r: 8, p: 1 } as const;
const KEY_LENGTH = 32;

function derive(password: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/** `scrypt$N$r$p$salt$hash`, so parameters can be raised later without breaking old hashes. */
export function hashPassword(password: string): Promise<string> {
  return inSpan('oidc_connect.password.hash', { attributes: { 'oidc_connect.password.scheme': 'scrypt' } }, async () => {
    const salt = randomBytes(16);
    const key = await derive(password, salt, PARAMS);
    return ['scrypt', PARAMS.N, PARAMS.r, PARAMS.p, salt.toString('base64url'), key.toString('base64url')].join('$');
  });
}

/** Our code on a span that failed (PASSWORD_HASH_REFUSED), for src/tracing.ts. */
const codeOf = (error: unknown): string | undefined => (isOidcConnectError(error) ? error.code : undefined);

/**
 * True when `password` matches `stored`: this app's `scrypt$…` hash or an imported `django$…` one.
 * An imported hash that asks for more work than any Django release used is refused unchecked, after
 * as long as a real check takes (so a guesser learns nothing from the time): it throws
 * PASSWORD_HASH_REFUSED, which a login form answers as a wrong password.
 *
 * @example
 *   if (await verifyPassword(form.password, user.password)) { … }
 */
export function verifyPassword(password: string, stored: string): Promise<boolean> {
  const scheme = isDjangoHash(stored) ? 'django' : 'scrypt';
  return inSpan('oidc_connect.password.verify', { attributes: { 'oidc_connect.password.scheme': scheme }, codeOf }, () => verify(password, stored));
}

async function verify(password: string, stored: string): Promise<boolean> {
  if (isDjangoHash(stored)) {
    try {
      return await verifyDjangoPassword(password, stored);
    } catch (error) {
      if (isOidcConnectError(error) && error.code === 'PASSWORD_HASH_REFUSED') await verifyAgainstDummy(password);
      throw error;
    }
  }
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !n || !r || !p || salt === undefined || hash === undefined) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await derive(password, Buffer.from(salt, 'base64url'), { N: Number(n), r: Number(r), p: Number(p) });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Spends the same time as a real check, so an unknown username can't be told apart by timing. */
let dummyHash: Promise<string> | undefined;
export async function verifyAgainstDummy(password: string): Promise<false> {
  dummyHash ??= hashPassword('dummy password for timing');
  await verifyPassword(password, await dummyHash);
  return false;
}
