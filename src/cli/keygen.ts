import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { exportPKCS8, generateKeyPair } from 'jose';
import { readClientKeys } from '../config/client-keys.ts';
import { Problems } from '../config/parse.ts';
import { ConfigError } from '../errors.ts';
import { publishedKeys } from '../rp/client-auth.ts';

export const KEYGEN_ALGORITHMS = ['RS256', 'ES256'] as const;
export type KeygenAlgorithm = (typeof KEYGEN_ALGORITHMS)[number];

/** Where `keygen` writes when not told: ./data, which .gitignore keeps out of the repository. */
export const DEFAULT_KEY_FILE = 'data/client-key.pem';

/**
 * `oidc-connect keygen`: a key pair for private_key_jwt. The private key goes to a new PEM file (mode
 * 0600; an existing file is never overwritten); then it prints the file, the variables to set, and
 * the public key set to register at the provider, exactly as the app will serve it at
 * /.well-known/jwks.json (read back from the file as OIDC_RP_PRIVATE_KEY reads it).
 *
 * @example
 * await keygen({ cwd: process.cwd(), out: 'data/client-key.pem', alg: 'RS256', print: console.log });
 */
export async function keygen(options: { cwd: string; out: string; alg: string; print: (line: string) => void }): Promise<void> {
  const { cwd, print } = options;
  if (!(KEYGEN_ALGORITHMS as readonly string[]).includes(options.alg)) {
    throw new ConfigError([`--alg ${options.alg}: keygen makes ${KEYGEN_ALGORITHMS.join(' or ')} keys (an RSA key also signs PS256 where a provider asks for it)`]);
  }
  const file = resolve(cwd, options.out);
  const { privateKey } = await generateKeyPair(options.alg, { extractable: true, modulusLength: 2048 });
  const pem = await exportPKCS8(privateKey);
  try {
    mkdirSync(dirname(file)); // one level, as for ./data; a deeper missing path is reported below
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new ConfigError([`--out ${options.out}: cannot create ${dirname(file)} (${(error as Error).message})`]);
  }
  try {
    writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError([code === 'EEXIST'
      ? `${file} already exists, and keygen never overwrites a key: give another --out (to rotate, list the new file after the old one in OIDC_RP_PRIVATE_KEY, then first once the provider has it)`
      : `--out ${options.out}: cannot write ${file} (${(error as Error).message})`]);
  }

  const problems = new Problems();
  const shown = relative(cwd, file).startsWith('..') || isAbsolute(relative(cwd, file)) ? file : `./${relative(cwd, file)}`;
  const keys = readClientKeys(problems, 'OIDC_RP_PRIVATE_KEY', shown, cwd);
  if (problems.list.length > 0) throw new ConfigError(problems.list);
  const published = await publishedKeys(keys);

  print(`Wrote a new ${options.alg} private key to ${shown} (mode 0600). Keep it secret: never commit it or send it to anyone.`);
  print('');
  print('Set, in .env or the environment:');
  print('  OIDC_RP_TOKEN_AUTH_METHOD=private_key_jwt');
  print(`  OIDC_RP_PRIVATE_KEY=${shown}`);
  print('');
  print(`Register this public key (kid ${published[0]!.kid}) at the provider, or let it fetch $APP_URL/.well-known/jwks.json:`);
  print(JSON.stringify({ keys: published }, null, 2));
}
