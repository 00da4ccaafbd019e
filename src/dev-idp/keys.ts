import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { JWK } from 'jose';

import { ConfigError } from '../errors.ts';

export const KEYS_FILE = 'dev-idp-keys.json';

export interface ProviderKeys {
  /** Private JWKs, RS256 first: it is the default ID token algorithm, as at Okta. */
  signing: JWK[];
  /** Keys that sign oidc-provider's cookies; the newest first. */
  cookies: string[];
}

const ALGORITHMS = ['RS256', 'ES256'] as const;

async function generateSigningKey(alg: (typeof ALGORITHMS)[number]): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(privateKey);
  // The thumbprint as kid: stable for the key, and unique without a counter.
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg, use: 'sig' };
}

function parseKeys(text: string, path: string): ProviderKeys {
  const problem = `development provider keys file ${path} is damaged; delete it to generate new keys (tokens already issued will stop verifying)`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError([problem]);
  }
  const value = parsed as Partial<ProviderKeys> | null;
  const signingOk = Array.isArray(value?.signing) && value.signing.length > 0
    && value.signing.every((key) => typeof key === 'object' && key !== null && typeof key.kid === 'string' && typeof key.d === 'string');
  const cookiesOk = Array.isArray(value?.cookies) && value.cookies.length > 0
    && value.cookies.every((key) => typeof key === 'string' && key.length >= 32);
  if (!value || !signingOk || !cookiesOk) throw new ConfigError([problem]);
  return { signing: value.signing as JWK[], cookies: value.cookies as string[] };
}

/**
 * Loads the provider's keys from `dataDir`, creating them on first start. Reusing them across
 * restarts keeps the kid, so ID tokens, access tokens and cookies issued earlier stay valid.
 */
export async function loadOrCreateKeys(dataDir: string): Promise<ProviderKeys> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, KEYS_FILE);
  try {
    return parseKeys(await readFile(path, 'utf8'), path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }

  const keys: ProviderKeys = {
    signing: await Promise.all(ALGORITHMS.map(generateSigningKey)),
    cookies: [randomBytes(32).toString('base64url')],
  };
  // Write then rename, so a crash never leaves half a key file behind.
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, path);
  return keys;
}

/** Public halves only, for verifying what the provider signed. */
export function publicJwks(keys: ProviderKeys): { keys: JWK[] } {
  const publicMembers = ['kty', 'crv', 'x', 'y', 'n', 'e', 'kid', 'alg', 'use'] as const;
  return {
    keys: keys.signing.map((key) => Object.fromEntries(
      publicMembers.filter((member) => key[member] !== undefined).map((member) => [member, key[member]]),
    ) as JWK),
  };
}
